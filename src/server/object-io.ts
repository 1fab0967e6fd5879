// The object data path: request body → hashing (MD5 + flexible checksum, on plaintext) →
// [encryption stage] → backend.stageBlob; and backend.openObject → [decryption stage] → response.
// PlainObjectIo stores bytes as they are. The SSE part provides another ObjectIo (same interface)
// that inserts its transforms and records its parameters in ObjectRecord.encryption / PartLayout.encryption.
import { pipeline, type Readable } from 'node:stream';
import type { ChecksumAlgorithm, ObjectRecord, StagedBlob, StorageBackend, UploadRecord } from '../storage/backend.ts';
import { HashingStream, payloadSizeHint } from '../hashing/payload-digests.ts';
import { S3Error } from './errors.ts';

/** The request as a data path sees it (RequestContext has these fields; so does the SSE layer's SseRequest). */
export interface ObjectIoRequest {
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

export interface WriteTarget {
  bucket: string;
  key: string;
  /** For UploadPart / UploadPartCopy. */
  partNumber?: number;
  upload?: UploadRecord;
  /** Object being copied from (CopyObject / UploadPartCopy), for SSE copy-source keys. */
  copySource?: ObjectRecord;
  /** POST object: the form's fields (lower-case names) stand in for request headers (SSE fields included). */
  formFields?: Record<string, string>;
}

export interface Ingested {
  blob: StagedBlob;
  /** Plaintext bytes. */
  size: number;
  /** MD5 hex of the plaintext. */
  md5: string;
  /** ETag to record when it is not the MD5 (SSE-C: AWS's ETag is not the MD5 of the data). */
  etag?: string;
  /** base64 checksum of the plaintext, when an algorithm was asked for. */
  checksum?: string;
  /** Object-level encryption metadata → ObjectMeta.encryption (single PUT / copy). */
  encryption?: unknown;
  /** Segment-level encryption metadata → PartLayout.encryption / PartRecord.encryption. */
  partEncryption?: unknown;
}

export interface ObjectIo {
  /** Streams plaintext into a staged blob. The caller checks digests and then commits or discards. */
  ingest(ctx: ObjectIoRequest, source: Readable, target: WriteTarget, checksum?: ChecksumAlgorithm): Promise<Ingested>;
  /** Upload-level encryption metadata for CreateMultipartUpload (→ UploadRecord.encryption). */
  beginUpload(ctx: ObjectIoRequest, bucket: string, key: string): Promise<unknown>;
  /**
   * Called before an object's data or metadata is served (GET, HEAD) or used as a copy source; may
   * refuse with an S3Error (e.g. SSE-C object without the right customer key).
   */
  checkRead(ctx: ObjectIoRequest, record: ObjectRecord, purpose: 'read' | 'copy-source'): Promise<void>;
  /** Plaintext of a record, optionally the inclusive plaintext range [start, end]. */
  read(
    ctx: ObjectIoRequest,
    bucket: string,
    record: ObjectRecord,
    range?: { start: number; end: number },
    opts?: { copySource?: boolean },
  ): Promise<Readable>;
  /** Response headers describing a record's encryption (x-amz-server-side-encryption…); formFields: POST object. */
  responseHeaders(ctx: ObjectIoRequest, record: { encryption?: unknown }, formFields?: Record<string, string>): Record<string, string>;
}

const SSE_HEADERS = [
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-customer-algorithm',
  'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5',
  'x-amz-copy-source-server-side-encryption-customer-algorithm',
  'x-amz-copy-source-server-side-encryption-customer-key',
  'x-amz-copy-source-server-side-encryption-customer-key-md5',
];

/** Stores plaintext. Refuses SSE request headers rather than silently storing unencrypted data. */
export class PlainObjectIo implements ObjectIo {
  private refuseSse(ctx: ObjectIoRequest): void {
    for (const h of SSE_HEADERS) {
      if (ctx.header(h) !== undefined)
        throw new S3Error('NotImplemented', `Server-side encryption (${h}) is not implemented by this server`);
    }
  }

  async ingest(ctx: ObjectIoRequest, source: Readable, target: WriteTarget, checksum?: ChecksumAlgorithm): Promise<Ingested> {
    this.refuseSse(ctx);
    const hasher = new HashingStream(checksum, { sizeHint: payloadSizeHint(ctx, target) });
    const blob = await ctx.backend.stageBlob(
      target.bucket,
      pipeline(source, hasher, () => {}),
    );
    const out: Ingested = { blob, size: hasher.size, md5: hasher.md5Hex };
    if (hasher.checksum !== undefined) out.checksum = hasher.checksum;
    return out;
  }

  async beginUpload(ctx: ObjectIoRequest): Promise<unknown> {
    this.refuseSse(ctx);
    return undefined;
  }

  async checkRead(ctx: ObjectIoRequest, _record: ObjectRecord, purpose: 'read' | 'copy-source'): Promise<void> {
    if (purpose === 'read') this.refuseSse(ctx);
  }

  async read(ctx: ObjectIoRequest, bucket: string, record: ObjectRecord, range?: { start: number; end: number }): Promise<Readable> {
    return ctx.backend.openObject(bucket, record, range);
  }

  responseHeaders(): Record<string, string> {
    return {};
  }
}
