// Uploads: a whole object in one PUT, or multipart — independent parts (OSS, Kura) encrypted and sent in
// parallel, sequential formats (S3EC's GCM stream, ESDK messages) encrypted in order with finished parts sent
// concurrently — resumable from a checkpoint; and explicit multipart with a per-upload crypto context.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { Readable, type Duplex } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { CseError, badArg } from './errors.ts';
import type { CseFormat, ObjectEncryptor, UserMetadata } from './format.ts';
import { formatModule, resumeEncryptor } from './formats.ts';
import { pipelineDuplex } from './pipe.ts';
import { atomicWriteJson, checkUploadCheckpoint, readJson, type UploadCheckpoint } from './checkpoint.ts';
import { parallel, sseInput, ssecRead, withProgress, type Progress, type SseOptions, type Transfer } from './transfer.ts';

/** The client's settings for uploads: the format of new objects too. */
export interface UploadTransfer extends Transfer {
  readonly format: CseFormat;
}

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

export interface MultipartContext {
  Bucket: string;
  Key: string;
  UploadId: string;
  dataSize: number;
  partSize: number;
  /** Holds the data key in memory for this upload; its metadata has it only wrapped. */
  encryptor: ObjectEncryptor;
  sse?: SseOptions;
}

/** A part of `length` bytes held as the pieces it arrived in (not copied into one Buffer). */
interface HeldPart {
  pieces: Buffer[];
  length: number;
}

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
      if (have === size) {
        yield { pieces, length: have };
        pieces = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield { pieces, length: have };
}

const md5Hex = (p: HeldPart) => {
  const h = createHash('md5');
  for (const b of p.pieces) h.update(b);
  return h.digest('hex');
};

/** File reads in 1 MiB pieces: fewer reads, cipher calls and socket writes than the 64 KiB default. */
const READ_SIZE = 1024 * 1024;

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

/** Encrypts and stores a Buffer or stream (size unknown: multipart past one part). */
export async function putObject(
  t: UploadTransfer,
  Bucket: string,
  Key: string,
  body: Buffer | Readable,
  opts: UploadOptions = {},
): Promise<{ ETag?: string }> {
  const format = opts.format ?? t.format;
  if (Buffer.isBuffer(body)) {
    const md5 = createHash('md5').update(body).digest();
    return uploadSource(
      t,
      Bucket,
      Key,
      { size: body.length, md5, open: () => Readable.from([body]), part: (o, l) => Readable.from([body.subarray(o, o + l)]) },
      format,
      opts,
    );
  }
  return uploadSource(t, Bucket, Key, { open: () => body }, format, opts);
}

/** Encrypts and uploads a local file; with `checkpoint`, an interrupted upload resumes where it stopped. */
export async function uploadFile(
  t: UploadTransfer,
  path: string,
  Bucket: string,
  Key: string,
  opts: UploadOptions = {},
): Promise<{ ETag?: string }> {
  const format = opts.format ?? t.format;
  const st = await stat(path);
  const size = st.size;
  let md5: Buffer | undefined;
  if (formatModule(format).needsMd5) md5 = await fileMd5(path);
  return uploadSource(
    t,
    Bucket,
    Key,
    {
      size,
      md5,
      mtimeMs: st.mtimeMs,
      path,
      open: () => createReadStream(path, { highWaterMark: READ_SIZE }),
      part: (o, l) => (l === 0 ? Readable.from([]) : createReadStream(path, { start: o, end: o + l - 1, highWaterMark: READ_SIZE })),
    },
    format,
    opts,
  );
}

async function uploadSource(
  t: UploadTransfer,
  Bucket: string,
  Key: string,
  src: {
    size?: number;
    md5?: Buffer;
    mtimeMs?: number;
    path?: string;
    open: () => Readable;
    part?: (offset: number, length: number) => Readable;
  },
  format: CseFormat,
  opts: UploadOptions,
): Promise<{ ETag?: string }> {
  const multipart = src.size === undefined || src.size > t.multipartThreshold;
  const mod = formatModule(format);
  const partSize = mod.partSize(Math.max(t.partSize, 16));
  if (opts.checkpoint && !src.path) throw badArg('resumable uploads need a file');
  if (opts.checkpoint && multipart && typeof mod.resume === 'string') throw badArg(mod.resume);

  const cp = multipart ? await readJson<UploadCheckpoint>(opts.checkpoint) : undefined;
  if (cp) {
    checkUploadCheckpoint(cp, opts.checkpoint!, Bucket, Key, src);
    const enc = await resumeEncryptor(cp.metadata, t.keyring);
    return uploadMultipart(t, Bucket, Key, src, enc, cp.partSize, opts, cp);
  }

  const enc = await mod.encryptor(t.keyring, { plainSize: src.size, md5: src.md5, partSize: multipart ? partSize : undefined });
  const Metadata = { ...opts.Metadata, ...enc.metadata };
  if (!multipart) {
    const size = src.size!;
    const cipherSize = enc.cipherSize(size);
    let Body: Readable | Buffer = pipelineDuplex(
      ...withProgress(src.open() as unknown as Duplex, opts.onProgress, size),
      enc.stream(),
    ) as unknown as Readable;
    // ESDK's size is not known in advance: collect it (at most one multipart threshold plus overhead).
    if (cipherSize === undefined) Body = Buffer.concat(await Readable.from(Body).toArray());
    const r = await t.s3.send(
      new PutObjectCommand({
        Bucket,
        Key,
        Body,
        ContentLength: cipherSize ?? (Body as Buffer).length,
        Metadata,
        ContentType: opts.ContentType,
        ...sseInput(opts.sse),
      }),
      { abortSignal: opts.signal },
    );
    return { ETag: r.ETag };
  }
  return uploadMultipart(t, Bucket, Key, src, enc, partSize, opts);
}

async function uploadMultipart(
  t: UploadTransfer,
  Bucket: string,
  Key: string,
  src: { size?: number; mtimeMs?: number; path?: string; open: () => Readable; part?: (o: number, l: number) => Readable },
  enc: ObjectEncryptor,
  partSize: number,
  opts: UploadOptions,
  cp?: UploadCheckpoint,
): Promise<{ ETag?: string }> {
  let uploadId = cp?.uploadId;
  if (!uploadId) {
    const r = await t.s3.send(
      new CreateMultipartUploadCommand({
        Bucket,
        Key,
        Metadata: { ...opts.Metadata, ...enc.metadata },
        ContentType: opts.ContentType,
        ...sseInput(opts.sse),
      }),
    );
    uploadId = r.UploadId!;
  }
  const state: UploadCheckpoint | undefined = opts.checkpoint
    ? (cp ?? {
        version: 1,
        kind: 'upload',
        bucket: Bucket,
        key: Key,
        file: { path: src.path!, size: src.size!, mtimeMs: src.mtimeMs! },
        format: enc.format,
        partSize,
        uploadId,
        metadata: enc.metadata,
        parts: [],
      })
    : undefined;
  const done = new Map<number, string>((cp?.parts ?? []).map((p) => [p.PartNumber, p.ETag]));
  let saving = Promise.resolve();
  const save = () => {
    if (state) {
      state.parts = [...done].map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
      const s = { ...state };
      saving = saving.then(() => atomicWriteJson(opts.checkpoint!, s));
    }
    return saving;
  };
  await save();
  const sse = opts.sse?.SSECustomerKey ? ssecRead(opts.sse) : {};
  let progress = 0;
  const report = (n: number) => {
    progress += n;
    opts.onProgress?.(progress, src.size);
  };
  const put = async (PartNumber: number, Body: Readable | Buffer, ContentLength: number) => {
    const r = await t.s3.send(new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber, Body, ContentLength, ...sse }), {
      abortSignal: opts.signal,
    });
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
      await parallel(
        n,
        t.concurrency,
        async (i) => {
          if (done.has(i + 1)) return;
          const off = i * partSize,
            len = Math.min(partSize, size - off),
            last = i === n - 1;
          const body = pipelineDuplex(src.part!(off, len) as unknown as Duplex, enc.part!(off, len, last)) as unknown as Readable;
          await put(i + 1, body, enc.partCipherSize!(off, len, last));
          report(len);
        },
        opts.signal,
      );
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
          if (/^[0-9a-f]{32}$/.test(etag) && !opts.sse && etag !== md5Hex(part))
            throw new CseError('LocalFileChanged', `part ${pn} differs from the stored one: the source changed`);
          continue;
        }
        // Streamed, not a Buffer: the SDK would hash a Buffer body (SigV4 over HTTP), a second pass over
        // every byte; the content is authenticated by the format itself.
        const p = put(pn, Readable.from(part.pieces, { objectMode: false }), part.length)
          .catch((e) => {
            failed ??= e;
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= t.concurrency) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      if (failed !== undefined) throw failed;
      if (partNumber === 0) await put(1, Buffer.alloc(0), 0);
    }
    await saving;
    const Parts: CompletedPart[] = [...done].sort((a, b) => a[0] - b[0]).map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
    const r = await t.s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId, MultipartUpload: { Parts }, ...sse }));
    if (opts.checkpoint) await rm(opts.checkpoint, { force: true });
    return { ETag: r.ETag };
  } catch (e) {
    await saving.catch(() => undefined);
    // Without a checkpoint nothing can resume: free the parts.
    if (!opts.checkpoint) await t.s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => undefined);
    throw e;
  }
}

// Explicit multipart (independent-part formats).

/** Starts a multipart upload with its own crypto context; parts may then be sent in any order, in parallel. */
export async function createMultipartUpload(
  t: UploadTransfer,
  Bucket: string,
  Key: string,
  o: { dataSize: number; partSize: number; format?: CseFormat; Metadata?: UserMetadata; sse?: SseOptions },
): Promise<MultipartContext> {
  const format = o.format ?? t.format;
  const enc = await formatModule(format).encryptor(t.keyring, { plainSize: o.dataSize, partSize: o.partSize });
  if (!enc.part || !enc.partAlign || o.partSize % enc.partAlign !== 0)
    throw badArg(`format ${format} encrypts parts in order; use putObject/uploadFile (or --cse-format oss|kura)`);
  const r = await t.s3.send(
    new CreateMultipartUploadCommand({ Bucket, Key, Metadata: { ...o.Metadata, ...enc.metadata }, ...sseInput(o.sse) }),
  );
  return { Bucket, Key, UploadId: r.UploadId!, dataSize: o.dataSize, partSize: o.partSize, encryptor: enc, sse: o.sse };
}

export async function uploadPart(t: UploadTransfer, ctx: MultipartContext, PartNumber: number, plaintext: Buffer): Promise<CompletedPart> {
  const off = (PartNumber - 1) * ctx.partSize;
  const last = off + ctx.partSize >= ctx.dataSize;
  if (plaintext.length !== Math.min(ctx.partSize, ctx.dataSize - off))
    throw badArg(`part ${PartNumber} must hold ${Math.min(ctx.partSize, ctx.dataSize - off)} bytes`);
  const body = Buffer.concat(
    await Readable.from([plaintext])
      .pipe(ctx.encryptor.part!(off, plaintext.length, last))
      .toArray(),
  );
  const r = await t.s3.send(
    new UploadPartCommand({
      Bucket: ctx.Bucket,
      Key: ctx.Key,
      UploadId: ctx.UploadId,
      PartNumber,
      Body: body,
      ContentLength: body.length,
      ...ssecRead(ctx.sse),
    }),
  );
  return { PartNumber, ETag: r.ETag };
}

export async function completeMultipartUpload(
  t: UploadTransfer,
  ctx: MultipartContext,
  parts: CompletedPart[],
): Promise<{ ETag?: string }> {
  const Parts = [...parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
  const r = await t.s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: ctx.Bucket,
      Key: ctx.Key,
      UploadId: ctx.UploadId,
      MultipartUpload: { Parts },
      ...ssecRead(ctx.sse),
    }),
  );
  return { ETag: r.ETag };
}

export async function abortMultipartUpload(t: UploadTransfer, ctx: MultipartContext): Promise<void> {
  await t.s3.send(new AbortMultipartUploadCommand({ Bucket: ctx.Bucket, Key: ctx.Key, UploadId: ctx.UploadId }));
}
