// Format 2: the Amazon S3 Encryption Client v2 metadata format (Java v2/v3, Go s3crypto v2, Ruby, .NET).
// Sources: aws/amazon-s3-encryption-client-java materials/RsaKeyring.java, AesKeyring.java, KmsKeyring.java,
// internal/ObjectMetadataEncodingStrategy.java, internal/RangedGetUtils.java; aws/aws-sdk-go service/s3/s3crypto
// envelope.go. Details in docs/CSE-FORMATS.md.
import { randomBytes } from 'node:crypto';
import { CseError } from './errors.ts';
import { keysFor, parseDescription, rsaOaepDecrypt, rsaOaepEncrypt, type AesMasterKey, type KmsMasterKey, type MasterKey, type RsaMasterKey } from './keys.ts';
import type { CseDescription, EncryptOptions, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { ctrTransform, gcmDecryptTransform, gcmEncryptTransform, sliceTransform, checkPlaintext } from './streams.ts';
import { aesGcmUnwrap, aesGcmWrap, b64, firstThatWorks, intMeta, kmsDecrypt, kmsGenerateDataKey, unb64 } from './wrap.ts';
import { pipelineDuplex } from './pipe.ts';

export const S3EC = {
  key: 'x-amz-key-v2',
  keyV1: 'x-amz-key',
  iv: 'x-amz-iv',
  cekAlg: 'x-amz-cek-alg',
  wrapAlg: 'x-amz-wrap-alg',
  matdesc: 'x-amz-matdesc',
  tagLen: 'x-amz-tag-len',
  plainLen: 'x-amz-unencrypted-content-length',
} as const;
const CEK_GCM = 'AES/GCM/NoPadding';
const WRAP_RSA = 'RSA-OAEP-SHA1';
const WRAP_AES = 'AES/GCM';
const WRAP_KMS = 'kms+context';
const KMS_CEK_CONTEXT = 'aws:x-amz-cek-alg';

export const isS3ec = (m: UserMetadata) => m[S3EC.key] !== undefined || m[S3EC.keyV1] !== undefined;

async function newDataKey(key: MasterKey): Promise<{ dataKey: Buffer; wrapped: Buffer; wrapAlg: string; matdesc: Record<string, string> }> {
  if (key.kind === 'kms') {
    if (KMS_CEK_CONTEXT in key.description) throw new CseError('BadArgument', `${KMS_CEK_CONTEXT} is reserved in the encryption context`);
    const context = { ...key.description, [KMS_CEK_CONTEXT]: CEK_GCM };
    const { dataKey, wrapped } = await kmsGenerateDataKey(key, context);
    return { dataKey, wrapped, wrapAlg: WRAP_KMS, matdesc: context };
  }
  const dataKey = randomBytes(32);
  if (key.kind === 'aes') return { dataKey, wrapped: aesGcmWrap(key.key, dataKey, Buffer.from(CEK_GCM)), wrapAlg: WRAP_AES, matdesc: key.description };
  // RSA-OAEP-SHA1 wraps a "pseudo data key": key length (1 byte) ‖ data key ‖ content cipher name.
  const pseudo = Buffer.concat([Buffer.from([dataKey.length]), dataKey, Buffer.from(CEK_GCM)]);
  return { dataKey, wrapped: rsaOaepEncrypt(key.publicKey!, pseudo, 'sha1'), wrapAlg: WRAP_RSA, matdesc: key.description };
}

async function unwrapDataKey(meta: UserMetadata, keys: MasterKey[]): Promise<Buffer> {
  if (meta[S3EC.key] === undefined) throw new CseError('UnsupportedFormat', 'S3 Encryption Client v1 objects (x-amz-key) are not supported; re-encrypt them with a v2 client');
  const cek = meta[S3EC.cekAlg];
  if (cek !== CEK_GCM) throw new CseError('UnsupportedFormat', `unsupported content cipher ${JSON.stringify(cek)} (only ${CEK_GCM})`);
  if (meta[S3EC.tagLen] !== '128') throw new CseError('UnsupportedFormat', `unsupported tag length ${JSON.stringify(meta[S3EC.tagLen])}`);
  const wrapped = unb64(meta[S3EC.key], S3EC.key);
  const desc = parseDescription(meta[S3EC.matdesc]);
  const wrapAlg = meta[S3EC.wrapAlg];
  let dataKey: Buffer;
  switch (wrapAlg) {
    case WRAP_KMS: {
      if (desc[KMS_CEK_CONTEXT] !== cek) throw new CseError('IntegrityError', 'KMS context does not name the content cipher: the metadata was altered');
      dataKey = await kmsDecrypt(keys.filter((k): k is KmsMasterKey => k.kind === 'kms'), wrapped, desc);
      break;
    }
    case WRAP_AES: {
      const cands = keysFor(keys, desc, (k): k is AesMasterKey => k.kind === 'aes');
      dataKey = await firstThatWorks(cands, (k) => aesGcmUnwrap(k.key, wrapped, Buffer.from(cek)), 'AES/GCM');
      break;
    }
    case WRAP_RSA: {
      const cands = keysFor(keys, desc, (k): k is RsaMasterKey => k.kind === 'rsa' && !!k.privateKey);
      const pseudo = await firstThatWorks(cands, (k) => rsaOaepDecrypt(k.privateKey!, wrapped, 'sha1'), 'RSA-OAEP-SHA1');
      const n = pseudo[0];
      if (n !== 32 || !pseudo.subarray(1 + n).equals(Buffer.from(cek))) throw new CseError('IntegrityError', 'the wrapped data key names another content cipher: the object was altered');
      dataKey = Buffer.from(pseudo.subarray(1, 1 + n));
      break;
    }
    default:
      throw new CseError('UnsupportedFormat', `unsupported key wrap algorithm ${JSON.stringify(wrapAlg)}`);
  }
  if (dataKey.length !== 32) throw new CseError('IntegrityError', 'unwrapped data key is not 256 bits');
  return dataKey;
}

function encryptorFrom(dataKey: Buffer, iv: Buffer, metadata: UserMetadata): ObjectEncryptor {
  return {
    format: 's3ec',
    metadata,
    cipherSize: (n) => n + 16,
    stream: () => gcmEncryptTransform(dataKey, iv),
  };
}

export async function s3ecEncryptor(key: MasterKey, opts: EncryptOptions = {}): Promise<ObjectEncryptor> {
  const { dataKey, wrapped, wrapAlg, matdesc } = await newDataKey(key);
  const iv = randomBytes(12);
  const metadata: UserMetadata = {
    [S3EC.key]: b64(wrapped),
    [S3EC.iv]: b64(iv),
    [S3EC.cekAlg]: CEK_GCM,
    [S3EC.tagLen]: '128',
    [S3EC.wrapAlg]: wrapAlg,
    [S3EC.matdesc]: JSON.stringify(matdesc),
  };
  if (opts.plainSize !== undefined) metadata[S3EC.plainLen] = String(opts.plainSize);
  return encryptorFrom(dataKey, iv, metadata);
}

/** The same encryption again from stored metadata (resuming a multipart upload: GCM is deterministic given key and IV). */
export async function s3ecResume(meta: UserMetadata, keys: MasterKey[]): Promise<ObjectEncryptor> {
  const dataKey = await unwrapDataKey(meta, keys);
  return encryptorFrom(dataKey, ivOf(meta), meta);
}

function ivOf(meta: UserMetadata): Buffer {
  const iv = unb64(meta[S3EC.iv], S3EC.iv);
  if (iv.length !== 12) throw new CseError('IntegrityError', 'x-amz-iv is not 12 bytes');
  return iv;
}

export async function s3ecDecryptor(meta: UserMetadata, keys: MasterKey[], storedSize: number): Promise<ObjectDecryptor> {
  const dataKey = await unwrapDataKey(meta, keys);
  const iv = ivOf(meta);
  const plainSize = storedSize - 16;
  if (plainSize < 0) throw new CseError('IntegrityError', 'object shorter than a GCM tag');
  const stated = intMeta(meta[S3EC.plainLen], S3EC.plainLen);
  if (stated !== undefined && stated !== plainSize) throw new CseError('IntegrityError', `stored plaintext length ${stated} does not match the object size`);
  return {
    format: 's3ec',
    plainSize,
    stream: () => pipelineDuplex(gcmDecryptTransform(dataKey, iv), checkPlaintext({ size: plainSize })),
    // Ranged reads decrypt the GCM ciphertext as AES-CTR from J0+1 (counter = IV ‖ 0x00000002 for block 0):
    // unauthenticated, like the Java client's legacy ranged-get mode.
    range(start, end) {
      const blockStart = start - (start % 16);
      const counter0 = Buffer.concat([iv, Buffer.from([0, 0, 0, 2])]);
      return {
        storedStart: blockStart,
        storedEnd: end,
        authenticated: false,
        transform: () => pipelineDuplex(ctrTransform(dataKey, counter0, blockStart), sliceTransform(start - blockStart, end - start + 1)),
      };
    },
  };
}

export function s3ecDescribe(meta: UserMetadata): CseDescription {
  const plain = meta[S3EC.plainLen];
  return {
    format: 's3ec',
    algorithm: meta[S3EC.cekAlg] ?? (meta[S3EC.keyV1] !== undefined ? 'AES/CBC/PKCS5Padding (v1)' : 'unknown'),
    wrapAlgorithm: meta[S3EC.wrapAlg],
    keys: meta[S3EC.wrapAlg] === WRAP_KMS ? `KMS context ${meta[S3EC.matdesc] ?? '{}'}` : `material description ${meta[S3EC.matdesc] ?? '{}'}`,
    plainSize: plain !== undefined && /^\d+$/.test(plain) ? Number(plain) : undefined,
  };
}
