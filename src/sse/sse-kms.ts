// SSE-KMS: the object's key-encryption key comes from a KMS data key.
//   KEK = deriveKey(data key plaintext, 'SSE-KMS', "bucket/key")
// The record keeps the data key's ciphertext blob, the KMS key ARN and the encryption context, so a read
// makes one KMS Decrypt. The context is S3's: {"aws:s3:arn": "arn:aws:s3:::bucket/key"} merged with the
// client's x-amz-server-side-encryption-context.
// With an S3 Bucket Key the data key is shared by the bucket's objects for a while (KmsKeyCache.shared)
// and its context names the bucket ARN instead of the object's, as AWS does; the per-object KEK still
// binds each object's DEKs to bucket/key.
import { deriveKey } from '../crypto/index.ts';
import { S3Error } from '../protocol/s3-errors.ts';
import { canonicalContext, type EncryptionContext, type KmsKeyCache } from './kms-keys.ts';
import { objectContext, type EncryptionRecord } from './metadata.ts';

export const SSE_KMS_LABEL = 'SSE-KMS';
/** The AWS-managed key S3 uses when a request names no key (created on first use). */
export const DEFAULT_S3_KEY_ALIAS = 'alias/aws/s3';
export const ARN_CONTEXT_KEY = 'aws:s3:arn';

const H_CONTEXT = 'x-amz-server-side-encryption-context';
const H_KEY_ID = 'x-amz-server-side-encryption-aws-kms-key-id';
const H_BUCKET_KEY = 'x-amz-server-side-encryption-bucket-key-enabled';

/** What a write asks of SSE-KMS (from headers, POST fields, or the bucket default). */
export interface SseKmsParams {
  /** Key id, alias name, key ARN or alias ARN; absent = alias/aws/s3. */
  keyId?: string;
  /** The raw x-amz-server-side-encryption-context value (base64 of a JSON string map). */
  context?: string;
  bucketKey: boolean;
}

/**
 * context: the object's encryption context (what S3 reports back); with a bucket key the blob's context is
 * bucketKeyContext(context). blob: base64 of the KMS ciphertext blob of the data key.
 */
export type SseKmsRecord = Extract<EncryptionRecord, { mode: 'SSE-KMS' }>;

function badContext(): S3Error {
  return new S3Error(
    'InvalidArgument',
    `The header '${H_CONTEXT}' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map`,
    { ArgumentName: H_CONTEXT },
  );
}

/** Decodes x-amz-server-side-encryption-context (InvalidArgument as AWS when it is not a base64 JSON string map). */
export function parseContextHeader(value: string | undefined): EncryptionContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) throw badContext();
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(v, 'base64')));
  } catch {
    throw badContext();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badContext();
  const out: EncryptionContext = {};
  for (const [k, x] of Object.entries(parsed)) {
    if (typeof x !== 'string') throw badContext();
    out[k] = x;
  }
  return out;
}

export function objectArn(bucket: string, key: string): string {
  return `arn:aws:s3:::${bucket}/${key}`;
}

/** The object's context: the client's (if any) plus aws:s3:arn = the object ARN. */
export function objectKmsContext(bucket: string, key: string, client?: EncryptionContext): EncryptionContext {
  const arn = objectArn(bucket, key);
  if (client && client[ARN_CONTEXT_KEY] !== undefined && client[ARN_CONTEXT_KEY] !== arn) {
    throw new S3Error('InvalidArgument', `The ${ARN_CONTEXT_KEY} value in the encryption context must be the object ARN`, {
      ArgumentName: H_CONTEXT,
    });
  }
  return { ...client, [ARN_CONTEXT_KEY]: arn };
}

/** The context of a bucket key: the object's context with aws:s3:arn = the bucket ARN. */
export function bucketKeyContext(objectContext: EncryptionContext, bucket: string): EncryptionContext {
  return { ...objectContext, [ARN_CONTEXT_KEY]: `arn:aws:s3:::${bucket}` };
}

/** x-amz-server-side-encryption-bucket-key-enabled: true/false, or undefined when absent. */
export function parseBucketKeyHeader(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new S3Error('InvalidArgument', `${H_BUCKET_KEY} must be true or false`, { ArgumentName: H_BUCKET_KEY, ArgumentValue: value });
}

function kek(plaintext: Buffer, bucket: string, key: string): Buffer {
  return deriveKey(plaintext, SSE_KMS_LABEL, objectContext(bucket, key));
}

/** Keys for a new SSE-KMS object (or multipart upload) at bucket/key. KMS failures come back as S3's KMS.* errors. */
export async function newSseKms(
  keys: KmsKeyCache,
  p: SseKmsParams,
  bucket: string,
  key: string,
  caller: { accessKeyId: string },
): Promise<{ record: SseKmsRecord; kek: Buffer }> {
  const context = objectKmsContext(bucket, key, parseContextHeader(p.context));
  const keyId = p.keyId ?? (await keys.defaultKey(DEFAULT_S3_KEY_ALIAS));
  const dataKey = p.bucketKey
    ? await keys.shared(keyId, bucketKeyContext(context, bucket), caller)
    : await keys.generate(keyId, context, caller);
  const record: SseKmsRecord = { v: 1, mode: 'SSE-KMS', keyArn: dataKey.keyArn, context, blob: dataKey.blob.toString('base64') };
  if (p.bucketKey) record.bucketKey = true;
  return { record, kek: kek(dataKey.plaintext, bucket, key) };
}

/** The KEK of a stored SSE-KMS object: one KMS Decrypt (cached for bucket keys). */
export async function openSseKms(
  keys: KmsKeyCache,
  record: SseKmsRecord,
  bucket: string,
  key: string,
  caller: { accessKeyId: string },
): Promise<Buffer> {
  const context = record.bucketKey ? bucketKeyContext(record.context, bucket) : record.context;
  const dataKey = await keys.decrypt(Buffer.from(record.blob, 'base64'), context, caller, record.bucketKey === true);
  return kek(dataKey.plaintext, bucket, key);
}

/**
 * Response headers of an SSE-KMS object or upload. The context header is returned by writes
 * (PutObject, CopyObject, CreateMultipartUpload), as S3 does; GET/HEAD do not carry it.
 */
export function sseKmsResponseHeaders(record: SseKmsRecord, withContext: boolean): Record<string, string> {
  const h: Record<string, string> = { 'x-amz-server-side-encryption': 'aws:kms', [H_KEY_ID]: record.keyArn };
  if (record.bucketKey) h[H_BUCKET_KEY] = 'true';
  if (withContext) {
    const ctx = Object.fromEntries(JSON.parse(canonicalContext(record.context)) as [string, string][]);
    h[H_CONTEXT] = Buffer.from(JSON.stringify(ctx)).toString('base64');
  }
  return h;
}
