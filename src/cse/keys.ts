// Master keys: the keys that wrap per-object data keys. They never leave the client. Each kind is a keyring
// in keyrings/ (an RSA key pair or public key, a raw AES-256 key, a KMS key); this module loads them.
import { readFile } from 'node:fs/promises';
import { CseError } from './errors.ts';
import { KEYRING_KINDS } from './keyrings/index.ts';
import type { Keyring, KeyLoadOptions, MaterialDescription } from './keyrings/keyring.ts';
import type { RsaKeyring } from './keyrings/rsa.ts';
import type { AesKeyring } from './keyrings/aes.ts';
import type { KmsKeyring } from './keyrings/kms.ts';

export { rsaKey } from './keyrings/rsa.ts';
export { aesKey, parseAesKeyFile } from './keyrings/aes.ts';
export { kmsKey } from './keyrings/kms.ts';
export type { MaterialDescription, KeyOptions } from './keyrings/keyring.ts';

export type MasterKey = Keyring;
export type RsaMasterKey = RsaKeyring;
export type AesMasterKey = AesKeyring;
export type KmsMasterKey = KmsKeyring;

/** Reads `FILE` (RSA PEM, private or public, or an AES key file) or `kms:KEY`. */
export async function loadMasterKey(spec: string, opts: KeyLoadOptions = {}): Promise<MasterKey> {
  for (const kind of KEYRING_KINDS) {
    const k = kind.fromSpec?.(spec, opts);
    if (k) return k;
  }
  let data: Buffer;
  try {
    data = await readFile(spec);
  } catch (e) {
    throw new CseError('BadKey', `cannot read key file ${spec}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  for (const kind of KEYRING_KINDS) {
    const k = kind.fromFile?.(data, spec, opts);
    if (k) return k;
  }
  throw new CseError('BadKey', `${spec}: neither an RSA PEM key nor a 256-bit AES key (32 bytes, base64 or hex)`);
}

/** Stable identifier of a key for default ESDK key names: never reveals key material. */
export function keyFingerprint(key: MasterKey): string {
  return key.fingerprint();
}

/** Parses a stored JSON material description; anything but a flat string map is tampering or a foreign format. */
export function parseDescription(json: string | undefined): MaterialDescription {
  if (json === undefined || json === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new CseError('IntegrityError', 'material description is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CseError('IntegrityError', 'material description is not a JSON object');
  const out: MaterialDescription = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k] = typeof val === 'string' ? val : JSON.stringify(val);
  return out;
}
