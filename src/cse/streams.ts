// Stream building blocks shared by the formats: counter arithmetic, GCM with a trailing tag,
// byte slicing and plaintext integrity checks. Primitives are OpenSSL's (node:crypto).
import { createCipheriv, createDecipheriv, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { CseError, integrity } from './errors.ts';
import { ThreadedMd5 } from '../hashing/md5-thread.ts';

/** 128-bit big-endian addition of `blocks` to a 16-byte counter block (as AES-CTR increments it). */
function addCounter(iv: Buffer, blocks: number): Buffer {
  const out = Buffer.from(iv);
  let carry = BigInt(blocks);
  for (let i = 15; i >= 0 && carry > 0n; i--) {
    const sum = BigInt(out[i]!) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

/** AES-256-CTR keystream transform starting `offset` bytes (a multiple of 16) into the stream of `iv`. */
export function ctrTransform(key: Buffer, iv: Buffer, offset = 0): Transform {
  if (offset % 16 !== 0) throw new RangeError('CTR offset must be a multiple of 16');
  const c = createCipheriv('aes-256-ctr', key, addCounter(iv, offset / 16));
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      cb(null, c.update(chunk));
    },
    flush(cb) {
      cb(null, c.final());
    },
  });
}

/** AES-256-GCM encryption with the 16-byte tag appended at the end (the S3EC content layout). */
export function gcmEncryptTransform(key: Buffer, iv: Buffer, aad?: Buffer): Transform {
  const c = createCipheriv('aes-256-gcm', key, iv) as CipherGCM;
  if (aad) c.setAAD(aad);
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      cb(null, c.update(chunk));
    },
    flush(cb) {
      const last = c.final();
      cb(null, Buffer.concat([last, c.getAuthTag()]));
    },
  });
}

/**
 * AES-256-GCM decryption of `ciphertext ‖ tag`. Holds back the last 16 bytes; a wrong tag fails the
 * stream at its end, so the output is only trustworthy once the stream finished without error.
 */
export function gcmDecryptTransform(key: Buffer, iv: Buffer, aad?: Buffer): Transform {
  const d = createDecipheriv('aes-256-gcm', key, iv) as DecipherGCM;
  if (aad) d.setAAD(aad);
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      const all = tail.length ? Buffer.concat([tail, chunk]) : chunk;
      if (all.length <= 16) {
        tail = Buffer.from(all);
        return cb();
      }
      tail = Buffer.from(all.subarray(all.length - 16));
      cb(null, d.update(all.subarray(0, all.length - 16)));
    },
    flush(cb) {
      if (tail.length !== 16) return cb(integrity('ciphertext shorter than its authentication tag'));
      try {
        d.setAuthTag(tail);
        cb(null, d.final());
      } catch (e) {
        cb(integrity('authentication tag mismatch: the object was altered', e));
      }
    },
  });
}

/** Emits bytes [skip, skip+length) of its input (length undefined: to the end). */
export function sliceTransform(skip: number, length?: number): Transform {
  let pos = 0;
  const end = length === undefined ? Infinity : skip + length;
  return new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      const from = Math.max(skip - pos, 0);
      const to = Math.min(end - pos, chunk.length);
      pos += chunk.length;
      cb(null, to > from ? chunk.subarray(from, to) : undefined);
    },
  });
}

/**
 * Passes bytes through and fails at the end if their count or MD5 differs from what was stored. The MD5
 * runs on the worker thread (hashing/md5-thread.ts): beside decryption and file writes, not after them.
 */
export function checkPlaintext(expect: { size?: number; md5?: Buffer }): Transform {
  let n = 0;
  const h = expect.md5 ? new ThreadedMd5() : undefined;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      if (expect.size !== undefined && n > expect.size) return cb(integrity(`decrypted size exceeds the stored size ${expect.size}`));
      h?.update(chunk);
      this.push(chunk);
      const wait = h?.backlog();
      if (wait) wait.then(() => cb(), cb);
      else cb();
    },
    flush(cb) {
      if (expect.size !== undefined && n !== expect.size)
        return cb(integrity(`decrypted size ${n} differs from the stored size ${expect.size}`));
      if (!h) return cb();
      h.digest().then((hex) => {
        if (hex !== expect.md5!.toString('hex')) return cb(integrity('decrypted MD5 differs from the stored MD5: the object was altered'));
        cb();
      }, cb);
    },
    destroy(err, cb) {
      h?.dispose();
      cb(err);
    },
  });
}

export interface Segment {
  /** Input bytes this segment consumes (Infinity: until the input ends). */
  inLen: number;
  t: Transform;
}

/**
 * Runs consecutive independent transforms over consecutive slices of the input: segment i gets the next
 * `inLen` bytes, and its output follows segment i-1's. `next(i)` undefined means no more input is allowed.
 * At the end, `finish(started)` may add trailing bytes; a segment left short is an error unless `shortLastOk`.
 */
export function segmented(
  next: (i: number) => Segment | undefined,
  opts: { shortLastOk?: boolean; finish?: (started: number) => Buffer | undefined } = {},
): Transform {
  let cur: (Segment & { left: number }) | undefined;
  let index = 0;
  // Failures inside a segment (the crypto core's tag checks) surface as integrity errors of the whole.
  const asIntegrity = (e: unknown) => (e instanceof CseError ? e : integrity((e as Error)?.message ?? 'segment failed', e));
  const watch = (t: Transform) => {
    t.on('data', (d: Buffer) => out.push(d));
    t.on('error', (e) => out.destroy(asIntegrity(e)));
  };
  const endCur = async () => {
    const s = cur!;
    cur = undefined;
    s.t.end();
    await finished(s.t).catch((e) => {
      throw asIntegrity(e);
    });
    if (s.left > 0 && !opts.shortLastOk) throw integrity('the stored object ended early (truncated)');
  };
  const out: Transform = new Transform({
    transform(chunk: Buffer, _e, cb) {
      // Fast path, the common case: the chunk stays inside the current segment and the segment takes it
      // without backpressure; no promise per chunk.
      if (cur && chunk.length < cur.left) {
        cur.left -= chunk.length;
        if (cur.t.write(chunk)) return cb();
        cur.t.once('drain', () => cb());
        return;
      }
      (async () => {
        let buf = chunk;
        while (buf.length) {
          if (!cur) {
            const s = next(index++);
            if (!s) throw integrity('the stored object has trailing bytes');
            watch(s.t);
            cur = { ...s, left: s.inLen };
          }
          const n = Math.min(buf.length, cur.left);
          if (!cur.t.write(buf.subarray(0, n))) await once(cur.t, 'drain');
          cur.left -= n;
          buf = buf.subarray(n);
          if (cur.left === 0) await endCur();
        }
      })().then(
        () => cb(),
        (e) => cb(e),
      );
    },
    flush(cb) {
      (async () => {
        if (cur) await endCur();
        // Segments that take no input (an empty final segment) still run.
        for (let s = next(index); s && s.inLen === 0; s = next(index)) {
          index++;
          watch(s.t);
          s.t.end();
          await finished(s.t).catch((e) => {
            throw asIntegrity(e);
          });
        }
        const tail = opts.finish?.(index);
        if (tail?.length) out.push(tail);
      })().then(
        () => cb(),
        (e) => cb(e),
      );
    },
  });
  return out;
}
