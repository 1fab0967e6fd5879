// The crypto core: chunked AES-256-GCM object format, key sealing and derivation. Pure: no I/O, no logging.
// Format: docs/FORMAT.md.
export {
  FORMAT_VERSION,
  DEFAULT_CHUNK_SIZE,
  KEY_SIZE,
  NONCE_SIZE,
  TAG_SIZE,
  MIN_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  newStreamParams,
  ciphertextSize,
  plaintextSize,
  chunkCount,
  planRange,
  planPartsRange,
  chunkNonce,
  chunkAad,
  type StreamParams,
  type RangePlan,
  type PartRangePlan,
} from './format.ts';
export {
  createEncryptor,
  createDecryptor,
  encryptBuffer,
  decryptBuffer,
  StreamEncryptor,
  StreamDecryptor,
  cipherTransform,
  type DecryptOptions,
  type Emit,
  type SyncCipher,
} from './stream.ts';
export {
  sealKey,
  unsealKey,
  deriveKey,
  keyFingerprint,
  verifyKeyFingerprint,
  newFingerprintSalt,
  constantTimeEqual,
  SEALED_KEY_OVERHEAD,
  FINGERPRINT_SALT_SIZE,
} from './keys.ts';
export { CryptoError, type CryptoErrorCode } from './errors.ts';
