// Request side of SSE: the x-amz-server-side-encryption* headers (or POST form fields, or presigned
// query parameters) → a validated EncryptionRequest, with AWS's errors; and the response headers.
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../crypto/index.ts';
import { H, sseErrors } from './errors.ts';
import { parseBucketKeyHeader } from './sse-kms.ts';

/** Reads one request field by lower-case name (a header, a form field, a query parameter). */
export type FieldGetter = (name: string) => string | undefined;

export const SSE_ALGORITHM = 'AES256';

/** A validated SSE-C key. `keyMd5` is what the client sent (base64), echoed in responses. */
export interface CustomerKey {
  key: Buffer;
  keyMd5: string;
}

export type EncryptionRequest =
  /** No SSE fields: the server's default, which is SSE-S3 (as AWS since 2023). */
  | { mode: 'default' }
  | { mode: 'SSE-S3' }
  | { mode: 'SSE-C'; customer: CustomerKey }
  /** bucketKey: x-amz-server-side-encryption-bucket-key-enabled (undefined = the bucket's setting). */
  | { mode: 'SSE-KMS'; keyId?: string; context?: string; dsse: boolean; bucketKey?: boolean };

const CUSTOMER_FIELDS = {
  target: { algorithm: H.cAlgorithm, key: H.cKey, keyMd5: H.cKeyMd5 },
  source: { algorithm: H.copyAlgorithm, key: H.copyKey, keyMd5: H.copyKeyMd5 },
} as const;

/** Every field name this module reads, lower case (for redaction and "is any SSE field present"). */
export const SSE_FIELDS: readonly string[] = [
  H.sse,
  H.kmsKeyId,
  H.kmsContext,
  H.bucketKey,
  H.cAlgorithm,
  H.cKey,
  H.cKeyMd5,
  H.copyAlgorithm,
  H.copyKey,
  H.copyKeyMd5,
];

/** Fields whose values are secrets and must never be logged. */
export const SECRET_FIELDS: readonly string[] = [H.cKey, H.copyKey];

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64Strict(value: string): Buffer | undefined {
  const v = value.trim();
  if (!BASE64.test(v)) return undefined;
  return Buffer.from(v, 'base64');
}

export function keyMd5Of(key: Buffer): string {
  return createHash('md5').update(key).digest('base64');
}

/** True when any SSE-C field (of the target, or of the copy source) is present. */
export function hasCustomerFields(get: FieldGetter, which: 'target' | 'source' = 'target'): boolean {
  const f = CUSTOMER_FIELDS[which];
  return get(f.algorithm) !== undefined || get(f.key) !== undefined || get(f.keyMd5) !== undefined;
}

/**
 * The SSE-C key of the target (`x-amz-server-side-encryption-customer-*`) or of the copy source
 * (`x-amz-copy-source-server-side-encryption-customer-*`); undefined when none of its fields is present.
 */
export function parseCustomerKey(get: FieldGetter, which: 'target' | 'source' = 'target'): CustomerKey | undefined {
  const f = CUSTOMER_FIELDS[which];
  const algorithm = get(f.algorithm);
  const keyB64 = get(f.key);
  const md5 = get(f.keyMd5);
  if (algorithm === undefined && keyB64 === undefined && md5 === undefined) return undefined;
  if (algorithm === undefined) throw sseErrors.missingAlgorithm(f.algorithm);
  if (algorithm !== SSE_ALGORITHM) throw sseErrors.badAlgorithm(algorithm);
  if (keyB64 === undefined || keyB64 === '') throw sseErrors.missingKey(f.key);
  if (md5 === undefined || md5 === '') throw sseErrors.missingKeyMd5(f.keyMd5);
  const key = decodeBase64Strict(keyB64);
  if (!key || key.length !== 32) {
    key?.fill(0);
    throw sseErrors.badKey(f.key);
  }
  const expected = decodeBase64Strict(md5);
  if (!expected || expected.length !== 16 || !constantTimeEqual(createHash('md5').update(key).digest(), expected)) {
    key.fill(0);
    throw sseErrors.keyMd5Mismatch(f.keyMd5);
  }
  return { key, keyMd5: expected.toString('base64') };
}

/**
 * What a write (PutObject, CopyObject target, CreateMultipartUpload, POST object) asks for.
 * Throws InvalidArgument for an unknown method, SSE-C together with SSE-S3/KMS, KMS fields without aws:kms,
 * and any malformed SSE-C field.
 */
export function parseWriteRequest(get: FieldGetter): EncryptionRequest {
  const method = get(H.sse);
  const customer = parseCustomerKey(get, 'target');
  if (method !== undefined && customer) throw sseErrors.incompatibleMethods();
  if (customer) return { mode: 'SSE-C', customer };
  if (method === undefined) {
    for (const name of [H.kmsKeyId, H.kmsContext]) if (get(name) !== undefined) throw sseErrors.kmsHeadersWithoutKms(name);
    return { mode: 'default' };
  }
  if (method === SSE_ALGORITHM) {
    for (const name of [H.kmsKeyId, H.kmsContext]) if (get(name) !== undefined) throw sseErrors.kmsHeadersWithoutKms(name);
    return { mode: 'SSE-S3' };
  }
  if (method === 'aws:kms' || method === 'aws:kms:dsse') {
    const req: EncryptionRequest = { mode: 'SSE-KMS', dsse: method === 'aws:kms:dsse' };
    const keyId = get(H.kmsKeyId);
    const context = get(H.kmsContext);
    const bucketKey = parseBucketKeyHeader(get(H.bucketKey));
    if (keyId !== undefined) req.keyId = keyId;
    if (context !== undefined) req.context = context;
    if (bucketKey !== undefined) req.bucketKey = bucketKey;
    return req;
  }
  throw sseErrors.unsupportedMethod(method);
}

/**
 * The SSE-C key of a read (GET/HEAD, or a copy source with which = 'source'). A read never takes
 * x-amz-server-side-encryption (400 InvalidArgument, as AWS).
 */
export function parseReadRequest(get: FieldGetter, which: 'target' | 'source' = 'target'): CustomerKey | undefined {
  if (which === 'target' && get(H.sse) !== undefined) throw sseErrors.notForReads();
  return parseCustomerKey(get, which);
}

/** Headers naming an object's encryption in a response. */
export function responseHeadersFor(
  mode: 'SSE-S3' | 'SSE-C' | 'SSE-KMS' | undefined,
  extra: { keyMd5?: string; kmsKeyArn?: string } = {},
): Record<string, string> {
  switch (mode) {
    case 'SSE-S3':
      return { [H.sse]: SSE_ALGORITHM };
    case 'SSE-C': {
      const h: Record<string, string> = { [H.cAlgorithm]: SSE_ALGORITHM };
      if (extra.keyMd5 !== undefined) h[H.cKeyMd5] = extra.keyMd5;
      return h;
    }
    case 'SSE-KMS': {
      const h: Record<string, string> = { [H.sse]: 'aws:kms' };
      if (extra.kmsKeyArn !== undefined) h[H.kmsKeyId] = extra.kmsKeyArn;
      return h;
    }
    default:
      return {};
  }
}
