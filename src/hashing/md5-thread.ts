// MD5 of large streams on a worker thread. MD5 is ~1.3 CPU s/GiB and inherently serial: the most expensive
// step of a server PUT (AWS's ETag is the MD5 for plain and SSE-S3 objects) and of an OSS-format download
// check. Hashing off the event loop lets it run beside socket I/O, the cipher and file writes on another core.
// Bytes are copied into 1 MiB batches whose buffers are transferred (not copied again) to the worker; at
// most MAX_IN_FLIGHT bytes per stream wait there, so a slow hash slows the upload instead of using memory.
import { Worker } from 'node:worker_threads';

const BATCH = 1024 * 1024;
const MAX_IN_FLIGHT = 4 * BATCH;

// Plain JavaScript (no loader needed in the worker): one MD5 state per stream id.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = createHash('md5')));
    h.update(new Uint8Array(m.buf, 0, m.len));
    parentPort.postMessage({ id: m.id, op: 'ack', len: m.len, buf: m.buf }, [m.buf]);
  } else if (m.op === 'digest') {
    const h = hashes.get(m.id) || createHash('md5');
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, op: 'digest', hex: h.digest('hex') });
  } else if (m.op === 'drop') {
    hashes.delete(m.id);
  }
});
`;

type Reply = { id: number; op: 'ack'; len: number; buf: ArrayBuffer } | { id: number; op: 'digest'; hex: string };

let worker: Worker | undefined;
// Batch buffers come back from the worker and are reused: no fresh 1 MiB allocation (and GC pressure) per MiB.
const spare: ArrayBuffer[] = [];
const MAX_SPARE = 16;
function batchBuffer(): Buffer {
  const ab = spare.pop();
  return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(BATCH);
}
let nextId = 1;
const streams = new Map<number, ThreadedMd5>();

function theWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.on('message', (m: Reply) => {
    if (m.op === 'ack' && spare.length < MAX_SPARE) spare.push(m.buf);
    streams.get(m.id)?.onReply(m);
  });
  const lost = (err: Error): void => {
    if (worker === w) worker = undefined;
    // Only this worker's streams: a replacement may already serve newer ones ('exit' follows 'error').
    for (const s of [...streams.values()]) if (s.worker === w) s.fail(err);
  };
  w.on('error', lost);
  w.on('exit', (code) => lost(new Error(`MD5 worker exited (${code})`)));
  w.unref(); // kept alive only while some stream waits on it (track/untrack); after the listeners, which ref it
  worker = w;
  return w;
}

function track(s: ThreadedMd5, id: number): void {
  if (streams.size === 0) worker?.ref();
  streams.set(id, s);
}

function untrack(id: number): boolean {
  const had = streams.delete(id);
  if (had && streams.size === 0) worker?.unref();
  return had;
}

/** An MD5 computed on the shared worker thread: update() synchronously, digest() once at the end. */
export class ThreadedMd5 {
  private readonly id = nextId++;
  readonly worker = theWorker();
  private batch = batchBuffer();
  private fill = 0;
  private inFlight = 0;
  private failed?: Error;
  private room?: { resolve: () => void; reject: (e: Error) => void };
  private result?: { resolve: (hex: string) => void; reject: (e: Error) => void };
  private done = false;

  constructor() {
    track(this, this.id);
  }

  update(data: Buffer): void {
    if (this.done) throw new Error('MD5 already finished');
    let off = 0;
    while (off < data.length) {
      const n = data.copy(this.batch, this.fill, off);
      this.fill += n;
      off += n;
      if (this.fill === BATCH) this.send();
    }
  }

  /** A promise while too many bytes wait on the worker (the caller should pause its input), else undefined. */
  backlog(): Promise<void> | undefined {
    if (this.failed) return Promise.reject(this.failed);
    if (this.inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise((resolve, reject) => {
      this.room = { resolve, reject };
    });
  }

  digest(): Promise<string> {
    if (this.done) throw new Error('MD5 already finished');
    this.done = true;
    if (this.failed) return Promise.reject(this.failed);
    if (this.fill > 0) this.send();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.worker.postMessage({ id: this.id, op: 'digest' });
    });
  }

  /** Forgets the stream of an aborted upload (the worker drops its state); no-op once digest() was asked. */
  dispose(): void {
    if (this.done || !untrack(this.id)) return;
    this.done = true;
    if (!this.failed) this.worker.postMessage({ id: this.id, op: 'drop' });
  }

  private send(): void {
    const buf = this.batch;
    this.worker.postMessage({ id: this.id, op: 'update', buf: buf.buffer, len: this.fill }, [buf.buffer as ArrayBuffer]);
    this.inFlight += this.fill;
    this.batch = batchBuffer();
    this.fill = 0;
  }

  onReply(m: Reply): void {
    if (m.op === 'ack') {
      this.inFlight -= m.len;
      if (this.room && this.inFlight <= MAX_IN_FLIGHT) {
        const r = this.room;
        this.room = undefined;
        r.resolve();
      }
    } else {
      untrack(this.id);
      this.result?.resolve(m.hex);
    }
  }

  fail(err: Error): void {
    untrack(this.id);
    this.failed = err;
    this.room?.reject(err);
    this.result?.reject(err);
  }
}
