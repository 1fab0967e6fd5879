// Whole-object reads as parallel ranged GETs, relayed in order as one stream.
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { CseError } from './errors.ts';
import type { UserMetadata } from './format.ts';
import type { ssecRead, Transfer } from './transfer.ts';

/**
 * The stored bytes of a whole object as one stream, fetched as ranged GETs of `partSize` bytes with up to
 * `concurrency` requests open at once (as `aws s3 cp` does), read in order: the server prepares the next
 * parts (up to what the socket buffers hold) while this side decrypts, and nothing is held in memory here.
 * The first GET (bytes 0..partSize-1) brings the metadata and the total size; the others are bound to its
 * ETag (If-Match), so a concurrent overwrite fails the read rather than mixing two objects.
 */
export async function fetchWhole(
  t: Transfer,
  Bucket: string,
  Key: string,
  read: ReturnType<typeof ssecRead>,
  signal?: AbortSignal,
): Promise<{ Body: Readable; size: number; Metadata: UserMetadata; ETag?: string }> {
  const partSize = t.partSize;
  const first = await t.s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=0-${partSize - 1}`, ...read }), { abortSignal: signal });
  const total = /^bytes \d+-(\d+)\/(\d+)$/.exec(first.ContentRange ?? '');
  const size = total ? Number(total[2]) : (first.ContentLength ?? 0);
  const firstLen = total ? Number(total[1]) + 1 : size;
  const meta = { Metadata: first.Metadata ?? {}, ETag: first.ETag, size };
  if (firstLen >= size) return { ...meta, Body: first.Body as Readable };
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const open = (start: number) => {
    const end = Math.min(start + partSize, size) - 1;
    const body = t.s3
      .send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}`, IfMatch: first.ETag, ...read }), { abortSignal: ac.signal })
      .then((r) => r.Body as Readable);
    body.catch(() => undefined); // awaited in turn below; this only keeps an early failure from going unhandled
    return { start, end, body };
  };
  const concurrency = t.concurrency;
  const queue: ReturnType<typeof open>[] = [];
  let next = firstLen;
  const launch = () => {
    queue.push(open(next));
    next += partSize;
  };
  // Requests open ahead of the one being read: concurrency - 1 (none at concurrency 1).
  const fill = () => {
    while (queue.length < concurrency - 1 && next < size) launch();
  };
  let current: Readable | undefined;
  // Each part's body is relayed chunk by chunk (events, no promise per chunk), paused when the reader is full.
  const out: Readable = new Readable({
    read() {
      current?.resume();
    },
    destroy(err, cb) {
      // Finished, failed or abandoned by the reader: stop whatever is still open.
      ac.abort();
      signal?.removeEventListener('abort', onAbort);
      current?.destroy();
      for (const q of queue)
        void q.body.then(
          (b) => b.destroy(),
          () => undefined,
        );
      cb(err);
    },
  });
  const relay = (body: Readable, start: number, end: number) => {
    current = body;
    let n = 0;
    body.on('data', (c: Buffer) => {
      n += c.length;
      if (!out.push(c)) body.pause();
    });
    body.once('error', (e) => out.destroy(e));
    body.once('end', () => {
      if (n !== end - start + 1)
        return out.destroy(new CseError('IntegrityError', `ranged read of bytes ${start}-${end} returned ${n} bytes`));
      if (!queue.length && next >= size) return void out.push(null);
      if (!queue.length) launch();
      const part = queue.shift()!;
      fill();
      part.body.then(
        (b) => (out.destroyed ? b.destroy() : relay(b, part.start, part.end)),
        (e) => out.destroy(e),
      );
    });
  };
  fill();
  relay(first.Body as Readable, 0, firstLen - 1);
  return { ...meta, Body: out };
}
