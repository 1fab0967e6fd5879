// The chunked stream format: constants, parameters, size arithmetic, nonce and AAD derivation.
// Layout is specified in docs/FORMAT.md; keep the two in step.
import { randomBytes } from 'node:crypto';
import { badParams } from './errors.ts';

export const FORMAT_VERSION = 1;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const KEY_SIZE = 32;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
export const AAD_SIZE = 10;
export const MIN_CHUNK_SIZE = 1;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
const FLAG_FINAL = 0x01;
const TWO_32 = 0x1_0000_0000;

export interface StreamParams {
  key: Buffer; // 32-byte data key (DEK), random per stream
  nonce: Buffer; // 12 random bytes per stream
  chunkSize: number; // plaintext bytes per chunk (the last chunk may be shorter)
}

export function newStreamParams(chunkSize: number = DEFAULT_CHUNK_SIZE): StreamParams {
  checkChunkSize(chunkSize);
  return { key: randomBytes(KEY_SIZE), nonce: randomBytes(NONCE_SIZE), chunkSize };
}

export function checkChunkSize(chunkSize: number): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw badParams(`chunk size must be an integer in [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}]`);
  }
}

export function checkParams(p: StreamParams): void {
  if (!Buffer.isBuffer(p.key) || p.key.length !== KEY_SIZE) throw badParams(`stream key must be ${KEY_SIZE} bytes`);
  if (!Buffer.isBuffer(p.nonce) || p.nonce.length !== NONCE_SIZE) throw badParams(`stream nonce must be ${NONCE_SIZE} bytes`);
  checkChunkSize(p.chunkSize);
}

export function checkSize(plainSize: number, what = 'plainSize'): void {
  if (!Number.isSafeInteger(plainSize) || plainSize < 0) throw badParams(`${what} must be a non-negative integer`);
}

/** Number of chunks in a stream: an empty stream still has one (empty, final) chunk. */
export function chunkCount(plainSize: number, chunkSize: number): number {
  return plainSize === 0 ? 1 : Math.ceil(plainSize / chunkSize);
}

/** Plaintext length of chunk `index` of a stream of `plainSize` bytes. */
export function chunkPlainLength(plainSize: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, plainSize - index * chunkSize);
}

export function ciphertextSize(plainSize: number, chunkSize: number): number {
  checkSize(plainSize);
  checkChunkSize(chunkSize);
  return plainSize + TAG_SIZE * chunkCount(plainSize, chunkSize);
}

/** Inverse of ciphertextSize; throws if `storedSize` is not a size the format can produce. */
export function plaintextSize(storedSize: number, chunkSize: number): number {
  checkSize(storedSize, 'storedSize');
  checkChunkSize(chunkSize);
  const stored = chunkSize + TAG_SIZE;
  const full = Math.floor(storedSize / stored);
  const rest = storedSize - full * stored;
  let plain: number;
  if (rest === 0) plain = full * chunkSize;
  else if (rest >= TAG_SIZE) plain = full * chunkSize + rest - TAG_SIZE;
  else plain = -1;
  if (plain < 0 || ciphertextSize(plain, chunkSize) !== storedSize) throw badParams('stored size is not a valid ciphertext size');
  return plain;
}

export interface RangePlan {
  firstChunk: number;
  storedStart: number;
  storedEnd: number; // inclusive
  skip: number; // plaintext bytes to drop from the start of firstChunk
  length: number; // plaintext bytes to emit
}

/** Which stored bytes of one stream cover plaintext [start, end] (inclusive, 0 <= start <= end < plainSize). */
export function planRange(plainSize: number, chunkSize: number, start: number, end: number): RangePlan {
  checkSize(plainSize);
  checkChunkSize(chunkSize);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= plainSize) {
    throw badParams('range must satisfy 0 <= start <= end < plainSize');
  }
  const firstChunk = Math.floor(start / chunkSize);
  const lastChunk = Math.floor(end / chunkSize);
  const stored = chunkSize + TAG_SIZE;
  return {
    firstChunk,
    storedStart: firstChunk * stored,
    storedEnd: lastChunk * stored + chunkPlainLength(plainSize, chunkSize, lastChunk) + TAG_SIZE - 1,
    skip: start - firstChunk * chunkSize,
    length: end - start + 1,
  };
}

/**
 * Per-chunk nonce: the stream nonce with the 64-bit big-endian chunk index XORed into its last 8 bytes.
 * Writes into `out` (12 bytes) so callers can reuse one buffer.
 */
export function chunkNonce(streamNonce: Buffer, index: number, out: Buffer = Buffer.allocUnsafe(NONCE_SIZE)): Buffer {
  streamNonce.copy(out, 0, 0, NONCE_SIZE);
  const hi = Math.floor(index / TWO_32);
  const lo = index % TWO_32;
  out.writeUInt32BE((out.readUInt32BE(4) ^ hi) >>> 0, 4);
  out.writeUInt32BE((out.readUInt32BE(8) ^ lo) >>> 0, 8);
  return out;
}

/** Per-chunk AAD: version (1) ‖ flags (1; bit 0 = final chunk) ‖ chunk index (8, big-endian). */
export function chunkAad(index: number, final: boolean, out: Buffer = Buffer.allocUnsafe(AAD_SIZE)): Buffer {
  out[0] = FORMAT_VERSION;
  out[1] = final ? FLAG_FINAL : 0;
  out.writeUInt32BE(Math.floor(index / TWO_32), 2);
  out.writeUInt32BE(index % TWO_32, 6);
  return out;
}

export interface PartRangePlan extends RangePlan {
  part: number; // index into the parts array
  partStoredStart: number; // where this part's stored bytes begin in the concatenation of all parts
}

/**
 * A multipart object is a sequence of independent streams (one per part). Splits plaintext [start, end]
 * (inclusive) of the whole object into one RangePlan per part it touches. Each plan's storedStart/storedEnd
 * are relative to its part; add partStoredStart for offsets into the parts' concatenated stored bytes.
 */
export function planPartsRange(
  parts: ReadonlyArray<{ plainSize: number; chunkSize: number }>,
  start: number,
  end: number,
): PartRangePlan[] {
  let total = 0;
  for (const p of parts) {
    checkSize(p.plainSize);
    total += p.plainSize;
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= total) {
    throw badParams('range must satisfy 0 <= start <= end < total plaintext size');
  }
  const out: PartRangePlan[] = [];
  let plainOff = 0;
  let storedOff = 0;
  for (let i = 0; i < parts.length && plainOff <= end; i++) {
    const { plainSize, chunkSize } = parts[i]!;
    const partEnd = plainOff + plainSize - 1;
    if (plainSize > 0 && partEnd >= start) {
      const plan = planRange(plainSize, chunkSize, Math.max(start, plainOff) - plainOff, Math.min(end, partEnd) - plainOff);
      out.push({ part: i, partStoredStart: storedOff, ...plan });
    }
    plainOff += plainSize;
    storedOff += ciphertextSize(plainSize, chunkSize);
  }
  return out;
}
