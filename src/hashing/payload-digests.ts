// Digests of a request body as it streams by: byte count, MD5 (on a worker thread for large bodies) and
// an optional flexible checksum, all on the plaintext. Used by the plain and the encrypting data paths.
import { Transform, type TransformCallback } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import { newChecksum, type ChecksumAlgorithm, type ChecksumHasher } from './checksums.ts';
import { ThreadedMd5 } from './md5-thread.ts';

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
export function payloadSizeHint(
  req: { header(name: string): string | undefined },
  target: { copySource?: { size: number }; formFields?: unknown },
): number | undefined {
  if (target.copySource) return target.copySource.size;
  if (target.formFields) return undefined;
  const v = req.header('x-amz-decoded-content-length') ?? req.header('content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** PayloadDigests of what passes through. */
export class HashingStream extends Transform {
  readonly digests: PayloadDigests;

  constructor(algorithm?: ChecksumAlgorithm, opts?: DigestOptions) {
    super();
    this.digests = new PayloadDigests(algorithm, opts);
  }

  get size(): number {
    return this.digests.size;
  }
  get md5Hex(): string {
    return this.digests.md5Hex;
  }
  get checksum(): string | undefined {
    return this.digests.checksum;
  }

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
