// SSE-C: the customer sends the key with every request. Kura keeps only a salted HMAC-SHA256 of it
// (to tell a wrong key from a right one) and seals the object's DEKs under
// KEK = deriveKey(customerKey, 'SSE-C', "bucket/key"). The key itself is never stored or logged.
import { deriveKey, keyFingerprint, newFingerprintSalt, verifyKeyFingerprint } from '../crypto/index.ts';
import type { CustomerKey } from './headers.ts';
import { RECORD_VERSION, objectContext, type EncryptionRecord } from './metadata.ts';

type SseCRecord = Extract<EncryptionRecord, { mode: 'SSE-C' }>;

export const SSE_C_LABEL = 'SSE-C';

export function sseCKek(customer: CustomerKey, bucket: string, key: string): Buffer {
  return deriveKey(customer.key, SSE_C_LABEL, objectContext(bucket, key));
}

/** Record for a new SSE-C object or upload. */
export function newSseCRecord(customer: CustomerKey): SseCRecord {
  const salt = newFingerprintSalt();
  return {
    v: RECORD_VERSION,
    mode: 'SSE-C',
    salt: salt.toString('base64'),
    fingerprint: keyFingerprint(customer.key, salt).toString('base64'),
  };
}

/** True when `customer` is the key the record was written with (constant-time). */
export function matchesSseCKey(record: SseCRecord, customer: CustomerKey): boolean {
  return verifyKeyFingerprint(customer.key, Buffer.from(record.salt, 'base64'), Buffer.from(record.fingerprint, 'base64'));
}
