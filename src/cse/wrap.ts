// Data-key wrapping shared by the metadata formats (S3EC v2, OSS, Kura): generating a data key under a
// master key and getting it back. Each format names the algorithms its way; this module does the work.
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { CseError } from './errors.ts';
import type { KmsMasterKey, MasterKey } from './keys.ts';

/** AES-256-GCM key wrap as the S3 Encryption Client's AES/GCM: 12-byte IV ‖ ciphertext ‖ tag, with AAD. */
export function aesGcmWrap(kek: Buffer, dataKey: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv) as CipherGCM;
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(dataKey), c.final()]);
  return Buffer.concat([iv, ct, c.getAuthTag()]);
}

export function aesGcmUnwrap(kek: Buffer, wrapped: Buffer, aad: Buffer): Buffer {
  if (wrapped.length < 12 + 16 + 1) throw new CseError('IntegrityError', 'wrapped data key too short');
  try {
    const d = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, 12)) as DecipherGCM;
    d.setAAD(aad);
    d.setAuthTag(wrapped.subarray(wrapped.length - 16));
    return Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);
  } catch (e) {
    throw new CseError('IntegrityError', 'AES key unwrap failed (wrong key, or the metadata was altered)', { cause: e });
  }
}

export async function kmsGenerateDataKey(key: KmsMasterKey, context: Record<string, string>): Promise<{ dataKey: Buffer; wrapped: Buffer; keyArn?: string }> {
  const r = await key.kms.generateDataKey({ KeyId: key.keyId, KeySpec: 'AES_256', EncryptionContext: context });
  if (!r.Plaintext || !r.CiphertextBlob) throw new CseError('IntegrityError', 'KMS GenerateDataKey returned no key');
  return { dataKey: Buffer.from(r.Plaintext), wrapped: Buffer.from(r.CiphertextBlob), keyArn: r.KeyId };
}

export async function kmsEncrypt(key: KmsMasterKey, plaintext: Buffer, context?: Record<string, string>): Promise<Buffer> {
  const r = await key.kms.encrypt({ KeyId: key.keyId, Plaintext: plaintext, EncryptionContext: context });
  if (!r.CiphertextBlob) throw new CseError('IntegrityError', 'KMS Encrypt returned nothing');
  return Buffer.from(r.CiphertextBlob);
}

/** Tries the KMS keys in order; an error other than "not this key" from the last one is reported. */
export async function kmsDecrypt(keys: KmsMasterKey[], blob: Buffer, context?: Record<string, string>): Promise<Buffer> {
  if (!keys.length) throw new CseError('NoMatchingKey', 'this object\'s data key is wrapped by KMS; supply --cse-key kms:KEY');
  let last: unknown;
  for (const key of keys) {
    try {
      const r = await key.kms.decrypt({ KeyId: key.keyId, CiphertextBlob: blob, EncryptionContext: context });
      if (r.Plaintext) return Buffer.from(r.Plaintext);
    } catch (e) {
      last = e;
    }
  }
  const name = (last as { name?: string } | undefined)?.name ?? 'error';
  if (name === 'InvalidCiphertextException') throw new CseError('IntegrityError', 'KMS refused the wrapped data key or its context: the metadata was altered', { cause: last });
  throw new CseError('NoMatchingKey', `KMS could not decrypt the data key with ${keys.map((k) => k.label).join(', ')} (${name})`, { cause: last });
}

/** Runs `attempt` with each candidate until one succeeds; reports the last failure. */
export async function firstThatWorks<K extends MasterKey, T>(keys: K[], attempt: (k: K) => T | Promise<T>, what: string): Promise<T> {
  let last: unknown;
  for (const k of keys) {
    try { return await attempt(k); } catch (e) { last = e; }
  }
  throw new CseError('IntegrityError', `${what}: no supplied key unwraps the data key (wrong key, or the metadata was altered)`, { cause: last });
}

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
