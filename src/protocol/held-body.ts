// Response bodies already in memory (small decrypted objects): a readable that also carries its chunks,
// so the server can write them in one go instead of streaming. Shared by the SSE layer and the server.
import { Readable } from 'node:stream';

const HELD = Symbol('held chunks');

/** A readable over chunks already in memory; sendStream writes them in one go instead of streaming. */
export function heldBody(chunks: Buffer[]): Readable {
  const r = Readable.from(chunks, { objectMode: false });
  (r as Readable & { [HELD]?: Buffer[] })[HELD] = chunks;
  return r;
}

export function heldChunks(stream: Readable): Buffer[] | undefined {
  const r = stream as Readable & { [HELD]?: Buffer[] };
  // Only while nothing was read from it yet.
  return r[HELD] && r.readableLength === 0 && !r.readableDidRead ? r[HELD] : undefined;
}
