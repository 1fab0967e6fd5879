// Client-side encryption for any S3 endpoint: envelope encryption with keys that never leave the client,
// in four interoperable object formats (see docs/CSE-FORMATS.md).
export { CseError, type CseErrorCode } from './errors.ts';
export {
  aesKey, rsaKey, kmsKey, loadMasterKey, parseAesKeyFile, keyFingerprint,
  type MasterKey, type RsaMasterKey, type AesMasterKey, type KmsMasterKey, type MaterialDescription, type KeyOptions,
} from './keys.ts';
export { createEsdkEncryptStream, createEsdkDecryptStream, esdkEncrypt, esdkDecrypt, parseEsdkHeader, encryptKeyring as esdkEncryptKeyring, decryptKeyring as esdkDecryptKeyring } from './esdk.ts';
