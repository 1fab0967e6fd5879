// The server's object data path with encryption at rest: every object is stored encrypted (no SSE
// headers = SSE-S3, as AWS). Fits the server's ObjectIo: ingest → hash → encrypt → stage;
// read → (only the covering chunks) → decrypt; response headers; SSE-C key checks before any read.
// It sees a request only through SseRequest (below), so the SSE layer never imports the server.
import { randomBytes } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import type { ChecksumAlgorithm, ObjectRecord, StagedBlob, StorageBackend, UploadRecord } from '../storage/backend.ts';
import { PayloadDigests, payloadSizeHint } from '../hashing/payload-digests.ts';
import type { KmsService } from '../kms/service.ts';
import { S3Error } from '../protocol/s3-errors.ts';
import { sseErrors } from './errors.ts';
import {
  hasCustomerFields,
  parseCustomerKey,
  parseReadRequest,
  parseWriteRequest,
  responseHeadersFor,
  type CustomerKey,
  type EncryptionRequest,
  type FieldGetter,
} from './headers.ts';
import { checkCustomerKey, newObjectKeys, openObjectKeys, type KeyCaller, type KeyUse, type SseKeyServices } from './keys.ts';
import { readEncryptionRecord, type EncryptionRecord } from './metadata.ts';
import { matchesSseCKey } from './sse-c.ts';
import { RootKeyProvider } from './sse-s3.ts';
import { encryptingStream, openPlaintext } from './object-crypto.ts';
import { applyBucketDefault, checkNotBlocked } from './bucket-encryption.ts';
import { KmsKeyCache, KmsServerKeys } from './kms-keys.ts';
import { sseKmsResponseHeaders } from './sse-kms.ts';

/** What the SSE data path reads from an S3 request (the server's RequestContext has these fields). */
export interface SseRequest {
  /** S3 operation name (PutObject, GetObject…). */
  readonly operation: string;
  /** The request arrived over TLS. */
  readonly secure: boolean;
  readonly query: Iterable<[string, string]>;
  readonly auth?: { readonly accessKeyId: string; readonly presigned: boolean } | undefined;
  readonly backend: Pick<StorageBackend, 'getBucket' | 'stageBlob' | 'discardBlob' | 'openObject'>;
  /** First value of a request header (name in lower case). */
  header(name: string): string | undefined;
}

/** The object a write goes to (the server's WriteTarget). */
export interface SseWriteTarget {
  bucket: string;
  key: string;
  /** Parts: the multipart upload, whose encryption record the part is written under. */
  upload?: Pick<UploadRecord, 'encryption'>;
  copySource?: Pick<ObjectRecord, 'size'>;
  /** POST object: the form's fields (lower-case names) stand in for request headers. */
  formFields?: Record<string, string>;
}

/** What an encrypted write stored (the server's Ingested). */
export interface SseIngested {
  blob: StagedBlob;
  size: number;
  md5: string;
  etag?: string;
  checksum?: string;
  encryption?: unknown;
  partEncryption?: unknown;
}

export interface SsePolicy {
  /** Accept SSE-C keys (and requests naming SSE-KMS) over plain HTTP. */
  allowInsecureSsec: boolean;
  /** The server owner's access key: the KMS caller of requests without one (POST forms). */
  ownerAccessKeyId: string;
}

const CONTEXT_ECHOING_OPERATIONS = new Set(['PutObject', 'CopyObject', 'CreateMultipartUpload', 'PostObject']);

/**
 * Request fields: headers; for presigned URLs also the query (clients may hoist x-amz-* into it);
 * for POST object the form fields instead.
 */
export function requestFields(ctx: SseRequest, formFields?: Record<string, string>): FieldGetter {
  if (formFields) return (name) => formFields[name];
  let query: Map<string, string> | undefined;
  return (name) => {
    const h = ctx.header(name);
    if (h !== undefined || !ctx.auth?.presigned) return h;
    if (!query) {
      query = new Map();
      for (const [k, v] of ctx.query) if (!query.has(k.toLowerCase())) query.set(k.toLowerCase(), v);
    }
    return query.get(name);
  };
}

/** Requests carrying an SSE-C key must come over TLS unless the operator allowed otherwise. */
export function requireSecureForCustomerKeys(ctx: SseRequest, get: FieldGetter, allowInsecure: boolean): void {
  if (ctx.secure || allowInsecure) return;
  if (hasCustomerFields(get, 'target') || hasCustomerFields(get, 'source')) throw sseErrors.insecureTransport();
}

/** A random ETag for SSE-C and SSE-KMS objects and parts: AWS's is not the MD5 of the data (and for SSE-C an MD5 would reveal it). */
function opaqueEtag(): string {
  return randomBytes(16).toString('hex');
}

export class SseObjectIo {
  constructor(
    private readonly keys: SseKeyServices,
    private readonly policy: SsePolicy,
  ) {}

  /**
   * With a KMS: SSE-KMS, and SSE-S3 secrets from the KMS (one sealing path); objects written under the
   * root-key master key stay readable. Without one: SSE-S3 on the server's root key, no SSE-KMS.
   * The caller owns `rootKey` and zeroes it; the providers keep only keys derived from it.
   */
  static open(rootKey: Buffer, policy: SsePolicy, kms?: KmsService): SseObjectIo {
    if (!kms) return new SseObjectIo({ serverKeys: new RootKeyProvider(rootKey) }, policy);
    const cache = new KmsKeyCache(kms);
    return new SseObjectIo({ serverKeys: new KmsServerKeys(cache, new RootKeyProvider(rootKey)), kms: cache }, policy);
  }

  /** The principal KMS calls are made for (audit log): the request's access key, or the owner's for a POST form. */
  private caller(ctx: SseRequest): KeyCaller {
    return { accessKeyId: ctx.auth?.accessKeyId ?? this.policy.ownerAccessKeyId };
  }

  /** A write's encryption request with the bucket's default encryption applied; 403 when the bucket blocks SSE-C. */
  private async writeRequest(ctx: SseRequest, get: FieldGetter, bucket: string): Promise<EncryptionRequest> {
    const { config } = await ctx.backend.getBucket(bucket);
    const req = parseWriteRequest(get);
    // AWS refuses requests naming SSE-KMS over plain HTTP (a bucket default over HTTP is fine).
    if (req.mode === 'SSE-KMS' && !ctx.secure && !this.policy.allowInsecureSsec) throw sseErrors.kmsInsecureTransport();
    if (req.mode === 'SSE-C') {
      try {
        checkNotBlocked(config, 'SSE-C');
      } catch (e) {
        req.customer.key.fill(0);
        throw e;
      }
    }
    return applyBucketDefault(req, config);
  }

  async ingest(ctx: SseRequest, source: Readable, target: SseWriteTarget, checksum?: ChecksumAlgorithm): Promise<SseIngested> {
    const get = requestFields(ctx, target.formFields);
    requireSecureForCustomerKeys(ctx, get, this.policy.allowInsecureSsec);
    let kek: Buffer;
    let record: EncryptionRecord | undefined; // object-level record (not for parts: the upload has it)
    let mode: EncryptionRecord['mode'];
    const customer = target.upload ? parseCustomerKey(get, 'target') : undefined;
    try {
      if (target.upload) {
        const uploadRecord = readEncryptionRecord(target.upload.encryption);
        if (!uploadRecord)
          throw new S3Error('InvalidRequest', 'This multipart upload was created without encryption and cannot take parts on this server.');
        kek = await openObjectKeys(uploadRecord, customer, target.bucket, target.key, this.keys, 'part', this.caller(ctx));
        mode = uploadRecord.mode;
      } else {
        const req = await this.writeRequest(ctx, get, target.bucket);
        const keys = await newObjectKeys(req, target.bucket, target.key, this.keys, this.caller(ctx));
        if (req.mode === 'SSE-C') req.customer.key.fill(0);
        kek = keys.kek;
        record = keys.record;
        mode = record.mode;
      }
    } finally {
      customer?.key.fill(0);
    }
    // SSE-C and SSE-KMS ETags are not MD5s (AWS): the MD5 is computed only to check a Content-MD5.
    const md5 = (mode !== 'SSE-C' && mode !== 'SSE-KMS') || ctx.header('content-md5') !== undefined;
    const hasher = new PayloadDigests(checksum, { md5, sizeHint: payloadSizeHint(ctx, target) });
    const enc = encryptingStream(kek, target.bucket, target.key, undefined, hasher);
    kek.fill(0);
    let blob;
    try {
      blob = await ctx.backend.stageBlob(
        target.bucket,
        pipeline(source, enc.stream, () => {}),
      );
      await hasher.settled();
    } catch (e) {
      hasher.dispose();
      if (blob) await ctx.backend.discardBlob(target.bucket, blob);
      throw e;
    }
    const out: SseIngested = { blob, size: hasher.size, md5: hasher.md5Hex, partEncryption: enc.record };
    if (mode === 'SSE-C' || mode === 'SSE-KMS') out.etag = opaqueEtag();
    if (record) out.encryption = record;
    if (hasher.checksum !== undefined) out.checksum = hasher.checksum;
    return out;
  }

  async beginUpload(ctx: SseRequest, bucket: string, key: string): Promise<unknown> {
    const get = requestFields(ctx);
    requireSecureForCustomerKeys(ctx, get, this.policy.allowInsecureSsec);
    const req = await this.writeRequest(ctx, get, bucket);
    const { record, kek } = await newObjectKeys(req, bucket, key, this.keys, this.caller(ctx));
    kek.fill(0);
    if (req.mode === 'SSE-C') req.customer.key.fill(0);
    return record;
  }

  private customerFor(ctx: SseRequest, use: 'read' | 'source'): CustomerKey | undefined {
    const get = requestFields(ctx);
    requireSecureForCustomerKeys(ctx, get, this.policy.allowInsecureSsec);
    return parseReadRequest(get, use === 'source' ? 'source' : 'target');
  }

  async checkRead(ctx: SseRequest, record: ObjectRecord, purpose: 'read' | 'copy-source'): Promise<void> {
    const use: KeyUse = purpose === 'copy-source' ? 'source' : 'read';
    const customer = this.customerFor(ctx, use);
    try {
      checkCustomerKey(readEncryptionRecord(record.encryption), customer, use);
    } finally {
      customer?.key.fill(0);
    }
  }

  async read(
    ctx: SseRequest,
    bucket: string,
    record: ObjectRecord,
    range?: { start: number; end: number },
    opts?: { copySource?: boolean },
  ): Promise<Readable> {
    const enc = readEncryptionRecord(record.encryption);
    // Objects stored before encryption at rest existed (or by the plain data path) are served as they are.
    if (!enc) return ctx.backend.openObject(bucket, record, range);
    const use: KeyUse = opts?.copySource ? 'source' : 'read';
    const customer = this.customerFor(ctx, use);
    let kek: Buffer;
    try {
      kek = await openObjectKeys(enc, customer, bucket, record.key, this.keys, use, this.caller(ctx));
    } finally {
      customer?.key.fill(0);
    }
    try {
      return await openPlaintext(record.parts, (r) => ctx.backend.openObject(bucket, record, r), kek, bucket, record.key, range);
    } finally {
      kek.fill(0);
    }
  }

  responseHeaders(ctx: SseRequest, record: { encryption?: unknown }, formFields?: Record<string, string>): Record<string, string> {
    let enc: EncryptionRecord | undefined;
    try {
      enc = readEncryptionRecord(record.encryption);
    } catch {
      return {};
    }
    // S3 returns the KMS encryption context from the writes that set it, not from GET/HEAD.
    if (enc?.mode === 'SSE-KMS') return sseKmsResponseHeaders(enc, CONTEXT_ECHOING_OPERATIONS.has(ctx.operation));
    if (enc?.mode !== 'SSE-C') return responseHeadersFor(enc?.mode);
    // The key MD5 is not stored: echo the request's, once it is known to be this object's key.
    let keyMd5: string | undefined;
    try {
      const customer = parseCustomerKey(requestFields(ctx, formFields), 'target');
      if (customer && matchesSseCKey(enc, customer)) keyMd5 = customer.keyMd5;
      customer?.key.fill(0);
    } catch {
      /* no (valid) key in this request: the algorithm alone */
    }
    return keyMd5 === undefined ? responseHeadersFor('SSE-C') : responseHeadersFor('SSE-C', { keyMd5 });
  }
}
