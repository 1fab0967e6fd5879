// Object version ids. 'null' is the null version (written while a bucket was unversioned or suspended).
// Other ids are 32 lower-case hex characters: 16 of (2^64 − 1 − a strictly increasing microsecond clock)
// then 16 random. So the versions of one key, newest first, are in ascending id order, and a listing can
// resume after a version id marker even when that version was deleted in between.
import { randomBytes } from 'node:crypto';

export const NULL_VERSION = 'null';

const MAX = 0xffff_ffff_ffff_ffffn;
const ID = /^[0-9a-f]{32}$/;
let lastMicros = 0n;

export function newVersionId(): string {
  let t = BigInt(Date.now()) * 1000n;
  if (t <= lastMicros) t = lastMicros + 1n;
  lastMicros = t;
  return (MAX - t).toString(16).padStart(16, '0') + randomBytes(8).toString('hex');
}

/** A syntactically valid version id ('null' or one this store issues). */
export function isValidVersionId(v: string): boolean {
  return v === NULL_VERSION || ID.test(v);
}
