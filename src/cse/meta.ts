// Reading and writing metadata values: malformed values are tampering (or a foreign format), never a crash.
import { CseError } from './errors.ts';

export const b64 = (b: Buffer) => b.toString('base64');

export function unb64(s: string | undefined, what: string): Buffer {
  if (s === undefined) throw new CseError('IntegrityError', `missing ${what} in the object metadata`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new CseError('IntegrityError', `${what} is not base64`);
  return Buffer.from(s, 'base64');
}

export function intMeta(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d{1,16}$/.test(s)) throw new CseError('IntegrityError', `${what} is not a number`);
  return Number(s);
}

/** A stated size for `head`: undefined when absent or not a number (describing never fails). */
export const statedSize = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
