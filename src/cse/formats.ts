// One entry point over the four formats: make an encryptor for a chosen format, recognise a stored
// object's format from its metadata (or, for ESDK, its first bytes) and open it for reading.
// The ESDK (@aws-crypto/client-node, a large module tree) is loaded only when an ESDK message is met.
import { CseError } from './errors.ts';
import type { MasterKey } from './keys.ts';
import type { CseDescription, CseFormat, EncryptOptions, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { looksLikeEsdk } from './esdk-detect.ts';
import { isS3ec, s3ecDecryptor, s3ecDescribe, s3ecEncryptor, s3ecResume } from './s3ec.ts';
import { isOss, ossDecryptor, ossDescribe, ossEncryptor, ossResume } from './oss.ts';
import { isKura, kuraDecryptor, kuraDescribe, kuraEncryptor, kuraResume } from './kura.ts';

export async function createObjectEncryptor(format: CseFormat, key: MasterKey, opts: EncryptOptions = {}): Promise<ObjectEncryptor> {
  if (key.kind === 'rsa' && !key.publicKey) throw new CseError('BadArgument', `${key.label}: encrypting needs the public key`);
  switch (format) {
    case 'esdk': {
      const { createEsdkEncryptStream } = await import('./esdk.ts');
      return { format, metadata: {}, cipherSize: () => undefined, stream: () => createEsdkEncryptStream(key) };
    }
    case 's3ec': return s3ecEncryptor(key, opts);
    case 'oss': return ossEncryptor(key, opts);
    case 'kura': return kuraEncryptor(key, opts);
  }
}

/** Format named by the object's metadata; undefined when the metadata names none (ESDK body, or plaintext). */
export function metadataFormat(meta: UserMetadata): CseFormat | undefined {
  if (isS3ec(meta)) return 's3ec';
  if (isOss(meta)) return 'oss';
  if (isKura(meta)) return 'kura';
  return undefined;
}

/** Rebuilds the encryptor of an interrupted upload from its stored metadata (needs a key that unwraps it). */
export async function resumeObjectEncryptor(meta: UserMetadata, keys: MasterKey[]): Promise<ObjectEncryptor> {
  switch (metadataFormat(meta)) {
    case 's3ec': return s3ecResume(meta, keys);
    case 'oss': return ossResume(meta, keys);
    case 'kura': return kuraResume(meta, keys);
    default: throw new CseError('BadArgument', 'this format cannot resume an interrupted upload');
  }
}

export async function openObjectDecryptor(format: CseFormat, meta: UserMetadata, keys: MasterKey[], storedSize: number): Promise<ObjectDecryptor> {
  switch (format) {
    case 'esdk': {
      const { createEsdkDecryptStream } = await import('./esdk.ts');
      return { format, stream: () => createEsdkDecryptStream(keys) };
    }
    case 's3ec': return s3ecDecryptor(meta, keys, storedSize);
    case 'oss': return ossDecryptor(meta, keys, storedSize);
    case 'kura': return kuraDecryptor(meta, keys, storedSize);
  }
}

/** For `head`: the format and key description; `body` is the object's first bytes when the metadata names no format. */
export async function describeObject(meta: UserMetadata, body?: Uint8Array): Promise<CseDescription | undefined> {
  switch (metadataFormat(meta)) {
    case 's3ec': return s3ecDescribe(meta);
    case 'oss': return ossDescribe(meta);
    case 'kura': return kuraDescribe(meta);
  }
  if (body && looksLikeEsdk(body)) {
    const { parseEsdkHeader } = await import('./esdk.ts');
    const h = parseEsdkHeader(body);
    return {
      format: 'esdk',
      algorithm: h ? `ESDK message v${h.version}, suite 0x${h.suiteId.toString(16).padStart(4, '0')}` : 'ESDK message',
      keys: h ? h.dataKeys.join('; ') : '(header longer than the bytes read)',
    };
  }
  return undefined;
}

export { looksLikeEsdk };
