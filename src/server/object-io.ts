// The object data path: request body → hashing (MD5 + flexible checksum, on plaintext) →
// [encryption stage] → backend.stageBlob; and backend.openObject → [decryption stage] → response.
// PlainObjectIo stores bytes as they are. The SSE part provides another ObjectIo (same interface)
// that inserts its transforms and records its parameters in ObjectRecord.encryption / PartLayout.encryption.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import type { ChecksumAlgorithm, ObjectRecord, StagedBlob, UploadRecord } from '../storage/backend.ts';
import { newChecksum, type ChecksumHasher } from './checksums.ts';
import { ThreadedMd5 } from '../hashing/md5-thread.ts';
import { S3Error } from './errors.ts';
import type { RequestContext } from './context.ts';

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
  ingest(ctx: RequestContext, source: Readable, target: WriteTarget, checksum?: ChecksumAlgorithm): Promise<Ingested>;
  /** Upload-level encryption metadata for CreateMultipartUpload (→ UploadRecord.encryption). */
  beginUpload(ctx: RequestContext, bucket: string, key: string): Promise<unknown>;
  /**
   * Called before an object's data or metadata is served (GET, HEAD) or used as a copy source; may
   * refuse with an S3Error (e.g. SSE-C object without the right customer key).
   */
  checkRead(ctx: RequestContext, record: ObjectRecord, purpose: 'read' | 'copy-source'): Promise<void>;
  /** Plaintext of a record, optionally the inclusive plaintext range [start, end]. */
  read(ctx: RequestContext, bucket: string, record: ObjectRecord, range?: { start: number; end: number }, opts?: { copySource?: boolean }): Promise<Readable>;
  /** Response headers describing a record's encryption (x-amz-server-side-encryption…); formFields: POST object. */
  responseHeaders(ctx: RequestContext, record: { encryption?: unknown }, formFields?: Record<string, string>): Record<string, string>;
}

/** Bodies at least this large (or of unknown size) have their MD5 computed on the worker thread. */
const THREADED_MD5_FROM = 1024 * 1024;

export interface DigestOptions {
  /** Compute the MD5 (default true). SSE-C and SSE-KMS ETags are not MD5s: they need it only for Content-MD5. */
  md5?: boolean;
  /** Expected body size, when known: small bodies hash inline (a worker round trip would cost more). */
  sizeHint?: number;
}

/**
 * Counts bytes and computes MD5 and an optional checksum of the bytes fed to update(); finish() once at
 * the end, then `await settled()` before reading md5Hex (a large body's MD5 comes from the worker thread).
 */
export class PayloadDigests {
  size = 0;
  private md5?: Hash;
  private threaded?: ThreadedMd5;
  private pendingMd5?: Promise<string>;
  private sum?: ChecksumHasher;
  md5Hex = '';
  checksum?: string;

  constructor(algorithm?: ChecksumAlgorithm, opts: DigestOptions = {}) {
    if (algorithm) this.sum = newChecksum(algorithm);
    if (opts.md5 === false) return;
    const hint = opts.sizeHint;
    if (hint !== undefined && Number.isFinite(hint) && hint < THREADED_MD5_FROM) {
      this.md5 = createHash('md5');
      return;
    }
    try {
      this.threaded = new ThreadedMd5();
    } catch {
      this.md5 = createHash('md5'); // no worker thread to be had (resource limits): hash inline
    }
  }

  update(chunk: Buffer): void {
    this.size += chunk.length;
    this.md5?.update(chunk);
    this.threaded?.update(chunk);
    this.sum?.update(chunk);
  }

  /** Pending while the MD5 thread is too far behind: callers pause their input until it settles. */
  backlog(): Promise<void> | undefined {
    return this.threaded?.backlog();
  }

  finish(): void {
    if (this.md5) this.md5Hex = this.md5.digest('hex');
    if (this.threaded) this.pendingMd5 = this.threaded.digest();
    if (this.sum) this.checksum = this.sum.digest().toString('base64');
  }

  /** Resolves once every digest is known (after finish()). */
  async settled(): Promise<void> {
    if (this.pendingMd5) this.md5Hex = await this.pendingMd5;
  }

  /** Releases the MD5 thread's state of an abandoned body. */
  dispose(): void {
    this.threaded?.dispose();
  }
}

/** Size of a write's plaintext when the request says it (a hint for PayloadDigests), else undefined. */
export function payloadSizeHint(ctx: RequestContext, target: WriteTarget): number | undefined {
  if (target.copySource) return target.copySource.size;
  if (target.formFields) return undefined;
  const v = ctx.header('x-amz-decoded-content-length') ?? ctx.header('content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** PayloadDigests of what passes through. */
export class HashingStream extends Transform {
  readonly digests: PayloadDigests;

  constructor(algorithm?: ChecksumAlgorithm, opts?: DigestOptions) {
    super();
    this.digests = new PayloadDigests(algorithm, opts);
  }

  get size(): number { return this.digests.size; }
  get md5Hex(): string { return this.digests.md5Hex; }
  get checksum(): string | undefined { return this.digests.checksum; }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.digests.update(chunk);
    this.push(chunk);
    const wait = this.digests.backlog();
    if (wait) wait.then(() => cb(), cb);
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.digests.finish();
    this.digests.settled().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.digests.dispose();
    cb(err);
  }
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
  private refuseSse(ctx: RequestContext): void {
    for (const h of SSE_HEADERS) {
      if (ctx.header(h) !== undefined) throw new S3Error('NotImplemented', `Server-side encryption (${h}) is not implemented by this server`);
    }
  }

  async ingest(ctx: RequestContext, source: Readable, target: WriteTarget, checksum?: ChecksumAlgorithm): Promise<Ingested> {
    this.refuseSse(ctx);
    const hasher = new HashingStream(checksum, { sizeHint: payloadSizeHint(ctx, target) });
    const blob = await ctx.backend.stageBlob(target.bucket, pipeline(source, hasher, () => {}));
    const out: Ingested = { blob, size: hasher.size, md5: hasher.md5Hex };
    if (hasher.checksum !== undefined) out.checksum = hasher.checksum;
    return out;
  }

  async beginUpload(ctx: RequestContext): Promise<unknown> {
    this.refuseSse(ctx);
    return undefined;
  }

  async checkRead(ctx: RequestContext, _record: ObjectRecord, purpose: 'read' | 'copy-source'): Promise<void> {
    if (purpose === 'read') this.refuseSse(ctx);
  }

  async read(ctx: RequestContext, bucket: string, record: ObjectRecord, range?: { start: number; end: number }): Promise<Readable> {
    return ctx.backend.openObject(bucket, record, range);
  }

  responseHeaders(): Record<string, string> {
    return {};
  }
}
