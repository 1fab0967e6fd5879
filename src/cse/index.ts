// Client-side encryption for any S3 endpoint: envelope encryption with keys that never leave the client,
// in four interoperable object formats (see docs/CSE-FORMATS.md).
export { CseError, type CseErrorCode } from './errors.ts';
export {
  aesKey,
  rsaKey,
  kmsKey,
  loadMasterKey,
  parseAesKeyFile,
  keyFingerprint,
  type MasterKey,
  type RsaMasterKey,
  type AesMasterKey,
  type KmsMasterKey,
  type MaterialDescription,
  type KeyOptions,
} from './keys.ts';
export { MultiKeyring } from './keyrings/multi.ts';
export type { Keyring, KeyringKind, WrapContext, WrapFormat } from './keyrings/keyring.ts';
export {
  createEsdkEncryptStream,
  createEsdkDecryptStream,
  esdkEncrypt,
  esdkDecrypt,
  parseEsdkHeader,
  encryptKeyring as esdkEncryptKeyring,
  decryptKeyring as esdkDecryptKeyring,
} from './esdk.ts';
export {
  CseClient,
  DEFAULT_PART_SIZE,
  MIN_PART_SIZE,
  type CseClientOptions,
  type UploadOptions,
  type DownloadOptions,
  type GetResult,
  type HeadResult,
  type SseOptions,
  type MultipartContext,
  type Progress,
} from './client.ts';
export { createObjectEncryptor, openObjectDecryptor, resumeObjectEncryptor, describeObject, metadataFormat } from './formats.ts';
export {
  CSE_FORMATS,
  type CseFormat,
  type FormatModule,
  type CseDescription,
  type ObjectEncryptor,
  type ObjectDecryptor,
  type EncryptOptions,
  type UserMetadata,
} from './format.ts';
