// Key handling: sealing (wrapping) data keys, key derivation, SSE-C key fingerprints, constant-time compare.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CryptoError, badParams } from './errors.ts';
import { FORMAT_VERSION, KEY_SIZE, NONCE_SIZE, TAG_SIZE } from './format.ts';

export const SEALED_KEY_OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE;
export const FINGERPRINT_SALT_SIZE = 32;
const DERIVE_PREFIX = Buffer.from('kura/v1\0', 'latin1');
const FINGERPRINT_LABEL = 'SSE-C key fingerprint';

function checkKek(kek: Buffer): void {
  if (!Buffer.isBuffer(kek) || kek.length !== KEY_SIZE) throw badParams(`key-encryption key must be ${KEY_SIZE} bytes`);
}

/** version (1) ‖ IV (12) ‖ ciphertext ‖ tag (16); AES-256-GCM with AAD = version ‖ aad. */
export function sealKey(kek: Buffer, dek: Buffer, aad: Buffer): Buffer {
  checkKek(kek);
  const out = Buffer.allocUnsafe(SEALED_KEY_OVERHEAD + dek.length);
  out[0] = FORMAT_VERSION;
  const iv = randomBytes(NONCE_SIZE);
  iv.copy(out, 1);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_SIZE });
  cipher.setAAD(Buffer.concat([out.subarray(0, 1), aad]));
  cipher.update(dek).copy(out, 1 + NONCE_SIZE);
  cipher.final();
  cipher.getAuthTag().copy(out, 1 + NONCE_SIZE + dek.length);
  return out;
}

/** Opens a sealKey() result; throws CryptoError('KURA_CRYPTO_UNSEAL_FAILED') on a wrong KEK/AAD or any corruption. */
export function unsealKey(kek: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  checkKek(kek);
  const fail = () => new CryptoError('KURA_CRYPTO_UNSEAL_FAILED', 'sealed key could not be opened');
  if (!Buffer.isBuffer(sealed) || sealed.length < SEALED_KEY_OVERHEAD || sealed[0] !== FORMAT_VERSION) throw fail();
  const ctEnd = sealed.length - TAG_SIZE;
  const decipher = createDecipheriv('aes-256-gcm', kek, sealed.subarray(1, 1 + NONCE_SIZE), { authTagLength: TAG_SIZE });
  decipher.setAAD(Buffer.concat([sealed.subarray(0, 1), aad]));
  decipher.setAuthTag(sealed.subarray(ctEnd));
  const dek = decipher.update(sealed.subarray(1 + NONCE_SIZE, ctEnd));
  try {
    decipher.final();
  } catch {
    dek.fill(0);
    throw fail();
  }
  return dek;
}

/**
 * 32-byte key = HMAC-SHA256(secret, "kura/v1" ‖ 0x00 ‖ label ‖ 0x00 ‖ context).
 * The label (e.g. 'SSE-C', 'SSE-S3', 'SSE-KMS') must not contain NUL, so the encoding is unambiguous.
 */
export function deriveKey(secret: Buffer, label: string, context: Buffer | string): Buffer {
  if (!Buffer.isBuffer(secret) || secret.length === 0) throw badParams('secret must be a non-empty Buffer');
  if (label.length === 0 || label.includes('\0')) throw badParams('label must be non-empty and contain no NUL');
  return createHmac('sha256', secret)
    .update(DERIVE_PREFIX)
    .update(label, 'utf8')
    .update(Buffer.of(0))
    .update(typeof context === 'string' ? Buffer.from(context, 'utf8') : context)
    .digest();
}

/** Fresh random salt for keyFingerprint(). */
export function newFingerprintSalt(): Buffer {
  return randomBytes(FINGERPRINT_SALT_SIZE);
}

/** Salted HMAC-SHA256 of an SSE-C key (32 bytes), safe to store: deriveKey(salt, 'SSE-C key fingerprint', key). */
export function keyFingerprint(key: Buffer, salt: Buffer): Buffer {
  if (!Buffer.isBuffer(salt) || salt.length < 16) throw badParams('salt must be at least 16 bytes');
  return deriveKey(salt, FINGERPRINT_LABEL, key);
}

export function verifyKeyFingerprint(key: Buffer, salt: Buffer, fingerprint: Buffer): boolean {
  return constantTimeEqual(keyFingerprint(key, salt), fingerprint);
}

/** Constant-time equality (time depends only on the lengths). Strings compare as UTF-8. */
export function constantTimeEqual(a: Buffer | string, b: Buffer | string): boolean {
  const x = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const y = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  if (x.length !== y.length) {
    timingSafeEqual(x, x); // same work as a real compare, result discarded
    return false;
  }
  return timingSafeEqual(x, y);
}
