// Encrypting and decrypting pipelines over the crypto core for whole objects, parts and ranges.
// An object is a sequence of stored segments (one per part; a single PUT has one), each its own stream.
// A plaintext range reads only the chunks that cover it, from each part it touches.
import { Readable, pipeline, type Transform } from 'node:stream';
import {
  CryptoError, ciphertextSize, createDecryptor, createEncryptor, planPartsRange, type StreamParams,
} from '../crypto/index.ts';
import { isS3Error } from '../server/errors.ts';
import { sseErrors } from './errors.ts';
import { openSealedStream, newSealedStream } from './keys.ts';
import { readStreamRecord, type StreamRecord } from './metadata.ts';

/** A stored segment as the storage layer describes it (PartLayout has these fields). */
export interface Segment {
  size: number;
  storedSize: number;
  encryption?: unknown;
}

/** Opens stored bytes of the object: offsets into the concatenation of all segments, inclusive. */
export type StoredOpener = (range: { start: number; end: number }) => Readable;

/** A fresh encrypting transform for one stream and the record to store with it. */
export function encryptingStream(kek: Buffer, bucket: string, key: string, chunkSize?: number): { stream: Transform; record: StreamRecord } {
  const { params, record } = newSealedStream(kek, bucket, key, chunkSize);
  const stream = createEncryptor(params);
  params.key.fill(0); // the encryptor holds its own KeyObject
  return { stream, record };
}

interface Piece {
  storedStart: number; // absolute, into the concatenated stored bytes
  storedEnd: number;   // inclusive
  params: StreamParams;
  plainSize: number;
  firstChunk: number;
  skip: number;
  length: number;
}

/**
 * Plaintext of an encrypted object, or of the inclusive plaintext range [start, end]. Checks the
 * metadata first (every segment's stored size must be what its plaintext size and chunk size give)
 * and unseals only the DEKs of the segments the range touches.
 */
export function decryptingStream(
  segments: readonly Segment[], open: StoredOpener, kek: Buffer, bucket: string, key: string, range?: { start: number; end: number },
): Readable {
  return Readable.from(decryptPieces(planPieces(segments, kek, bucket, key, range), open), { objectMode: false, highWaterMark: READ_AHEAD });
}

/** Decrypted bytes buffered ahead of the consumer: keeps disk reads, decryption and the socket overlapping. */
const READ_AHEAD = 1024 * 1024;

/** Stored spans up to this size are read and authenticated whole before the response starts. */
export const EAGER_SPAN = 256 * 1024;

/**
 * Like decryptingStream, for a response: a small stored span is read and decrypted completely first
 * (any tampering becomes an error status, and small GETs skip the streaming machinery); a large one
 * streams, with its first chunk checked before returning (primed).
 */
export async function openPlaintext(
  segments: readonly Segment[], open: StoredOpener, kek: Buffer, bucket: string, key: string, range?: { start: number; end: number },
): Promise<Readable> {
  const pieces = planPieces(segments, kek, bucket, key, range);
  const span = pieces.length ? pieces[pieces.length - 1]!.storedEnd - pieces[0]!.storedStart + 1 : 0;
  if (span > EAGER_SPAN) {
    // Stream, once the first chunk verified (a failure there is still an error status).
    const it = decryptPieces(pieces, open);
    let first: IteratorResult<Buffer>;
    try {
      first = await it.next();
    } catch (e) {
      throw toS3Error(e);
    }
    async function* all(): AsyncGenerator<Buffer> {
      if (first.done) return;
      yield first.value;
      yield* it;
    }
    const out = Readable.from(all(), { objectMode: false, highWaterMark: READ_AHEAD });
    // A body never read (client gone) must still release the stored file.
    out.once('close', () => { it.return(undefined).catch(() => {}); });
    return out;
  }
  const out: Buffer[] = [];
  try {
    for await (const c of decryptPieces(pieces, open)) out.push(c);
  } catch (e) {
    throw toS3Error(e);
  }
  return Readable.from(out, { objectMode: false });
}

function planPieces(segments: readonly Segment[], kek: Buffer, bucket: string, key: string, range?: { start: number; end: number }): Piece[] {
  const layout = segments.map((s) => {
    const r = readStreamRecord(s.encryption);
    let expected: number;
    try {
      expected = ciphertextSize(s.size, r.chunkSize);
    } catch {
      throw sseErrors.integrity();
    }
    if (expected !== s.storedSize) throw sseErrors.integrity();
    return { plainSize: s.size, chunkSize: r.chunkSize };
  });
  const pieces: Piece[] = [];
  if (range === undefined) {
    // Whole object: every stream in full, empty ones too (their final chunk is still authenticated).
    let off = 0;
    segments.forEach((s, i) => {
      const params = openSealedStream(kek, s.encryption, bucket, key);
      pieces.push({ storedStart: off, storedEnd: off + s.storedSize - 1, params, plainSize: layout[i]!.plainSize, firstChunk: 0, skip: 0, length: s.size });
      off += s.storedSize;
    });
  } else {
    for (const p of planPartsRange(layout, range.start, range.end)) {
      const params = openSealedStream(kek, segments[p.part]!.encryption, bucket, key);
      pieces.push({
        storedStart: p.partStoredStart + p.storedStart,
        storedEnd: p.partStoredStart + p.storedEnd,
        params, plainSize: layout[p.part]!.plainSize, firstChunk: p.firstChunk, skip: p.skip, length: p.length,
      });
    }
  }
  return pieces;
}

/** Hands out exact byte counts from one stream, in order. */
class ByteReader {
  private pending: Buffer | undefined;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  async *take(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      let b = this.pending;
      this.pending = undefined;
      if (!b) {
        const r = await this.it.next();
        if (r.done) return; // short: the decryptor reports the truncation
        b = r.value;
      }
      if (b.length > n) {
        this.pending = b.subarray(n);
        b = b.subarray(0, n);
      }
      n -= b.length;
      if (b.length) yield b;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)); // eslint-disable-line @typescript-eslint/no-unused-vars
  }
}

// One open of the stored span (the backend pins one consistent version), split among the pieces.
async function* decryptPieces(pieces: Piece[], open: StoredOpener): AsyncGenerator<Buffer> {
  if (pieces.length === 0) return;
  const source = open({ start: pieces[0]!.storedStart, end: pieces[pieces.length - 1]!.storedEnd });
  const reader = new ByteReader(source[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  let pos = pieces[0]!.storedStart;
  try {
    for (const p of pieces) {
      await reader.skip(p.storedStart - pos); // empty parts between pieces
      const dec = createDecryptor(p.params, p.plainSize, { firstChunk: p.firstChunk, skip: p.skip, length: p.length });
      p.params.key.fill(0); // the decryptor holds its own KeyObject
      const n = p.storedEnd - p.storedStart + 1;
      if (n <= EAGER_SPAN) {
        // Small: gather the stored bytes and end the decryptor with them (no stream plumbing per piece).
        const parts: Buffer[] = [];
        for await (const b of reader.take(n)) parts.push(b);
        dec.end(parts.length === 1 ? parts[0] : Buffer.concat(parts));
      } else {
        pipeline(Readable.from(reader.take(n), { objectMode: false }), dec, () => {});
      }
      for await (const chunk of dec) yield chunk as Buffer;
      pos = p.storedEnd + 1;
    }
  } finally {
    for (const p of pieces) p.params.key.fill(0);
    source.destroy();
  }
}

/**
 * Waits for the first plaintext bytes (or the end) so a failure in the first chunk becomes an error
 * response instead of a broken body. Later failures abort the body: never unauthenticated bytes.
 */
export async function primed(source: Readable): Promise<Readable> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first: IteratorResult<Buffer>;
  try {
    first = await it.next();
  } catch (e) {
    throw toS3Error(e);
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const n = await it.next();
        if (n.done) return;
        yield n.value;
      }
    } finally {
      await it.return?.();
    }
  }
  const out = Readable.from(rest(), { objectMode: false, highWaterMark: READ_AHEAD });
  out.once('close', () => { it.return?.()?.catch(() => {}); });
  return out;
}

/** Crypto failures on stored data are integrity errors; S3 errors pass through. */
export function toS3Error(e: unknown): unknown {
  if (isS3Error(e)) return e;
  if (e instanceof CryptoError) return sseErrors.integrity();
  return e;
}
