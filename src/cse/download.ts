// Reading: head (with the format's description), whole-object and ranged decryption, and downloads to a file
// that appears only once every check passed (resumable through a checkpoint of the fetched stored bytes).
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import { CseError } from './errors.ts';
import type { CseDescription, UserMetadata } from './format.ts';
import { bodyFormat, describeObject, formatModule, isEncryptionMetadata, metadataFormat } from './formats.ts';
import { pipelineDuplex } from './pipe.ts';
import { atomicWriteJson, downloadCheckpointFits, readJson, type DownloadCheckpoint } from './checkpoint.ts';
import { fetchWhole } from './ranged-reader.ts';
import { parallel, ssecRead, withProgress, type Progress, type SseOptions, type Transfer } from './transfer.ts';

/**
 * Decrypted pieces (64 KiB chunks) queue up to this much while a file write is in flight, and then go out
 * in one writev: far fewer write calls than one per chunk (the 16 KiB default allows no queue).
 */
const WRITE_BUFFER = 4 * 1024 * 1024;

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

export interface HeadResult {
  head: HeadObjectCommandOutput;
  encryption?: CseDescription;
  sse: string;
  plainSize?: number;
}

export async function headObject(t: Transfer, Bucket: string, Key: string, sse?: SseOptions): Promise<HeadResult> {
  const head = await t.s3.send(new HeadObjectCommand({ Bucket, Key, ...ssecRead(sse) }));
  const meta = head.Metadata ?? {};
  let encryption = await describeObject(meta);
  if (!encryption && (head.ContentLength ?? 0) > 0) {
    // No CSE metadata: an ESDK message shows itself in its first bytes.
    const r = await t.s3.send(new GetObjectCommand({ Bucket, Key, Range: 'bytes=0-16383', ...ssecRead(sse) }));
    const first = Buffer.from(await r.Body!.transformToByteArray());
    encryption = await describeObject(meta, first);
  }
  const sseText = head.SSECustomerAlgorithm
    ? `SSE-C (${head.SSECustomerAlgorithm})`
    : head.ServerSideEncryption === 'aws:kms' || head.ServerSideEncryption === 'aws:kms:dsse'
      ? `SSE-KMS (${head.SSEKMSKeyId ?? 'default key'})`
      : head.ServerSideEncryption === 'AES256'
        ? 'SSE-S3 (AES256)'
        : 'none';
  const stored = head.ContentLength ?? 0;
  const plainSize = !encryption ? stored : (encryption.plainSize ?? formatModule(encryption.format).plainSizeOf(stored));
  return { head, encryption, sse: sseText, plainSize };
}

/** Reads and decrypts an object (or a plaintext range of it). Plaintext objects come back as they are. */
export async function getObject(
  t: Transfer,
  Bucket: string,
  Key: string,
  opts: { range?: { start: number; end?: number }; sse?: SseOptions; signal?: AbortSignal } = {},
): Promise<GetResult> {
  const read = ssecRead(opts.sse);
  if (!opts.range) {
    const r = await fetchWhole(t, Bucket, Key, read, opts.signal);
    return decryptBody(t, r.Metadata, r.Body, r.size, r.ETag);
  }
  const { head, encryption } = await headObject(t, Bucket, Key, opts.sse);
  const meta = head.Metadata ?? {};
  const stored = head.ContentLength ?? 0;
  const format = encryption?.format;
  if (!format) {
    const end = Math.min(opts.range.end ?? stored - 1, stored - 1);
    const r = await t.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${opts.range.start}-${end}`, ...read }), {
      abortSignal: opts.signal,
    });
    return { Body: r.Body as Readable, ContentLength: r.ContentLength, Metadata: meta, authenticated: false, ETag: r.ETag };
  }
  const dec = await formatModule(format).decryptor(meta, t.keyring, stored);
  if (!dec.range || dec.plainSize === undefined) {
    // ESDK messages have no random access: decrypt from the start and keep the asked bytes.
    const whole = await getObject(t, Bucket, Key, { sse: opts.sse, signal: opts.signal });
    const { sliceTransform } = await import('./streams.ts');
    const len = opts.range.end === undefined ? undefined : opts.range.end - opts.range.start + 1;
    return {
      ...whole,
      ContentLength: len,
      Body: pipelineDuplex(whole.Body as unknown as Duplex, sliceTransform(opts.range.start, len)) as unknown as Readable,
    };
  }
  const end = Math.min(opts.range.end ?? dec.plainSize - 1, dec.plainSize - 1);
  if (opts.range.start > end) throw new CseError('BadArgument', `range starts beyond the object's ${dec.plainSize} bytes`);
  const plan = dec.range(opts.range.start, end);
  const r = await t.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${plan.storedStart}-${plan.storedEnd}`, ...read }), {
    abortSignal: opts.signal,
  });
  return {
    Body: pipelineDuplex(r.Body as unknown as Duplex, plan.transform()) as unknown as Readable,
    ContentLength: end - opts.range.start + 1,
    Metadata: userMeta(meta),
    encryption,
    authenticated: plan.authenticated,
    ETag: r.ETag,
  };
}

async function decryptBody(t: Transfer, meta: UserMetadata, body: Readable, stored: number, ETag?: string): Promise<GetResult> {
  let format = metadataFormat(meta);
  let src: Readable = body;
  if (!format && stored > 0) {
    // Peek at the first bytes for a format that keeps its header in the body (ESDK), then put them back.
    const first = await firstBytes(body, 4);
    src = first.rest;
    format = bodyFormat(first.head);
  }
  if (!format) return { Body: src, ContentLength: stored, Metadata: meta, authenticated: false, ETag };
  const dec = await formatModule(format).decryptor(meta, t.keyring, stored);
  return {
    Body: pipelineDuplex(src as unknown as Duplex, dec.stream()) as unknown as Readable,
    ContentLength: dec.plainSize,
    Metadata: userMeta(meta),
    encryption: await formatModule(format).describe(meta),
    authenticated: true,
    ETag,
  };
}

/**
 * Downloads and decrypts into `path`. The file appears (by rename) only when every check passed: a
 * failure leaves no partial output. With `checkpoint`, stored bytes are fetched by ranges in parallel
 * into `<path>.kura-download` and an interrupted download resumes; they are decrypted at the end.
 */
export async function downloadFile(
  t: Transfer,
  Bucket: string,
  Key: string,
  path: string,
  opts: DownloadOptions = {},
): Promise<{ size: number; encryption?: CseDescription; authenticated: boolean }> {
  const tmp = `${path}.kura-tmp-${randomBytes(4).toString('hex')}`;
  try {
    let result: GetResult;
    if (opts.checkpoint && !opts.range) {
      const cipherFile = await fetchResumable(t, Bucket, Key, path, opts);
      const head = await t.s3.send(new HeadObjectCommand({ Bucket, Key, ...ssecRead(opts.sse) }));
      const st = await stat(cipherFile);
      result = await decryptBody(t, head.Metadata ?? {}, createReadStream(cipherFile), st.size, head.ETag);
      await pipeline(
        [
          ...withProgress(result.Body as unknown as Duplex, opts.onProgress, result.ContentLength),
          createWriteStream(tmp, { mode: 0o600, highWaterMark: WRITE_BUFFER }),
        ],
        { signal: opts.signal },
      );
      await rm(cipherFile, { force: true });
      await rm(opts.checkpoint, { force: true });
    } else {
      result = await getObject(t, Bucket, Key, { range: opts.range, sse: opts.sse, signal: opts.signal });
      await pipeline(
        [
          ...withProgress(result.Body as unknown as Duplex, opts.onProgress, result.ContentLength),
          createWriteStream(tmp, { mode: 0o600, highWaterMark: WRITE_BUFFER }),
        ],
        { signal: opts.signal },
      );
    }
    await rename(tmp, path);
    const size = (await stat(path)).size;
    return { size, encryption: result.encryption, authenticated: result.authenticated };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function fetchResumable(t: Transfer, Bucket: string, Key: string, path: string, opts: DownloadOptions): Promise<string> {
  const head = await t.s3.send(new HeadObjectCommand({ Bucket, Key, ...ssecRead(opts.sse) }));
  const storedSize = head.ContentLength ?? 0;
  let cp = await readJson<DownloadCheckpoint>(opts.checkpoint);
  if (cp && !downloadCheckpointFits(cp, Bucket, Key, head.ETag, storedSize)) {
    await rm(cp.cipherFile, { force: true }).catch(() => undefined);
    cp = undefined; // the object changed: start over
  }
  cp ??= {
    version: 1,
    kind: 'download',
    bucket: Bucket,
    key: Key,
    etag: head.ETag ?? '',
    storedSize,
    partSize: t.partSize,
    cipherFile: `${path}.kura-download`,
    done: [],
  };
  const state = cp;
  const fh = await open(state.cipherFile, 'a+').then(async (h) => {
    await h.close();
    return open(state.cipherFile, 'r+');
  });
  try {
    await fh.truncate(storedSize);
    await atomicWriteJson(opts.checkpoint!, state);
    const n = Math.ceil(storedSize / state.partSize);
    const done = new Set(state.done);
    let saving = Promise.resolve();
    await parallel(
      n,
      t.concurrency,
      async (i) => {
        if (done.has(i)) return;
        const start = i * state.partSize,
          end = Math.min(storedSize, start + state.partSize) - 1;
        const r = await t.s3.send(
          new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}`, IfMatch: state.etag || undefined, ...ssecRead(opts.sse) }),
          { abortSignal: opts.signal },
        );
        let pos = start;
        for await (const c of r.Body as Readable) {
          await fh.write(c as Buffer, 0, (c as Buffer).length, pos);
          pos += (c as Buffer).length;
        }
        if (pos !== end + 1) throw new CseError('IntegrityError', 'short ranged read');
        done.add(i);
        state.done = [...done];
        const s = { ...state };
        saving = saving.then(() => atomicWriteJson(opts.checkpoint!, s));
        await saving;
      },
      opts.signal,
    );
  } finally {
    await fh.close();
  }
  return state.cipherFile;
}

function userMeta(meta: UserMetadata): UserMetadata {
  return Object.fromEntries(Object.entries(meta).filter(([k]) => !isEncryptionMetadata(k)));
}

/** Reads at least `n` bytes (or all, if fewer) and returns them with a stream that replays everything. */
async function firstBytes(body: Readable, n: number): Promise<{ head: Buffer; rest: Readable }> {
  const it = body[Symbol.asyncIterator]();
  const got: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    got.push(r.value as Buffer);
    have += (r.value as Buffer).length;
  }
  async function* replay() {
    yield* got;
    if (!done) for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
  }
  return { head: Buffer.concat(got), rest: Readable.from(replay(), { objectMode: false }) };
}
