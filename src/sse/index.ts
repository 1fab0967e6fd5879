// Server-side encryption (SSE-C, SSE-S3, SSE-KMS): request headers ↔ crypto core ↔ stored metadata.
export { H as SSE_HEADERS, sseErrors } from './errors.ts';
export {
  parseWriteRequest,
  parseReadRequest,
  parseCustomerKey,
  hasCustomerFields,
  responseHeadersFor,
  keyMd5Of,
  SSE_ALGORITHM,
  SSE_FIELDS,
  SECRET_FIELDS,
  type CustomerKey,
  type EncryptionRequest,
  type FieldGetter,
} from './headers.ts';
export {
  readEncryptionRecord,
  readStreamRecord,
  objectContext,
  type EncryptionRecord,
  type StreamRecord,
  type ServerKeyRef,
  type SseMode,
} from './metadata.ts';
export { RootKeyProvider, type ServerKeyProvider } from './sse-s3.ts';
export {
  newObjectKeys,
  openObjectKeys,
  checkCustomerKey,
  newSealedStream,
  openSealedStream,
  type SseKeyServices,
  type ObjectKeys,
  type KeyUse,
} from './keys.ts';
export {
  encryptingStream,
  decryptingStream,
  openPlaintext,
  primed,
  toS3Error,
  READ_AHEAD,
  type Segment,
  type StoredOpener,
} from './object-crypto.ts';
export { KmsKeyCache, KmsServerKeys, kmsToS3Error, SSE_S3_KEY_ALIAS, type EncryptionContext, type KmsDataKey } from './kms-keys.ts';
export { newSseKms, openSseKms, sseKmsResponseHeaders, DEFAULT_S3_KEY_ALIAS, type SseKmsParams, type SseKmsRecord } from './sse-kms.ts';
export { applyBucketDefault, bucketEncryptionOf, checkNotBlocked, type BucketEncryption } from './bucket-encryption.ts';
