// Shared helpers for the crypto core tests.
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface RunResult {
  out: Buffer;
  err: (Error & { code?: string }) | undefined;
}

/** Feeds `pieces` through `t`; returns everything it emitted and the error it failed with, if any. */
export async function run(t: Transform, pieces: Buffer[]): Promise<RunResult> {
  const got: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got.push(Buffer.from(chunk));
      cb();
    },
  });
  let err: RunResult['err'];
  try {
    await pipeline(Readable.from(pieces, { objectMode: false }), t, sink);
  } catch (e) {
    err = e as RunResult['err'];
  }
  return { out: Buffer.concat(got), err };
}

/** Deterministic PRNG (mulberry32) so failures reproduce from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits `buf` into random pieces: mostly small, sometimes large, sometimes empty. */
export function randomSlices(buf: Buffer, seed: number, maxPiece = 3 * 65536): Buffer[] {
  const rnd = prng(seed);
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const r = rnd();
    const n = r < 0.05 ? 0 : r < 0.5 ? 1 + Math.floor(rnd() * 17) : 1 + Math.floor(rnd() * maxPiece);
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

export function bytesOneByOne(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** Emitted bytes must be a prefix of the true plaintext: a failing stream may stop early, never lie. */
export function isPrefixOf(emitted: Buffer, truth: Buffer): boolean {
  return emitted.length <= truth.length && emitted.equals(truth.subarray(0, emitted.length));
}
