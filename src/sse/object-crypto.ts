// Encrypting and decrypting pipelines over the crypto core for whole objects, parts and ranges.
// An object is a sequence of stored segments (one per part; a single PUT has one), each its own stream.
// A plaintext range reads only the chunks that cover it, from each part it touches.
import { Readable, pipeline, type Transform } from 'node:stream';
import {
  CryptoError,
  StreamDecryptor,
  StreamEncryptor,
  ciphertextSize,
  cipherTransform,
  planPartsRange,
  type Emit,
  type StreamParams,
  type SyncCipher,
} from '../crypto/index.ts';
import { isS3Error } from '../protocol/s3-errors.ts';
import { heldBody } from '../protocol/held-body.ts';
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

/** Sees the plaintext on its way into the encryptor (digests of the payload), then its end. */
export interface PlaintextTap {
  update(plaintext: Buffer): void;
  finish(): void;
  /** Pending while the tap is behind (its work runs elsewhere): the input pauses. */
  backlog?(): Promise<void> | undefined;
  /** The stream was abandoned before its end. */
  dispose?(): void;
}

/**
 * A fresh encrypting transform for one stream and the record to store with it. With `tap`, the same
 * transform also feeds it the plaintext (one stream layer for hashing and encryption).
 */
export function encryptingStream(
  kek: Buffer,
  bucket: string,
  key: string,
  chunkSize?: number,
  tap?: PlaintextTap,
): { stream: Transform; record: StreamRecord } {
  const { params, record } = newSealedStream(kek, bucket, key, chunkSize);
  const encryptor = new StreamEncryptor(params);
  params.key.fill(0); // the encryptor holds its own KeyObject
  const stream = cipherTransform(
    tap
      ? {
          write(data: Buffer, emit: Emit): void {
            tap.update(data);
            encryptor.write(data, emit);
          },
          end(emit: Emit): void {
            encryptor.end(emit);
            tap.finish();
          },
          backlog: () => tap.backlog?.(),
          dispose: () => tap.dispose?.(),
        }
      : encryptor,
  );
  return { stream, record };
}

interface Piece {
  storedStart: number; // absolute, into the concatenated stored bytes
  storedEnd: number; // inclusive
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
  segments: readonly Segment[],
  open: StoredOpener,
  kek: Buffer,
  bucket: string,
  key: string,
  range?: { start: number; end: number },
): Readable {
  const pieces = planPieces(segments, kek, bucket, key, range);
  if (pieces.length === 0) return Readable.from([], { objectMode: false });
  return decryptSpan(pieces, open);
}

/**
 * Decrypted bytes buffered ahead of the consumer: keeps disk reads (1 MiB each, the backend's), decryption
 * and the socket overlapping, in few large steps.
 */
export const READ_AHEAD = 4 * 1024 * 1024;

/** Stored spans up to this size are read and authenticated whole before the response starts. */
export const EAGER_SPAN = 256 * 1024;

/**
 * Like decryptingStream, for a response: a small stored span is read and decrypted completely first
 * (any tampering becomes an error status, and small GETs skip the streaming machinery); a large one
 * streams, with its first chunk checked before returning (primed).
 */
export async function openPlaintext(
  segments: readonly Segment[],
  open: StoredOpener,
  kek: Buffer,
  bucket: string,
  key: string,
  range?: { start: number; end: number },
): Promise<Readable> {
  const pieces = planPieces(segments, kek, bucket, key, range);
  if (pieces.length === 0) return Readable.from([], { objectMode: false });
  const span = pieces[pieces.length - 1]!.storedEnd - pieces[0]!.storedStart + 1;
  if (span > EAGER_SPAN) return primed(decryptSpan(pieces, open));
  const out: Buffer[] = [];
  const opener = new PiecesDecryptor(pieces);
  const push = (b: Buffer) => void out.push(b);
  try {
    for await (const b of open({ start: pieces[0]!.storedStart, end: pieces[pieces.length - 1]!.storedEnd }))
      opener.write(b as Buffer, push);
    opener.end();
  } catch (e) {
    throw toS3Error(e);
  } finally {
    opener.dispose();
  }
  return heldBody(out);
}

function planPieces(
  segments: readonly Segment[],
  kek: Buffer,
  bucket: string,
  key: string,
  range?: { start: number; end: number },
): Piece[] {
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
      pieces.push({
        storedStart: off,
        storedEnd: off + s.storedSize - 1,
        params,
        plainSize: layout[i]!.plainSize,
        firstChunk: 0,
        skip: 0,
        length: s.size,
      });
      off += s.storedSize;
    });
  } else {
    for (const p of planPartsRange(layout, range.start, range.end)) {
      const params = openSealedStream(kek, segments[p.part]!.encryption, bucket, key);
      pieces.push({
        storedStart: p.partStoredStart + p.storedStart,
        storedEnd: p.partStoredStart + p.storedEnd,
        params,
        plainSize: layout[p.part]!.plainSize,
        firstChunk: p.firstChunk,
        skip: p.skip,
        length: p.length,
      });
    }
  }
  return pieces;
}

/**
 * Decrypts the stored span [pieces[0].storedStart, last storedEnd] (read in one go: the backend pins one
 * consistent version): hands each piece's stored bytes to that piece's decryptor and drops the bytes
 * between pieces (empty parts). Synchronous, so one Transform layer carries a whole GET.
 */
class PiecesDecryptor implements SyncCipher {
  private i = 0;
  private pos: number; // absolute stored offset of the next input byte
  private dec: StreamDecryptor | undefined;

  constructor(private readonly pieces: Piece[]) {
    this.pos = pieces[0]!.storedStart;
  }

  write(data: Buffer, emit: Emit): void {
    let off = 0;
    while (off < data.length) {
      const p = this.pieces[this.i];
      if (!p) throw new CryptoError('KURA_CRYPTO_TRAILING_DATA', 'stored data continues past the last expected chunk');
      if (this.pos < p.storedStart) {
        const n = Math.min(p.storedStart - this.pos, data.length - off);
        off += n;
        this.pos += n;
        continue;
      }
      if (!this.dec) {
        this.dec = new StreamDecryptor(p.params, p.plainSize, { firstChunk: p.firstChunk, skip: p.skip, length: p.length });
        p.params.key.fill(0); // the decryptor holds its own KeyObject
      }
      const n = Math.min(this.dec.remaining, data.length - off);
      this.dec.write(off === 0 && n === data.length ? data : data.subarray(off, off + n), emit);
      off += n;
      this.pos += n;
      if (this.dec.remaining === 0) {
        this.dec.end();
        this.dec = undefined;
        this.i++;
      }
    }
  }

  end(): void {
    if (this.i < this.pieces.length) throw new CryptoError('KURA_CRYPTO_TRUNCATED', 'stored data ended before the last expected chunk');
  }

  dispose(): void {
    for (const p of this.pieces) p.params.key.fill(0);
  }
}

/** The stored span through one PiecesDecryptor transform. Source and transform are destroyed together. */
function decryptSpan(pieces: Piece[], open: StoredOpener): Readable {
  const source = open({ start: pieces[0]!.storedStart, end: pieces[pieces.length - 1]!.storedEnd });
  const dec = cipherTransform(new PiecesDecryptor(pieces), { readableHighWaterMark: READ_AHEAD });
  pipeline(source, dec, () => {});
  // It decrypts ahead before anyone consumes it (e.g. while a copy sets up its target); an error then
  // stays recorded for the consumer (its pipeline or iterator sees it) instead of being unhandled.
  dec.on('error', () => {});
  return dec;
}

/**
 * Waits for the first plaintext bytes (or the end) so a failure in the first chunk becomes an error
 * response instead of a broken body. Later failures abort the body: never unauthenticated bytes.
 * Returns the same stream, nothing consumed.
 */
export async function primed(source: Readable): Promise<Readable> {
  try {
    // 'readable' fires once data is buffered or the end is reached; nothing is read here.
    await new Promise<void>((resolve, reject) => {
      const settle = (e?: Error): void => {
        source.off('readable', onReadable);
        source.off('error', settle);
        source.off('close', onClose);
        if (e) reject(e);
        else resolve();
      };
      const onReadable = (): void => settle();
      const onClose = (): void => settle(source.errored ?? new Error('stream closed before any data'));
      source.on('readable', onReadable);
      source.once('error', settle);
      source.once('close', onClose);
    });
    // Removing a 'readable' listener takes effect on the next tick; a later pipe() must see it gone to flow.
    await new Promise<void>((resolve) => process.nextTick(resolve));
  } catch (e) {
    source.destroy();
    throw toS3Error(e);
  }
  return source;
}

/** Crypto failures on stored data are integrity errors; S3 errors pass through. */
export function toS3Error(e: unknown): unknown {
  if (isS3Error(e)) return e;
  if (e instanceof CryptoError) return sseErrors.integrity();
  return e;
}
