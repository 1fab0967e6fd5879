// Errors raised by the crypto core. Messages never contain key material or plaintext.

export type CryptoErrorCode =
  | 'KURA_CRYPTO_AUTH_FAILED' // a chunk's tag did not verify: tampering, wrong key, wrong params or wrong plainSize
  | 'KURA_CRYPTO_TRUNCATED' // the stored stream ended before its last expected chunk
  | 'KURA_CRYPTO_TRAILING_DATA' // stored bytes after the last expected chunk
  | 'KURA_CRYPTO_SIZE_MISMATCH' // the encryptor received more or fewer bytes than the declared plainSize
  | 'KURA_CRYPTO_UNSEAL_FAILED' // a sealed key did not open: wrong KEK, wrong AAD, corrupt or unknown version
  | 'KURA_CRYPTO_BAD_PARAMS'; // invalid key/nonce/chunk size/range arguments

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = 'CryptoError';
    this.code = code;
  }
}

export function badParams(message: string): CryptoError {
  return new CryptoError('KURA_CRYPTO_BAD_PARAMS', message);
}
