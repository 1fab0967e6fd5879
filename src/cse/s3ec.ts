// Format 2: the Amazon S3 Encryption Client v2 metadata format (Java v2/v3, Go s3crypto v2, Ruby, .NET).
// Sources: aws/amazon-s3-encryption-client-java materials/RsaKeyring.java, AesKeyring.java, KmsKeyring.java,
// internal/ObjectMetadataEncodingStrategy.java, internal/RangedGetUtils.java; aws/aws-sdk-go service/s3/s3crypto
// envelope.go. Details in docs/CSE-FORMATS.md.
import { randomBytes } from 'node:crypto';
import { CseError } from './errors.ts';
import { parseDescription } from './keys.ts';
import type { MultiKeyring } from './keyrings/multi.ts';
import type { WrapContext } from './keyrings/keyring.ts';
import type { CseDescription, EncryptOptions, FormatModule, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { ctrTransform, gcmDecryptTransform, gcmEncryptTransform, sliceTransform, checkPlaintext } from './streams.ts';
import { b64, intMeta, statedSize, unb64 } from './meta.ts';
import { pipelineDuplex } from './pipe.ts';

const S3EC = {
  key: 'x-amz-key-v2',
  keyV1: 'x-amz-key',
  iv: 'x-amz-iv',
  cekAlg: 'x-amz-cek-alg',
  wrapAlg: 'x-amz-wrap-alg',
  matdesc: 'x-amz-matdesc',
  tagLen: 'x-amz-tag-len',
  plainLen: 'x-amz-unencrypted-content-length',
  plainMd5V1: 'x-amz-unencrypted-content-md5',
} as const;
const NAMES: ReadonlySet<string> = new Set(Object.values(S3EC));
const CEK_GCM = 'AES/GCM/NoPadding';
const WRAP_KMS = 'kms+context';

async function unwrapDataKey(meta: UserMetadata, keys: MultiKeyring): Promise<Buffer> {
  if (meta[S3EC.key] === undefined)
    throw new CseError(
      'UnsupportedFormat',
      'S3 Encryption Client v1 objects (x-amz-key) are not supported; re-encrypt them with a v2 client',
    );
  const cek = meta[S3EC.cekAlg];
  if (cek !== CEK_GCM) throw new CseError('UnsupportedFormat', `unsupported content cipher ${JSON.stringify(cek)} (only ${CEK_GCM})`);
  if (meta[S3EC.tagLen] !== '128') throw new CseError('UnsupportedFormat', `unsupported tag length ${JSON.stringify(meta[S3EC.tagLen])}`);
  const wrapped = unb64(meta[S3EC.key], S3EC.key);
  const ctx: WrapContext = { format: 's3ec', aad: Buffer.from(cek), description: parseDescription(meta[S3EC.matdesc]) };
  const [dataKey] = await keys.unwrap([wrapped], meta[S3EC.wrapAlg], ctx);
  if (dataKey!.length !== 32) throw new CseError('IntegrityError', 'unwrapped data key is not 256 bits');
  return dataKey!;
}

function encryptorFrom(dataKey: Buffer, iv: Buffer, metadata: UserMetadata): ObjectEncryptor {
  return {
    format: 's3ec',
    metadata,
    cipherSize: (n) => n + 16,
    stream: () => gcmEncryptTransform(dataKey, iv),
  };
}

async function s3ecEncryptor(keys: MultiKeyring, opts: EncryptOptions): Promise<ObjectEncryptor> {
  const { dataKey, wrapped, wrapAlg, description } = await keys.generate({
    format: 's3ec',
    aad: Buffer.from(CEK_GCM),
    description: keys.generator.description,
  });
  const iv = randomBytes(12);
  const metadata: UserMetadata = {
    [S3EC.key]: b64(wrapped),
    [S3EC.iv]: b64(iv),
    [S3EC.cekAlg]: CEK_GCM,
    [S3EC.tagLen]: '128',
    [S3EC.wrapAlg]: wrapAlg,
    [S3EC.matdesc]: JSON.stringify(description),
  };
  if (opts.plainSize !== undefined) metadata[S3EC.plainLen] = String(opts.plainSize);
  return encryptorFrom(dataKey, iv, metadata);
}

/** The same encryption again from stored metadata (resuming a multipart upload: GCM is deterministic given key and IV). */
async function s3ecResume(meta: UserMetadata, keys: MultiKeyring): Promise<ObjectEncryptor> {
  const dataKey = await unwrapDataKey(meta, keys);
  return encryptorFrom(dataKey, ivOf(meta), meta);
}

function ivOf(meta: UserMetadata): Buffer {
  const iv = unb64(meta[S3EC.iv], S3EC.iv);
  if (iv.length !== 12) throw new CseError('IntegrityError', 'x-amz-iv is not 12 bytes');
  return iv;
}

async function s3ecDecryptor(meta: UserMetadata, keys: MultiKeyring, storedSize: number): Promise<ObjectDecryptor> {
  const dataKey = await unwrapDataKey(meta, keys);
  const iv = ivOf(meta);
  const plainSize = storedSize - 16;
  if (plainSize < 0) throw new CseError('IntegrityError', 'object shorter than a GCM tag');
  const stated = intMeta(meta[S3EC.plainLen], S3EC.plainLen);
  if (stated !== undefined && stated !== plainSize)
    throw new CseError('IntegrityError', `stored plaintext length ${stated} does not match the object size`);
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

async function s3ecDescribe(meta: UserMetadata): Promise<CseDescription> {
  return {
    format: 's3ec',
    algorithm: meta[S3EC.cekAlg] ?? (meta[S3EC.keyV1] !== undefined ? 'AES/CBC/PKCS5Padding (v1)' : 'unknown'),
    wrapAlgorithm: meta[S3EC.wrapAlg],
    keys:
      meta[S3EC.wrapAlg] === WRAP_KMS ? `KMS context ${meta[S3EC.matdesc] ?? '{}'}` : `material description ${meta[S3EC.matdesc] ?? '{}'}`,
    plainSize: statedSize(meta[S3EC.plainLen]),
  };
}

export const s3ecFormat: FormatModule = {
  name: 's3ec',
  inMetadata: (m) => m[S3EC.key] !== undefined || m[S3EC.keyV1] !== undefined,
  ownsMetadataName: (name) => NAMES.has(name),
  partSize: (requested) => requested,
  needsMd5: false,
  // The content is the plaintext followed by a 16-byte GCM tag.
  plainSizeOf: (stored) => stored - 16,
  encryptor: s3ecEncryptor,
  resume: s3ecResume,
  decryptor: s3ecDecryptor,
  describe: s3ecDescribe,
};
