// Master keys: the keys that wrap per-object data keys. They never leave the client.
// An RSA key pair (either half is enough for the direction it serves), a raw AES-256 key,
// or a KMS key used through @aws-sdk/client-kms (Kura's KMS or AWS KMS).
import { createHash, createPrivateKey, createPublicKey, constants, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KMS } from '@aws-sdk/client-kms';
import { CseError } from './errors.ts';

/** A material description: string pairs stored with the object; decryption picks the key with the same one. */
export type MaterialDescription = Record<string, string>;

interface MasterKeyBase {
  /** Stored with the object (S3EC / OSS / Kura formats) and used to pick this key on decryption. */
  description: MaterialDescription;
  /** ESDK raw keyrings: provider id and key name. Undefined: a stable default when writing, and on
   *  reading the ones stored in the message are accepted for this key. */
  keyNamespace?: string;
  keyName?: string;
  /** Where the key came from (file name or kms:ID), for messages. Never key material. */
  label: string;
}
export interface RsaMasterKey extends MasterKeyBase { kind: 'rsa'; publicKey?: KeyObject; privateKey?: KeyObject }
export interface AesMasterKey extends MasterKeyBase { kind: 'aes'; key: Buffer }
export interface KmsMasterKey extends MasterKeyBase { kind: 'kms'; keyId: string; kms: KMS }
export type MasterKey = RsaMasterKey | AesMasterKey | KmsMasterKey;

export interface KeyOptions {
  description?: MaterialDescription;
  keyNamespace?: string;
  keyName?: string;
}

export function rsaKey(pem: string | Buffer, opts: KeyOptions & { label?: string } = {}): RsaMasterKey {
  const text = pem.toString();
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  try {
    if (/PRIVATE KEY-----/.test(text)) {
      privateKey = createPrivateKey(text);
      publicKey = createPublicKey(privateKey);
    } else {
      publicKey = createPublicKey(text);
    }
  } catch (e) {
    throw new CseError('BadKey', `${opts.label ?? 'key'}: not a readable PEM key`, { cause: e });
  }
  if (publicKey.asymmetricKeyType !== 'rsa') throw new CseError('BadKey', `${opts.label ?? 'key'}: not an RSA key`);
  return { kind: 'rsa', publicKey, privateKey, description: opts.description ?? {}, keyNamespace: opts.keyNamespace, keyName: opts.keyName, label: opts.label ?? 'rsa key' };
}

export function aesKey(key: Buffer, opts: KeyOptions & { label?: string } = {}): AesMasterKey {
  if (key.length !== 32) throw new CseError('BadKey', `${opts.label ?? 'key'}: an AES master key must be 256 bits`);
  return { kind: 'aes', key, description: opts.description ?? {}, keyNamespace: opts.keyNamespace, keyName: opts.keyName, label: opts.label ?? 'aes key' };
}

export function kmsKey(keyId: string, kms: KMS, opts: KeyOptions = {}): KmsMasterKey {
  return { kind: 'kms', keyId, kms, description: opts.description ?? {}, keyNamespace: opts.keyNamespace, keyName: opts.keyName, label: `kms:${keyId}` };
}

/** A 256-bit key file: 32 raw bytes, or its base64 or hex text (what `kura keygen aes` writes). */
export function parseAesKeyFile(data: Buffer): Buffer | undefined {
  if (data.length === 32) return data;
  const text = data.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  return undefined;
}

/** Reads `FILE` (RSA PEM, private or public, or an AES key file) or `kms:KEY`. */
export async function loadMasterKey(spec: string, opts: KeyOptions & { kms?: () => KMS } = {}): Promise<MasterKey> {
  if (spec.startsWith('kms:')) {
    if (!opts.kms) throw new CseError('BadArgument', 'a kms: key needs a KMS client');
    return kmsKey(spec.slice(4), opts.kms(), opts);
  }
  let data: Buffer;
  try {
    data = await readFile(spec);
  } catch (e) {
    throw new CseError('BadKey', `cannot read key file ${spec}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (data.includes('-----BEGIN')) return rsaKey(data, { ...opts, label: spec });
  const aes = parseAesKeyFile(data);
  if (!aes) throw new CseError('BadKey', `${spec}: neither an RSA PEM key nor a 256-bit AES key (32 bytes, base64 or hex)`);
  return aesKey(aes, { ...opts, label: spec });
}

/** Stable identifier of a key for default ESDK key names: never reveals key material. */
export function keyFingerprint(key: MasterKey): string {
  const h = createHash('sha256');
  if (key.kind === 'rsa') h.update(key.publicKey!.export({ type: 'spki', format: 'der' }));
  else if (key.kind === 'aes') h.update('kura-aes-key-id\0').update(key.key);
  else h.update(key.keyId);
  return h.digest('hex').slice(0, 16);
}

export function sameDescription(a: MaterialDescription, b: MaterialDescription): boolean {
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && b[k] === a[k]);
}

/** Parses a stored JSON material description; anything but a flat string map is tampering or a foreign format. */
export function parseDescription(json: string | undefined): MaterialDescription {
  if (json === undefined || json === '') return {};
  let v: unknown;
  try { v = JSON.parse(json); } catch { throw new CseError('IntegrityError', 'material description is not valid JSON'); }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CseError('IntegrityError', 'material description is not a JSON object');
  const out: MaterialDescription = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k] = typeof val === 'string' ? val : JSON.stringify(val);
  return out;
}

/**
 * The keys that may decrypt an object with description `desc`, in the caller's order: exact matches first.
 * When none matches the error names the description the object needs.
 */
export function keysFor<K extends MasterKey>(keys: MasterKey[], desc: MaterialDescription, accepts: (k: MasterKey) => k is K): K[] {
  const usable = keys.filter(accepts);
  const exact = usable.filter((k) => sameDescription(k.description, desc));
  if (exact.length) return exact;
  throw new CseError('NoMatchingKey', `no supplied key matches this object's material description ${JSON.stringify(desc)}` +
    (usable.length ? ` (supplied: ${usable.map((k) => `${k.label} ${JSON.stringify(k.description)}`).join(', ')})` : ''));
}

// --- RSA primitives (OpenSSL via node:crypto) ---------------------------------------------------

export function rsaOaepEncrypt(key: KeyObject, data: Buffer, hash: 'sha1' | 'sha256', label?: Buffer): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: label }, data);
}
export function rsaOaepDecrypt(key: KeyObject, data: Buffer, hash: 'sha1' | 'sha256', label?: Buffer): Buffer {
  return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: label }, data);
}
export function rsaPkcs1Encrypt(key: KeyObject, data: Buffer): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data);
}
/**
 * PKCS#1 v1.5 decryption, needed to read OSS objects (RSA/NONE/PKCS1Padding). Node 20 refuses this
 * padding for private decryption (CVE-2023-46809), so the raw RSA operation is done by OpenSSL and
 * only the EME-PKCS1-v1_5 unpadding is here; every failure gives the same error.
 */
export function rsaPkcs1Decrypt(key: KeyObject, data: Buffer): Buffer {
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, data);
  let sep = -1;
  let bad = em[0] !== 0 || em[1] !== 2 ? 1 : 0;
  for (let i = 2; i < em.length; i++) if (em[i] === 0 && sep < 0) sep = i;
  if (sep < 10) bad = 1; // at least 8 bytes of non-zero padding
  if (bad) throw new CseError('IntegrityError', 'RSA unwrap failed');
  return em.subarray(sep + 1);
}
