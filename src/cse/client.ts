// The encrypting S3 client (what OSS calls a CryptoBucket and AWS an S3 Encryption Client), on
// @aws-sdk/client-s3, for any S3 endpoint. Envelope encryption: a fresh data key per object (per multipart
// upload), wrapped by the first master key; reading picks the matching key among all of them.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { Readable, Transform, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand,
  type CompletedPart, type HeadObjectCommandOutput, type ListObjectsV2CommandOutput, type S3Client,
} from '@aws-sdk/client-s3';
import { CseError, badArg } from './errors.ts';
import type { MasterKey } from './keys.ts';
import type { CseDescription, CseFormat, ObjectEncryptor, UserMetadata } from './format.ts';
import { createObjectEncryptor, describeObject, looksLikeEsdk, metadataFormat, openObjectDecryptor, resumeObjectEncryptor } from './formats.ts';
import { pipelineDuplex } from './pipe.ts';

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/** Server-side encryption passed through to S3 unchanged (it stacks with client-side encryption). */
export interface SseOptions {
  ServerSideEncryption?: 'AES256' | 'aws:kms' | 'aws:kms:dsse';
  SSEKMSKeyId?: string;
  /** SSE-C: the 256-bit customer key (the SDK sends its base64 and MD5). */
  SSECustomerKey?: Buffer;
  /** SSE-C key of the copy source. */
  CopySourceSSECustomerKey?: Buffer;
}

export interface CseClientOptions {
  s3: S3Client;
  /** Master keys. The first encrypts new objects; all are candidates for decryption. */
  keys: MasterKey[];
  /** Format of new objects (default 'esdk'). */
  format?: CseFormat;
  partSize?: number;
  /** Objects larger than this go multipart (default 2 × partSize). */
  multipartThreshold?: number;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
}

export type Progress = (done: number, total?: number) => void;

export interface UploadOptions {
  Metadata?: UserMetadata;
  ContentType?: string;
  sse?: SseOptions;
  format?: CseFormat;
  /** Resumable upload: where the checkpoint lives (removed on success). Files only. */
  checkpoint?: string;
  onProgress?: Progress;
  /** Called after each finished part (multipart only). */
  onPart?: (partNumber: number) => void;
  signal?: AbortSignal;
}

export interface DownloadOptions {
  /** Plaintext bytes [start, end] inclusive. */
  range?: { start: number; end?: number };
  sse?: SseOptions;
  checkpoint?: string;
  onProgress?: Progress;
  signal?: AbortSignal;
}

export interface GetResult {
  Body: Readable;
  /** Plaintext bytes the body will yield, when known up front. */
  ContentLength?: number;
  /** The object's own user metadata, without the encryption entries. */
  Metadata: UserMetadata;
  encryption?: CseDescription;
  /** False for reads that skip authentication (S3EC ranges) and for plaintext objects. */
  authenticated: boolean;
  ETag?: string;
}

export interface HeadResult { head: HeadObjectCommandOutput; encryption?: CseDescription; sse: string; plainSize?: number }

interface UploadCheckpoint {
  version: 1;
  kind: 'upload';
  bucket: string; key: string;
  file: { path: string; size: number; mtimeMs: number };
  format: CseFormat;
  partSize: number;
  uploadId: string;
  /** The object's encryption metadata: the data key only in wrapped form. */
  metadata: UserMetadata;
  parts: Array<{ PartNumber: number; ETag: string }>;
}

interface DownloadCheckpoint {
  version: 1;
  kind: 'download';
  bucket: string; key: string;
  etag: string; storedSize: number; partSize: number;
  /** Stored (still encrypted) bytes land here first. */
  cipherFile: string;
  done: number[];
}

const isCseKey = (k: string) => metadataFormat({ [k]: '' }) !== undefined || k.startsWith('client-side-encryption-') || k.startsWith('kura-cse') ||
  ['x-amz-iv', 'x-amz-cek-alg', 'x-amz-wrap-alg', 'x-amz-matdesc', 'x-amz-tag-len', 'x-amz-unencrypted-content-length', 'x-amz-unencrypted-content-md5'].includes(k);

function sseInput(sse: SseOptions | undefined) {
  if (!sse) return {};
  return {
    ServerSideEncryption: sse.ServerSideEncryption,
    SSEKMSKeyId: sse.SSEKMSKeyId,
    ...(sse.SSECustomerKey ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sse.SSECustomerKey as unknown as string } : {}),
  };
}
function ssecRead(sse: SseOptions | undefined) {
  return sse?.SSECustomerKey ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sse.SSECustomerKey as unknown as string } : {};
}

/** Counts bytes flowing through for progress reports. */
function counter(onProgress: Progress | undefined, total: number | undefined, start = 0): Transform {
  let n = start;
  return new Transform({ transform(c: Buffer, _e, cb) { n += c.length; onProgress?.(n, total); cb(null, c); } });
}

/** `stream`, followed by a byte counter only when someone listens (one stage less per chunk otherwise). */
function withProgress(stream: Duplex, onProgress: Progress | undefined, total: number | undefined): Duplex[] {
  return onProgress ? [stream, counter(onProgress, total)] : [stream];
}

async function atomicWriteJson(path: string, v: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(v), { mode: 0o600 });
  await rename(tmp, path);
}

async function readJson<T>(path: string | undefined): Promise<T | undefined> {
  if (!path) return undefined;
  try { return JSON.parse(await readFile(path, 'utf8')) as T; } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw badArg(`checkpoint ${path} is unreadable`);
  }
}

/** Runs `work(i)` for i in [0, n) with at most `limit` in flight; the first failure stops new work. */
async function parallel(n: number, limit: number, work: (i: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < n) {
      signal?.throwIfAborted();
      const i = next++;
      try { await work(i); } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, Math.max(n, 1)) }, worker));
  if (failed !== undefined) throw failed;
}

/** A part of `length` bytes held as the pieces it arrived in (not copied into one Buffer). */
interface HeldPart { pieces: Buffer[]; length: number }

/** Cuts a stream into parts of `size` bytes (the last may be shorter): bounded memory per part. */
async function* cutParts(src: AsyncIterable<Buffer>, size: number): AsyncGenerator<HeldPart> {
  let pieces: Buffer[] = [];
  let have = 0;
  for await (const chunk of src) {
    let c = chunk;
    while (c.length) {
      const n = Math.min(c.length, size - have);
      pieces.push(c.subarray(0, n));
      have += n;
      c = c.subarray(n);
      if (have === size) { yield { pieces, length: have }; pieces = []; have = 0; }
    }
  }
  if (have > 0) yield { pieces, length: have };
}

const md5Hex = (p: HeldPart) => { const h = createHash('md5'); for (const b of p.pieces) h.update(b); return h.digest('hex'); };

/** File reads in 1 MiB pieces: fewer reads, cipher calls and socket writes than the 64 KiB default. */
const READ_SIZE = 1024 * 1024;

/**
 * Decrypted pieces (64 KiB chunks) queue up to this much while a file write is in flight, and then go out
 * in one writev: far fewer write calls than one per chunk (the 16 KiB default allows no queue).
 */
const WRITE_BUFFER = 4 * 1024 * 1024;

/** MD5 of a file, read through one reused buffer (no allocation per read). */
async function fileMd5(path: string): Promise<Buffer> {
  const h = createHash('md5');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_SIZE);
    for (let n; (n = (await fh.read(buf, 0, buf.length, null)).bytesRead) > 0;) h.update(buf.subarray(0, n));
  } finally {
    await fh.close();
  }
  return h.digest();
}

export class CseClient {
  readonly s3: S3Client;
  keys: MasterKey[];
  format: CseFormat;
  partSize: number;
  multipartThreshold: number;
  concurrency: number;

  constructor(o: CseClientOptions) {
    this.s3 = o.s3;
    this.keys = o.keys;
    this.format = o.format ?? 'esdk';
    this.partSize = o.partSize ?? DEFAULT_PART_SIZE;
    this.multipartThreshold = o.multipartThreshold ?? 2 * this.partSize;
    this.concurrency = o.concurrency ?? 4;
  }

  private encryptionKey(): MasterKey {
    const k = this.keys[0];
    if (!k) throw badArg('encrypting needs a master key (--cse-key)');
    return k;
  }

  private partSizeFor(enc: ObjectEncryptor | undefined, format: CseFormat): number {
    let p = Math.max(this.partSize, 16);
    const align = format === 'oss' ? 16 : 1;
    p -= p % align;
    return p;
  }

  // ---------------------------------------------------------------- upload

  /** Encrypts and stores a Buffer or stream (size unknown: multipart past one part). */
  async putObject(Bucket: string, Key: string, body: Buffer | Readable, opts: UploadOptions = {}): Promise<{ ETag?: string }> {
    const format = opts.format ?? this.format;
    if (Buffer.isBuffer(body)) {
      const md5 = createHash('md5').update(body).digest();
      return this.uploadSource(Bucket, Key, { size: body.length, md5, open: () => Readable.from([body]), part: (o, l) => Readable.from([body.subarray(o, o + l)]) }, format, opts);
    }
    return this.uploadSource(Bucket, Key, { open: () => body }, format, opts);
  }

  /** Encrypts and uploads a local file; with `checkpoint`, an interrupted upload resumes where it stopped. */
  async uploadFile(path: string, Bucket: string, Key: string, opts: UploadOptions = {}): Promise<{ ETag?: string }> {
    const format = opts.format ?? this.format;
    const st = await stat(path);
    const size = st.size;
    let md5: Buffer | undefined;
    // OSS stores the plaintext MD5 (its only integrity check, CTR being unauthenticated): one extra read pass.
    if (format === 'oss') md5 = await fileMd5(path);
    return this.uploadSource(Bucket, Key, {
      size, md5, mtimeMs: st.mtimeMs, path,
      open: () => createReadStream(path, { highWaterMark: READ_SIZE }),
      part: (o, l) => (l === 0 ? Readable.from([]) : createReadStream(path, { start: o, end: o + l - 1, highWaterMark: READ_SIZE })),
    }, format, opts);
  }

  private async uploadSource(Bucket: string, Key: string, src: {
    size?: number; md5?: Buffer; mtimeMs?: number; path?: string;
    open: () => Readable; part?: (offset: number, length: number) => Readable;
  }, format: CseFormat, opts: UploadOptions): Promise<{ ETag?: string }> {
    const multipart = src.size === undefined || src.size > this.multipartThreshold;
    const partSize = this.partSizeFor(undefined, format);
    if (opts.checkpoint && !src.path) throw badArg('resumable uploads need a file');
    if (opts.checkpoint && format === 'esdk' && multipart) throw badArg('ESDK uploads cannot resume: each message has its own random data key and message id; use --cse-format kura, oss or s3ec');

    const cp = multipart ? await readJson<UploadCheckpoint>(opts.checkpoint) : undefined;
    if (cp) {
      if (cp.kind !== 'upload' || cp.bucket !== Bucket || cp.key !== Key || cp.file.path !== src.path) throw badArg(`checkpoint ${opts.checkpoint} belongs to another transfer`);
      if (cp.file.size !== src.size || cp.file.mtimeMs !== src.mtimeMs) throw new CseError('LocalFileChanged', `${src.path} changed since the interrupted upload; delete ${opts.checkpoint} to start over`);
      const enc = await resumeObjectEncryptor(cp.metadata, this.keys);
      return this.multipart(Bucket, Key, src, enc, cp.partSize, opts, cp);
    }

    const enc = await createObjectEncryptor(format, this.encryptionKey(), { plainSize: src.size, md5: src.md5, partSize: multipart ? partSize : undefined });
    const Metadata = { ...opts.Metadata, ...enc.metadata };
    if (!multipart) {
      const size = src.size!;
      const cipherSize = enc.cipherSize(size);
      let Body: Readable | Buffer = pipelineDuplex(...withProgress(src.open() as unknown as Duplex, opts.onProgress, size), enc.stream()) as unknown as Readable;
      // ESDK's size is not known in advance: collect it (at most one multipart threshold plus overhead).
      if (cipherSize === undefined) Body = Buffer.concat(await Readable.from(Body).toArray());
      const r = await this.s3.send(new PutObjectCommand({
        Bucket, Key, Body, ContentLength: cipherSize ?? (Body as Buffer).length, Metadata, ContentType: opts.ContentType, ...sseInput(opts.sse),
      }), { abortSignal: opts.signal });
      return { ETag: r.ETag };
    }
    return this.multipart(Bucket, Key, src, enc, partSize, opts);
  }

  private async multipart(Bucket: string, Key: string, src: { size?: number; mtimeMs?: number; path?: string; open: () => Readable; part?: (o: number, l: number) => Readable },
    enc: ObjectEncryptor, partSize: number, opts: UploadOptions, cp?: UploadCheckpoint): Promise<{ ETag?: string }> {
    let uploadId = cp?.uploadId;
    if (!uploadId) {
      const r = await this.s3.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: { ...opts.Metadata, ...enc.metadata }, ContentType: opts.ContentType, ...sseInput(opts.sse) }));
      uploadId = r.UploadId!;
    }
    const state: UploadCheckpoint | undefined = opts.checkpoint ? cp ?? {
      version: 1, kind: 'upload', bucket: Bucket, key: Key, file: { path: src.path!, size: src.size!, mtimeMs: src.mtimeMs! },
      format: enc.format, partSize, uploadId, metadata: enc.metadata, parts: [],
    } : undefined;
    const done = new Map<number, string>((cp?.parts ?? []).map((p) => [p.PartNumber, p.ETag]));
    let saving = Promise.resolve();
    const save = () => { if (state) { state.parts = [...done].map(([PartNumber, ETag]) => ({ PartNumber, ETag })); const s = { ...state }; saving = saving.then(() => atomicWriteJson(opts.checkpoint!, s)); } return saving; };
    await save();
    const sse = opts.sse?.SSECustomerKey ? ssecRead(opts.sse) : {};
    let progress = 0;
    const report = (n: number) => { progress += n; opts.onProgress?.(progress, src.size); };
    const put = async (PartNumber: number, Body: Readable | Buffer, ContentLength: number) => {
      const r = await this.s3.send(new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber, Body, ContentLength, ...sse }), { abortSignal: opts.signal });
      done.set(PartNumber, r.ETag!);
      await save();
      opts.onPart?.(PartNumber);
    };
    try {
      if (enc.part && enc.partAlign && src.part && src.size !== undefined && partSize % enc.partAlign === 0) {
        // Independent parts (CTR, Kura segments): read, encrypt and send in parallel.
        const size = src.size;
        const n = Math.max(1, Math.ceil(size / partSize));
        for (const p of done.keys()) report(Math.min(partSize, size - (p - 1) * partSize));
        await parallel(n, this.concurrency, async (i) => {
          if (done.has(i + 1)) return;
          const off = i * partSize, len = Math.min(partSize, size - off), last = i === n - 1;
          const body = pipelineDuplex(src.part!(off, len) as unknown as Duplex, enc.part!(off, len, last)) as unknown as Readable;
          await put(i + 1, body, enc.partCipherSize!(off, len, last));
          report(len);
        }, opts.signal);
      } else {
        // Sequential formats (GCM stream, ESDK message): encrypt in order, send finished parts concurrently.
        // A resumed S3EC upload re-encrypts from the start (deterministic given key and IV) and skips the
        // parts already stored, checking each against its ETag where that is the part's MD5.
        const cipher = pipelineDuplex(...withProgress(src.open() as unknown as Duplex, opts.onProgress, src.size), enc.stream());
        const inflight = new Set<Promise<void>>();
        let failed: unknown;
        let partNumber = 0;
        for await (const part of cutParts(cipher, partSize)) {
          opts.signal?.throwIfAborted();
          if (failed !== undefined) break;
          const pn = ++partNumber;
          const have = done.get(pn);
          if (have !== undefined) {
            const etag = have.replace(/"/g, '');
            if (/^[0-9a-f]{32}$/.test(etag) && !opts.sse && etag !== md5Hex(part)) throw new CseError('LocalFileChanged', `part ${pn} differs from the stored one: the source changed`);
            continue;
          }
          // Streamed, not a Buffer: the SDK would hash a Buffer body (SigV4 over HTTP), a second pass over
          // every byte; the content is authenticated by the format itself.
          const p = put(pn, Readable.from(part.pieces, { objectMode: false }), part.length).catch((e) => { failed ??= e; }).finally(() => inflight.delete(p));
          inflight.add(p);
          if (inflight.size >= this.concurrency) await Promise.race(inflight);
        }
        await Promise.all(inflight);
        if (failed !== undefined) throw failed;
        if (partNumber === 0) await put(1, Buffer.alloc(0), 0);
      }
      await saving;
      const Parts: CompletedPart[] = [...done].sort((a, b) => a[0] - b[0]).map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
      const r = await this.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts }, ...sse }));
      if (opts.checkpoint) await rm(opts.checkpoint, { force: true });
      return { ETag: r.ETag };
    } catch (e) {
      await saving.catch(() => undefined);
      // Without a checkpoint nothing can resume: free the parts.
      if (!opts.checkpoint) await this.s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => undefined);
      throw e;
    }
  }

  // ---------------------------------------------------------------- explicit multipart (independent-part formats)

  /** Starts a multipart upload with its own crypto context; parts may then be sent in any order, in parallel. */
  async createMultipartUpload(Bucket: string, Key: string, o: { dataSize: number; partSize: number; format?: CseFormat; Metadata?: UserMetadata; sse?: SseOptions }): Promise<MultipartContext> {
    const format = o.format ?? this.format;
    const enc = await createObjectEncryptor(format, this.encryptionKey(), { plainSize: o.dataSize, partSize: o.partSize });
    if (!enc.part || !enc.partAlign || o.partSize % enc.partAlign !== 0) throw badArg(`format ${format} encrypts parts in order; use putObject/uploadFile (or --cse-format oss|kura)`);
    const r = await this.s3.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: { ...o.Metadata, ...enc.metadata }, ...sseInput(o.sse) }));
    return { Bucket, Key, UploadId: r.UploadId!, dataSize: o.dataSize, partSize: o.partSize, encryptor: enc, sse: o.sse };
  }

  async uploadPart(ctx: MultipartContext, PartNumber: number, plaintext: Buffer): Promise<CompletedPart> {
    const off = (PartNumber - 1) * ctx.partSize;
    const last = off + ctx.partSize >= ctx.dataSize;
    if (plaintext.length !== Math.min(ctx.partSize, ctx.dataSize - off)) throw badArg(`part ${PartNumber} must hold ${Math.min(ctx.partSize, ctx.dataSize - off)} bytes`);
    const body = Buffer.concat(await Readable.from([plaintext]).pipe(ctx.encryptor.part!(off, plaintext.length, last)).toArray());
    const r = await this.s3.send(new UploadPartCommand({ Bucket: ctx.Bucket, Key: ctx.Key, UploadId: ctx.UploadId, PartNumber, Body: body, ContentLength: body.length, ...ssecRead(ctx.sse) }));
    return { PartNumber, ETag: r.ETag };
  }

  async completeMultipartUpload(ctx: MultipartContext, parts: CompletedPart[]): Promise<{ ETag?: string }> {
    const Parts = [...parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
    const r = await this.s3.send(new CompleteMultipartUploadCommand({ Bucket: ctx.Bucket, Key: ctx.Key, UploadId: ctx.UploadId, MultipartUpload: { Parts }, ...ssecRead(ctx.sse) }));
    return { ETag: r.ETag };
  }

  async abortMultipartUpload(ctx: MultipartContext): Promise<void> {
    await this.s3.send(new AbortMultipartUploadCommand({ Bucket: ctx.Bucket, Key: ctx.Key, UploadId: ctx.UploadId }));
  }

  // ---------------------------------------------------------------- read

  async headObject(Bucket: string, Key: string, sse?: SseOptions): Promise<HeadResult> {
    const head = await this.s3.send(new HeadObjectCommand({ Bucket, Key, ...ssecRead(sse) }));
    const meta = head.Metadata ?? {};
    let encryption = await describeObject(meta);
    if (!encryption && (head.ContentLength ?? 0) > 0) {
      // No CSE metadata: an ESDK message shows itself in its first bytes.
      const r = await this.s3.send(new GetObjectCommand({ Bucket, Key, Range: 'bytes=0-16383', ...ssecRead(sse) }));
      const first = Buffer.from(await r.Body!.transformToByteArray());
      encryption = await describeObject(meta, first);
    }
    const sseText = head.SSECustomerAlgorithm ? `SSE-C (${head.SSECustomerAlgorithm})`
      : head.ServerSideEncryption === 'aws:kms' || head.ServerSideEncryption === 'aws:kms:dsse' ? `SSE-KMS (${head.SSEKMSKeyId ?? 'default key'})`
      : head.ServerSideEncryption === 'AES256' ? 'SSE-S3 (AES256)' : 'none';
    const stored = head.ContentLength ?? 0;
    const plainSize = !encryption ? stored : encryption.plainSize ?? (encryption.format === 's3ec' ? stored - 16 : encryption.format === 'oss' ? stored : undefined);
    return { head, encryption, sse: sseText, plainSize };
  }

  /** Reads and decrypts an object (or a plaintext range of it). Plaintext objects come back as they are. */
  async getObject(Bucket: string, Key: string, opts: { range?: { start: number; end?: number }; sse?: SseOptions; signal?: AbortSignal } = {}): Promise<GetResult> {
    const read = ssecRead(opts.sse);
    if (!opts.range) {
      const r = await this.fetchWhole(Bucket, Key, read, opts.signal);
      return this.decryptBody(r.Metadata, r.Body, r.size, r.ETag);
    }
    const { head, encryption } = await this.headObject(Bucket, Key, opts.sse);
    const meta = head.Metadata ?? {};
    const stored = head.ContentLength ?? 0;
    const format = encryption?.format;
    if (!format) {
      const end = Math.min(opts.range.end ?? stored - 1, stored - 1);
      const r = await this.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${opts.range.start}-${end}`, ...read }), { abortSignal: opts.signal });
      return { Body: r.Body as Readable, ContentLength: r.ContentLength, Metadata: meta, authenticated: false, ETag: r.ETag };
    }
    const dec = await openObjectDecryptor(format, meta, this.keys, stored);
    if (!dec.range || dec.plainSize === undefined) {
      // ESDK messages have no random access: decrypt from the start and keep the asked bytes.
      const whole = await this.getObject(Bucket, Key, { sse: opts.sse, signal: opts.signal });
      const { sliceTransform } = await import('./streams.ts');
      const len = opts.range.end === undefined ? undefined : opts.range.end - opts.range.start + 1;
      return { ...whole, ContentLength: len, Body: pipelineDuplex(whole.Body as unknown as Duplex, sliceTransform(opts.range.start, len)) as unknown as Readable };
    }
    const end = Math.min(opts.range.end ?? dec.plainSize - 1, dec.plainSize - 1);
    if (opts.range.start > end) throw new CseError('BadArgument', `range starts beyond the object's ${dec.plainSize} bytes`);
    const plan = dec.range(opts.range.start, end);
    const r = await this.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${plan.storedStart}-${plan.storedEnd}`, ...read }), { abortSignal: opts.signal });
    return {
      Body: pipelineDuplex(r.Body as unknown as Duplex, plan.transform()) as unknown as Readable,
      ContentLength: end - opts.range.start + 1, Metadata: userMeta(meta), encryption, authenticated: plan.authenticated, ETag: r.ETag,
    };
  }

  /**
   * The stored bytes of a whole object as one stream, fetched as ranged GETs of `partSize` bytes with up to
   * `concurrency` requests open at once (as `aws s3 cp` does), read in order: the server prepares the next
   * parts (up to what the socket buffers hold) while this side decrypts, and nothing is held in memory here.
   * The first GET (bytes 0..partSize-1) brings the metadata and the total size; the others are bound to its
   * ETag (If-Match), so a concurrent overwrite fails the read rather than mixing two objects.
   */
  private async fetchWhole(Bucket: string, Key: string, read: ReturnType<typeof ssecRead>, signal?: AbortSignal): Promise<{ Body: Readable; size: number; Metadata: UserMetadata; ETag?: string }> {
    const partSize = this.partSize;
    const first = await this.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=0-${partSize - 1}`, ...read }), { abortSignal: signal });
    const total = /^bytes \d+-(\d+)\/(\d+)$/.exec(first.ContentRange ?? '');
    const size = total ? Number(total[2]) : first.ContentLength ?? 0;
    const firstLen = total ? Number(total[1]) + 1 : size;
    const meta = { Metadata: first.Metadata ?? {}, ETag: first.ETag, size };
    if (firstLen >= size) return { ...meta, Body: first.Body as Readable };
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const open = (start: number) => {
      const end = Math.min(start + partSize, size) - 1;
      const body = this.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}`, IfMatch: first.ETag, ...read }), { abortSignal: ac.signal })
        .then((r) => r.Body as Readable);
      body.catch(() => undefined); // awaited in turn below; this only keeps an early failure from going unhandled
      return { start, end, body };
    };
    const concurrency = this.concurrency;
    const queue: ReturnType<typeof open>[] = [];
    let next = firstLen;
    const launch = () => { queue.push(open(next)); next += partSize; };
    // Requests open ahead of the one being read: concurrency - 1 (none at concurrency 1).
    const fill = () => { while (queue.length < concurrency - 1 && next < size) launch(); };
    let current: Readable | undefined;
    // Each part's body is relayed chunk by chunk (events, no promise per chunk), paused when the reader is full.
    const out: Readable = new Readable({
      read() { current?.resume(); },
      destroy(err, cb) {
        // Finished, failed or abandoned by the reader: stop whatever is still open.
        ac.abort();
        signal?.removeEventListener('abort', onAbort);
        current?.destroy();
        for (const q of queue) void q.body.then((b) => b.destroy(), () => undefined);
        cb(err);
      },
    });
    const relay = (body: Readable, start: number, end: number) => {
      current = body;
      let n = 0;
      body.on('data', (c: Buffer) => { n += c.length; if (!out.push(c)) body.pause(); });
      body.once('error', (e) => out.destroy(e));
      body.once('end', () => {
        if (n !== end - start + 1) return out.destroy(new CseError('IntegrityError', `ranged read of bytes ${start}-${end} returned ${n} bytes`));
        if (!queue.length && next >= size) return void out.push(null);
        if (!queue.length) launch();
        const part = queue.shift()!;
        fill();
        part.body.then((b) => (out.destroyed ? b.destroy() : relay(b, part.start, part.end)), (e) => out.destroy(e));
      });
    };
    fill();
    relay(first.Body as Readable, 0, firstLen - 1);
    return { ...meta, Body: out };
  }

  private async decryptBody(meta: UserMetadata, body: Readable, stored: number, ETag?: string): Promise<GetResult> {
    let format = metadataFormat(meta);
    let src: Readable = body;
    if (!format && stored > 0) {
      // Peek at the first bytes for an ESDK message header, then put them back.
      const first = await firstBytes(body, 4);
      src = first.rest;
      if (looksLikeEsdk(first.head)) format = 'esdk';
    }
    if (!format) return { Body: src, ContentLength: stored, Metadata: meta, authenticated: false, ETag };
    const dec = await openObjectDecryptor(format, meta, this.keys, stored);
    return {
      Body: pipelineDuplex(src as unknown as Duplex, dec.stream()) as unknown as Readable,
      ContentLength: dec.plainSize, Metadata: userMeta(meta), encryption: (await describeObject(meta)) ?? { format, algorithm: 'ESDK message', keys: '' }, authenticated: true, ETag,
    };
  }

  /**
   * Downloads and decrypts into `path`. The file appears (by rename) only when every check passed: a
   * failure leaves no partial output. With `checkpoint`, stored bytes are fetched by ranges in parallel
   * into `<path>.kura-download` and an interrupted download resumes; they are decrypted at the end.
   */
  async downloadFile(Bucket: string, Key: string, path: string, opts: DownloadOptions = {}): Promise<{ size: number; encryption?: CseDescription; authenticated: boolean }> {
    const tmp = `${path}.kura-tmp-${randomBytes(4).toString('hex')}`;
    try {
      let result: GetResult;
      if (opts.checkpoint && !opts.range) {
        const cipherFile = await this.fetchResumable(Bucket, Key, path, opts);
        const head = await this.s3.send(new HeadObjectCommand({ Bucket, Key, ...ssecRead(opts.sse) }));
        const st = await stat(cipherFile);
        result = await this.decryptBody(head.Metadata ?? {}, createReadStream(cipherFile), st.size, head.ETag);
        await pipeline([...withProgress(result.Body as unknown as Duplex, opts.onProgress, result.ContentLength), createWriteStream(tmp, { mode: 0o600, highWaterMark: WRITE_BUFFER })], { signal: opts.signal });
        await rm(cipherFile, { force: true });
        await rm(opts.checkpoint, { force: true });
      } else {
        result = await this.getObject(Bucket, Key, { range: opts.range, sse: opts.sse, signal: opts.signal });
        await pipeline([...withProgress(result.Body as unknown as Duplex, opts.onProgress, result.ContentLength), createWriteStream(tmp, { mode: 0o600, highWaterMark: WRITE_BUFFER })], { signal: opts.signal });
      }
      await rename(tmp, path);
      const size = (await stat(path)).size;
      return { size, encryption: result.encryption, authenticated: result.authenticated };
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  private async fetchResumable(Bucket: string, Key: string, path: string, opts: DownloadOptions): Promise<string> {
    const head = await this.s3.send(new HeadObjectCommand({ Bucket, Key, ...ssecRead(opts.sse) }));
    const storedSize = head.ContentLength ?? 0;
    let cp = await readJson<DownloadCheckpoint>(opts.checkpoint);
    if (cp && (cp.kind !== 'download' || cp.bucket !== Bucket || cp.key !== Key || cp.etag !== head.ETag || cp.storedSize !== storedSize)) {
      await rm(cp.cipherFile, { force: true }).catch(() => undefined);
      cp = undefined; // the object changed: start over
    }
    cp ??= { version: 1, kind: 'download', bucket: Bucket, key: Key, etag: head.ETag ?? '', storedSize, partSize: this.partSize, cipherFile: `${path}.kura-download`, done: [] };
    const state = cp;
    const fh = await open(state.cipherFile, 'a+').then(async (h) => { await h.close(); return open(state.cipherFile, 'r+'); });
    try {
      await fh.truncate(storedSize);
      await atomicWriteJson(opts.checkpoint!, state);
      const n = Math.ceil(storedSize / state.partSize);
      const done = new Set(state.done);
      let saving = Promise.resolve();
      await parallel(n, this.concurrency, async (i) => {
        if (done.has(i)) return;
        const start = i * state.partSize, end = Math.min(storedSize, start + state.partSize) - 1;
        const r = await this.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}`, IfMatch: state.etag || undefined, ...ssecRead(opts.sse) }), { abortSignal: opts.signal });
        let pos = start;
        for await (const c of r.Body as Readable) { await fh.write(c as Buffer, 0, (c as Buffer).length, pos); pos += (c as Buffer).length; }
        if (pos !== end + 1) throw new CseError('IntegrityError', 'short ranged read');
        done.add(i);
        state.done = [...done];
        const s = { ...state };
        saving = saving.then(() => atomicWriteJson(opts.checkpoint!, s));
        await saving;
      }, opts.signal);
    } finally {
      await fh.close();
    }
    return state.cipherFile;
  }

  // ---------------------------------------------------------------- the rest, passed through

  /** Server-side copy: the encryption metadata travels with the object, so the copy decrypts with the same keys. */
  async copyObject(src: { Bucket: string; Key: string }, dst: { Bucket: string; Key: string }, sse?: SseOptions): Promise<{ ETag?: string }> {
    const r = await this.s3.send(new CopyObjectCommand({
      Bucket: dst.Bucket, Key: dst.Key, CopySource: `${src.Bucket}/${src.Key.split('/').map(encodeURIComponent).join('/')}`,
      MetadataDirective: 'COPY', ...sseInput(sse),
      ...(sse?.CopySourceSSECustomerKey ? { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: sse.CopySourceSSECustomerKey as unknown as string } : {}),
    }));
    return { ETag: r.CopyObjectResult?.ETag };
  }

  async *listObjects(Bucket: string, Prefix?: string, Delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket, Prefix, Delimiter, ContinuationToken }));
      yield page;
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async deleteObject(Bucket: string, Key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket, Key }));
  }
}

export interface MultipartContext {
  Bucket: string; Key: string; UploadId: string;
  dataSize: number; partSize: number;
  /** Holds the data key in memory for this upload; its metadata has it only wrapped. */
  encryptor: ObjectEncryptor;
  sse?: SseOptions;
}

function userMeta(meta: UserMetadata): UserMetadata {
  return Object.fromEntries(Object.entries(meta).filter(([k]) => !isCseKey(k)));
}

/** Reads at least `n` bytes (or all, if fewer) and returns them with a stream that replays everything. */
async function firstBytes(body: Readable, n: number): Promise<{ head: Buffer; rest: Readable }> {
  const it = body[Symbol.asyncIterator]();
  const got: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    got.push(r.value as Buffer);
    have += (r.value as Buffer).length;
  }
  async function* replay() {
    yield* got;
    if (!done) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
  }
  return { head: Buffer.concat(got), rest: Readable.from(replay(), { objectMode: false }) };
}
