// The one interface over the modes: a request (or a stored record) → the object's key-encryption key
// (KEK), and per-stream DEK sealing under that KEK. SSE-KMS slots in here as one more case.
import { newStreamParams, sealKey, unsealKey, type StreamParams, CryptoError } from '../crypto/index.ts';
import { S3Error } from '../protocol/s3-errors.ts';
import { sseErrors } from './errors.ts';
import type { CustomerKey, EncryptionRequest } from './headers.ts';
import { objectContext, readStreamRecord, writeStreamRecord, type EncryptionRecord, type StreamRecord } from './metadata.ts';
import { newSseCRecord, matchesSseCKey, sseCKek } from './sse-c.ts';
import { newSseS3, openSseS3, type ServerKeyProvider } from './sse-s3.ts';
import { newSseKms, openSseKms, type SseKmsParams } from './sse-kms.ts';
import type { KmsKeyCache } from './kms-keys.ts';

export interface SseKeyServices {
  /** Source of SSE-S3 secrets (the KMS: kms-keys.ts KmsServerKeys; the root key without a KMS). */
  serverKeys: ServerKeyProvider;
  /** KMS data keys for SSE-KMS (absent: SSE-KMS answers NotImplemented). */
  kms?: KmsKeyCache;
}

/** Who a request acts for: named in the KMS audit log for the calls SSE-KMS makes on its behalf. */
export interface KeyCaller {
  accessKeyId: string;
}

/** An object's KEK with the record that lets a later request obtain it again. */
export interface ObjectKeys {
  record: EncryptionRecord;
  kek: Buffer;
}

/** Keys for a new object or multipart upload at bucket/key. A 'default' request gets SSE-S3. */
export async function newObjectKeys(
  req: EncryptionRequest,
  bucket: string,
  key: string,
  svc: SseKeyServices,
  caller?: KeyCaller,
): Promise<ObjectKeys> {
  switch (req.mode) {
    case 'SSE-C':
      return { record: newSseCRecord(req.customer), kek: sseCKek(req.customer, bucket, key) };
    case 'SSE-S3':
    case 'default':
      return newSseS3(svc.serverKeys, bucket, key);
    case 'SSE-KMS': {
      if (req.dsse) throw sseErrors.dsseNotImplemented();
      if (!svc.kms || !caller) throw sseErrors.kmsNotImplemented();
      const p: SseKmsParams = { bucketKey: req.bucketKey ?? false };
      if (req.keyId !== undefined) p.keyId = req.keyId;
      if (req.context !== undefined) p.context = req.context;
      return newSseKms(svc.kms, p, bucket, key, caller);
    }
  }
}

/**
 * Why the KEK is wanted, which decides AWS's error for a missing or wrong SSE-C key:
 * 'read' = GET/HEAD, 'source' = copy source, 'part' = UploadPart/UploadPartCopy of an upload.
 */
export type KeyUse = 'read' | 'source' | 'part';

/**
 * Checks the request's SSE-C key against a stored record: a key is required exactly when the record
 * is SSE-C, and must be the record's key. Cheap (no KMS): call it before any response is started.
 */
export function checkCustomerKey(record: EncryptionRecord | undefined, customer: CustomerKey | undefined, use: KeyUse): void {
  if (record?.mode === 'SSE-C') {
    if (!customer) throw use === 'part' ? sseErrors.partKeyRequired() : sseErrors.keyRequired();
    if (!matchesSseCKey(record, customer)) throw use === 'part' ? sseErrors.partKeyMismatch() : sseErrors.wrongKey();
  } else if (customer) {
    throw sseErrors.notApplicable();
  }
}

/** The KEK of a stored object or upload (after checkCustomerKey's checks). */
export async function openObjectKeys(
  record: EncryptionRecord,
  customer: CustomerKey | undefined,
  bucket: string,
  key: string,
  svc: SseKeyServices,
  use: KeyUse,
  caller?: KeyCaller,
): Promise<Buffer> {
  checkCustomerKey(record, customer, use);
  switch (record.mode) {
    case 'SSE-C':
      return sseCKek(customer!, bucket, key);
    case 'SSE-S3':
      return openSseS3(svc.serverKeys, record, bucket, key);
    case 'SSE-KMS':
      if (!svc.kms || !caller) throw sseErrors.kmsNotImplemented();
      return openSseKms(svc.kms, record, bucket, key, caller);
  }
}

/** Fresh stream parameters and their stored record (DEK sealed under the KEK, bound to bucket/key). */
export function newSealedStream(
  kek: Buffer,
  bucket: string,
  key: string,
  chunkSize?: number,
): { params: StreamParams; record: StreamRecord } {
  const params = newStreamParams(chunkSize);
  const sealed = sealKey(kek, params.key, Buffer.from(objectContext(bucket, key), 'utf8'));
  return { params, record: writeStreamRecord(sealed, params.nonce, params.chunkSize) };
}

/** Stream parameters of a stored stream; InternalError when the sealed DEK does not open (tampered/moved metadata). */
export function openSealedStream(kek: Buffer, raw: unknown, bucket: string, key: string): StreamParams {
  const r = readStreamRecord(raw);
  try {
    return { key: unsealKey(kek, r.sealedKey, Buffer.from(objectContext(bucket, key), 'utf8')), nonce: r.nonce, chunkSize: r.chunkSize };
  } catch (e) {
    if (e instanceof CryptoError || e instanceof S3Error) throw sseErrors.integrity();
    throw e;
  }
}
