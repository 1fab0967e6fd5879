// Format 3: Alibaba Cloud OSS client-side encryption v2, carried over the S3 API as
// x-amz-meta-client-side-encryption-* user metadata (OSS itself uses x-oss-meta-client-side-encryption-*).
// Sources: aliyun/aliyun-oss-python-sdk oss2/crypto.py (RsaProvider, AliKMSProvider), oss2/crypto_bucket.py,
// oss2/utils.py (AESCTRCipher), oss2/headers.py; the OSS Java/Go SDKs' AesCtr scheme. Details in docs/CSE-FORMATS.md.
import { randomBytes } from 'node:crypto';
import { CseError } from './errors.ts';
import {
  keysFor, parseDescription, rsaOaepDecrypt, rsaOaepEncrypt, rsaPkcs1Decrypt, rsaPkcs1Encrypt,
  type AesMasterKey, type KmsMasterKey, type MasterKey, type RsaMasterKey,
} from './keys.ts';
import type { CseDescription, EncryptOptions, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { checkPlaintext, ctrTransform, sliceTransform } from './streams.ts';
import { aesGcmUnwrap, aesGcmWrap, b64, firstThatWorks, intMeta, kmsDecrypt, kmsEncrypt, kmsGenerateDataKey, unb64 } from './wrap.ts';
import { pipelineDuplex } from './pipe.ts';

const P = 'client-side-encryption-';
export const OSS = {
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
export const OSS_WRAP = {
  rsaPkcs1: 'RSA/NONE/PKCS1Padding',
  rsaOaep: 'RSA/NONE/OAEPWithSHA-1AndMGF1Padding',
  kmsAli: 'KMS/ALICLOUD',
  /** Kura's name for the AliKMSProvider scheme over the AWS KMS API (Kura's KMS or AWS KMS). */
  kmsAws: 'KMS/AWS',
  /** Kura's extension for raw AES-256 master keys (OSS has none): AES-256-GCM, 12-byte IV, AAD = cek-alg. */
  aesGcm: 'AES/GCM',
} as const;

export const isOss = (m: UserMetadata) => m[OSS.key] !== undefined;

/** A random 16-byte counter block with bytes 8..11 zeroed, as every OSS SDK makes it. */
function newIv(): Buffer {
  const iv = randomBytes(16);
  iv.fill(0, 8, 12);
  return iv;
}

interface Material { dataKey: Buffer; iv: Buffer }

async function wrapMaterial(key: MasterKey, m: Material): Promise<{ wrapAlg: string; key: string; start: string; dataKey: Buffer }> {
  switch (key.kind) {
    case 'rsa':
      // As RsaProvider: key and IV each encrypted with PKCS#1 v1.5 and stored base64.
      return { wrapAlg: OSS_WRAP.rsaPkcs1, key: b64(rsaPkcs1Encrypt(key.publicKey!, m.dataKey)), start: b64(rsaPkcs1Encrypt(key.publicKey!, m.iv)), dataKey: m.dataKey };
    case 'aes':
      return { wrapAlg: OSS_WRAP.aesGcm, key: b64(aesGcmWrap(key.key, m.dataKey, Buffer.from(CEK_CTR))), start: b64(aesGcmWrap(key.key, m.iv, Buffer.from(CEK_CTR))), dataKey: m.dataKey };
    case 'kms': {
      // As AliKMSProvider: the data key from GenerateDataKey; the IV encrypted as its base64 text.
      const { dataKey, wrapped } = await kmsGenerateDataKey(key, key.description);
      const start = await kmsEncrypt(key, Buffer.from(b64(m.iv)), key.description);
      return { wrapAlg: OSS_WRAP.kmsAws, key: b64(wrapped), start: b64(start), dataKey };
    }
  }
}

async function unwrapMaterial(meta: UserMetadata, keys: MasterKey[]): Promise<Material> {
  const cek = meta[OSS.cekAlg];
  if (cek !== CEK_CTR) throw new CseError('UnsupportedFormat', `unsupported OSS content cipher ${JSON.stringify(cek)} (only ${CEK_CTR})`);
  const wrappedKey = unb64(meta[OSS.key], OSS.key);
  const wrappedIv = unb64(meta[OSS.start], OSS.start);
  const desc = parseDescription(meta[OSS.matdesc]);
  const wrapAlg = meta[OSS.wrapAlg];
  let m: Material;
  switch (wrapAlg) {
    case OSS_WRAP.rsaPkcs1:
    case OSS_WRAP.rsaOaep: {
      const unwrap = wrapAlg === OSS_WRAP.rsaPkcs1 ? rsaPkcs1Decrypt : (k: RsaMasterKey['privateKey'] & object, b: Buffer) => rsaOaepDecrypt(k, b, 'sha1');
      const cands = keysFor(keys, desc, (k): k is RsaMasterKey => k.kind === 'rsa' && !!k.privateKey);
      m = await firstThatWorks(cands, (k) => {
        const r = { dataKey: unwrap(k.privateKey!, wrappedKey), iv: unwrap(k.privateKey!, wrappedIv) };
        if (r.dataKey.length !== 32 || r.iv.length !== 16) throw new CseError('IntegrityError', 'bad unwrapped lengths');
        return r;
      }, wrapAlg);
      break;
    }
    case OSS_WRAP.aesGcm: {
      const cands = keysFor(keys, desc, (k): k is AesMasterKey => k.kind === 'aes');
      m = await firstThatWorks(cands, (k) => ({ dataKey: aesGcmUnwrap(k.key, wrappedKey, Buffer.from(CEK_CTR)), iv: aesGcmUnwrap(k.key, wrappedIv, Buffer.from(CEK_CTR)) }), wrapAlg);
      break;
    }
    case OSS_WRAP.kmsAws:
    case OSS_WRAP.kmsAli: {
      const kms = keys.filter((k): k is KmsMasterKey => k.kind === 'kms');
      let dataKey = await kmsDecrypt(kms, wrappedKey, Object.keys(desc).length ? desc : undefined);
      // Alibaba KMS returns key plaintext as base64 text.
      if (dataKey.length === 44) dataKey = Buffer.from(dataKey.toString(), 'base64');
      const ivText = await kmsDecrypt(kms, wrappedIv, Object.keys(desc).length ? desc : undefined);
      m = { dataKey, iv: Buffer.from(ivText.toString(), 'base64') };
      break;
    }
    default:
      throw new CseError('UnsupportedFormat', `unsupported OSS key wrap algorithm ${JSON.stringify(wrapAlg)}`);
  }
  if (m.dataKey.length !== 32 || m.iv.length !== 16) throw new CseError('IntegrityError', 'unwrapped OSS key material has the wrong size: the metadata was altered');
  return m;
}

function encryptorFrom(m: Material, metadata: UserMetadata): ObjectEncryptor {
  return {
    format: 'oss',
    metadata,
    cipherSize: (n) => n,
    stream: () => ctrTransform(m.dataKey, m.iv),
    // CTR parts are independent: part N starts its counter at IV + offset/16.
    partAlign: 16,
    part: (offset) => ctrTransform(m.dataKey, m.iv, offset),
    partCipherSize: (_o, length) => length,
  };
}

export async function ossEncryptor(key: MasterKey, opts: EncryptOptions = {}): Promise<ObjectEncryptor> {
  const iv = newIv();
  // (For KMS keys the data key comes from GenerateDataKey; the random one is not used.)
  const w = await wrapMaterial(key, { dataKey: randomBytes(32), iv });
  const metadata: UserMetadata = { [OSS.key]: w.key, [OSS.start]: w.start, [OSS.cekAlg]: CEK_CTR, [OSS.wrapAlg]: w.wrapAlg };
  if (Object.keys(key.description).length) metadata[OSS.matdesc] = JSON.stringify(key.description);
  if (opts.plainSize !== undefined) metadata[OSS.plainLen] = String(opts.plainSize);
  if (opts.md5) metadata[OSS.plainMd5] = opts.md5.toString('base64');
  if (opts.partSize !== undefined) {
    if (opts.partSize % 16 !== 0) throw new CseError('BadArgument', 'OSS format part size must be a multiple of 16');
    if (opts.plainSize !== undefined) metadata[OSS.dataSize] = String(opts.plainSize);
    metadata[OSS.partSize] = String(opts.partSize);
  }
  return encryptorFrom({ dataKey: w.dataKey, iv }, metadata);
}

export async function ossResume(meta: UserMetadata, keys: MasterKey[]): Promise<ObjectEncryptor> {
  return encryptorFrom(await unwrapMaterial(meta, keys), meta);
}

export async function ossDecryptor(meta: UserMetadata, keys: MasterKey[], storedSize: number): Promise<ObjectDecryptor> {
  const m = await unwrapMaterial(meta, keys);
  const stated = intMeta(meta[OSS.plainLen], OSS.plainLen);
  if (stated !== undefined && stated !== storedSize) throw new CseError('IntegrityError', `stored plaintext length ${stated} does not match the object size ${storedSize}`);
  const md5Text = meta[OSS.plainMd5];
  const md5 = md5Text !== undefined ? unb64(md5Text, OSS.plainMd5) : undefined;
  if (md5 && md5.length !== 16) throw new CseError('IntegrityError', 'stored MD5 is not 16 bytes');
  return {
    format: 'oss',
    plainSize: storedSize,
    stream: () => pipelineDuplex(ctrTransform(m.dataKey, m.iv), checkPlaintext({ size: storedSize, md5 })),
    range(start, end) {
      const blockStart = start - (start % 16);
      return {
        storedStart: blockStart,
        storedEnd: end,
        authenticated: false,
        transform: () => pipelineDuplex(ctrTransform(m.dataKey, m.iv, blockStart), sliceTransform(start - blockStart, end - start + 1)),
      };
    },
  };
}

export function ossDescribe(meta: UserMetadata): CseDescription {
  const plain = meta[OSS.plainLen];
  return {
    format: 'oss',
    algorithm: meta[OSS.cekAlg] ?? 'unknown',
    wrapAlgorithm: meta[OSS.wrapAlg],
    keys: `material description ${meta[OSS.matdesc] ?? '{}'}`,
    plainSize: plain !== undefined && /^\d+$/.test(plain) ? Number(plain) : undefined,
  };
}
