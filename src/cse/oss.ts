// Format 3: Alibaba Cloud OSS client-side encryption v2, carried over the S3 API as
// x-amz-meta-client-side-encryption-* user metadata (OSS itself uses x-oss-meta-client-side-encryption-*).
// Sources: aliyun/aliyun-oss-python-sdk oss2/crypto.py (RsaProvider, AliKMSProvider), oss2/crypto_bucket.py,
// oss2/utils.py (AESCTRCipher), oss2/headers.py; the OSS Java/Go SDKs' AesCtr scheme. Details in docs/CSE-FORMATS.md.
import { randomBytes } from 'node:crypto';
import { CseError } from './errors.ts';
import { parseDescription } from './keys.ts';
import type { MultiKeyring } from './keyrings/multi.ts';
import type { MaterialDescription, WrapContext } from './keyrings/keyring.ts';
import type { CseDescription, EncryptOptions, FormatModule, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { checkPlaintext, ctrTransform, sliceTransform } from './streams.ts';
import { b64, intMeta, statedSize, unb64 } from './meta.ts';
import { pipelineDuplex } from './pipe.ts';

const P = 'client-side-encryption-';
const OSS = {
  key: `${P}key`,
  start: `${P}start`,
  cekAlg: `${P}cek-alg`,
  wrapAlg: `${P}wrap-alg`,
  matdesc: `${P}matdesc`,
  plainLen: `${P}unencrypted-content-length`,
  plainMd5: `${P}unencrypted-content-md5`,
  dataSize: `${P}data-size`,
  partSize: `${P}part-size`,
} as const;
const CEK_CTR = 'AES/CTR/NoPadding';
/** The AES block: multipart part offsets must be multiples of it. */
const BLOCK = 16;

/** A random 16-byte counter block with bytes 8..11 zeroed, as every OSS SDK makes it. */
function newIv(): Buffer {
  const iv = randomBytes(16);
  iv.fill(0, 8, 12);
  return iv;
}

interface Material {
  dataKey: Buffer;
  iv: Buffer;
}

const wrapContext = (description: MaterialDescription): WrapContext => ({ format: 'oss', aad: Buffer.from(CEK_CTR), description });

async function unwrapMaterial(meta: UserMetadata, keys: MultiKeyring): Promise<Material> {
  const cek = meta[OSS.cekAlg];
  if (cek !== CEK_CTR) throw new CseError('UnsupportedFormat', `unsupported OSS content cipher ${JSON.stringify(cek)} (only ${CEK_CTR})`);
  const wrappedKey = unb64(meta[OSS.key], OSS.key);
  const wrappedIv = unb64(meta[OSS.start], OSS.start);
  const [dataKey, iv] = await keys.unwrap(
    [wrappedKey, wrappedIv],
    meta[OSS.wrapAlg],
    wrapContext(parseDescription(meta[OSS.matdesc])),
    ([k, v]) => {
      if (k!.length !== 32 || v!.length !== 16)
        throw new CseError('IntegrityError', 'unwrapped OSS key material has the wrong size: the metadata was altered');
    },
  );
  return { dataKey: dataKey!, iv: iv! };
}

function encryptorFrom(m: Material, metadata: UserMetadata): ObjectEncryptor {
  return {
    format: 'oss',
    metadata,
    cipherSize: (n) => n,
    stream: () => ctrTransform(m.dataKey, m.iv),
    // CTR parts are independent: part N starts its counter at IV + offset/16.
    partAlign: BLOCK,
    part: (offset) => ctrTransform(m.dataKey, m.iv, offset),
    partCipherSize: (_o, length) => length,
  };
}

async function ossEncryptor(keys: MultiKeyring, opts: EncryptOptions): Promise<ObjectEncryptor> {
  const iv = newIv();
  const description = keys.generator.description;
  const ctx = wrapContext(description);
  const { dataKey, wrapped, wrapAlg } = await keys.generate(ctx);
  const metadata: UserMetadata = {
    [OSS.key]: b64(wrapped),
    [OSS.start]: b64(await keys.generator.wrap(iv, ctx)),
    [OSS.cekAlg]: CEK_CTR,
    [OSS.wrapAlg]: wrapAlg,
  };
  if (Object.keys(description).length) metadata[OSS.matdesc] = JSON.stringify(description);
  if (opts.plainSize !== undefined) metadata[OSS.plainLen] = String(opts.plainSize);
  if (opts.md5) metadata[OSS.plainMd5] = opts.md5.toString('base64');
  if (opts.partSize !== undefined) {
    if (opts.partSize % BLOCK !== 0) throw new CseError('BadArgument', `OSS format part size must be a multiple of ${BLOCK}`);
    if (opts.plainSize !== undefined) metadata[OSS.dataSize] = String(opts.plainSize);
    metadata[OSS.partSize] = String(opts.partSize);
  }
  return encryptorFrom({ dataKey, iv }, metadata);
}

async function ossResume(meta: UserMetadata, keys: MultiKeyring): Promise<ObjectEncryptor> {
  return encryptorFrom(await unwrapMaterial(meta, keys), meta);
}

async function ossDecryptor(meta: UserMetadata, keys: MultiKeyring, storedSize: number): Promise<ObjectDecryptor> {
  const m = await unwrapMaterial(meta, keys);
  const stated = intMeta(meta[OSS.plainLen], OSS.plainLen);
  if (stated !== undefined && stated !== storedSize)
    throw new CseError('IntegrityError', `stored plaintext length ${stated} does not match the object size ${storedSize}`);
  const md5Text = meta[OSS.plainMd5];
  const md5 = md5Text !== undefined ? unb64(md5Text, OSS.plainMd5) : undefined;
  if (md5 && md5.length !== 16) throw new CseError('IntegrityError', 'stored MD5 is not 16 bytes');
  return {
    format: 'oss',
    plainSize: storedSize,
    stream: () => pipelineDuplex(ctrTransform(m.dataKey, m.iv), checkPlaintext({ size: storedSize, md5 })),
    range(start, end) {
      const blockStart = start - (start % BLOCK);
      return {
        storedStart: blockStart,
        storedEnd: end,
        authenticated: false,
        transform: () => pipelineDuplex(ctrTransform(m.dataKey, m.iv, blockStart), sliceTransform(start - blockStart, end - start + 1)),
      };
    },
  };
}

async function ossDescribe(meta: UserMetadata): Promise<CseDescription> {
  return {
    format: 'oss',
    algorithm: meta[OSS.cekAlg] ?? 'unknown',
    wrapAlgorithm: meta[OSS.wrapAlg],
    keys: `material description ${meta[OSS.matdesc] ?? '{}'}`,
    plainSize: statedSize(meta[OSS.plainLen]),
  };
}

export const ossFormat: FormatModule = {
  name: 'oss',
  inMetadata: (m) => m[OSS.key] !== undefined,
  ownsMetadataName: (name) => name.startsWith(P),
  partSize: (requested) => requested - (requested % BLOCK),
  // The MD5 of the plaintext is the only integrity check of an OSS object (CTR is unauthenticated).
  needsMd5: true,
  plainSizeOf: (stored) => stored,
  encryptor: ossEncryptor,
  resume: ossResume,
  decryptor: ossDecryptor,
  describe: ossDescribe,
};
