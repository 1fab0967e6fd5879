// PayloadDigests: MD5 inline for small bodies and on the worker thread for large ones, byte-for-byte
// equal to a plain createHash; bounded backlog; abandoned bodies release their worker state. Then the
// ETags and Content-MD5 checks through a real server in each encryption mode.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PayloadDigests } from '../../src/hashing/payload-digests.ts';
import { ThreadedMd5 } from '../../src/hashing/md5-thread.ts';
import { startKura, s3Error, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecParams } from '../sse/helpers.ts';

const MiB = 1024 * 1024;
const md5hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Feeds `data` in pieces of random sizes (honouring backlog like the streams do). */
async function digest(data: Buffer, sizeHint?: number, opts: { pieces?: number; algorithm?: 'CRC32' } = {}): Promise<PayloadDigests> {
  const d = new PayloadDigests(opts.algorithm, { sizeHint });
  let off = 0;
  while (off < data.length) {
    const n = Math.min(data.length - off, 1 + Math.floor(Math.random() * (opts.pieces ?? 300_000)));
    d.update(data.subarray(off, off + n));
    off += n;
    const wait = d.backlog();
    if (wait) await wait;
  }
  d.finish();
  await d.settled();
  return d;
}

describe('PayloadDigests', () => {
  test('inline (small hint) and threaded (large or unknown size) MD5s equal createHash', async () => {
    for (const size of [0, 1, 4096, MiB - 1, MiB, MiB + 1, 5 * MiB + 12345]) {
      const data = randomBytes(size);
      for (const hint of [size, undefined, 0, 64 * MiB]) {
        const d = await digest(data, hint);
        assert.equal(d.md5Hex, md5hex(data), `size ${size}, hint ${hint}`);
        assert.equal(d.size, size);
      }
    }
  });

  test('concurrent threaded bodies keep their own state; the checksum is unaffected', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(3 * MiB + i * 7777));
    const got = await Promise.all(bodies.map((b) => digest(b, undefined, { pieces: 70_000, algorithm: 'CRC32' })));
    got.forEach((d, i) => {
      assert.equal(d.md5Hex, md5hex(bodies[i]!));
      assert.ok(d.checksum && d.checksum.length === 8);
    });
  });

  test('the backlog holds a fast writer back: it waits instead of queueing the whole body', async () => {
    const d = new PayloadDigests(undefined, {});
    const piece = randomBytes(MiB);
    let waited = 0;
    for (let i = 0; i < 64; i++) {
      d.update(piece);
      const wait = d.backlog();
      if (wait) {
        waited++;
        await wait;
      }
    }
    assert.ok(waited > 0, 'never asked to wait');
    d.finish();
    await d.settled();
    const h = createHash('md5');
    for (let i = 0; i < 64; i++) h.update(piece);
    assert.equal(d.md5Hex, h.digest('hex'));
  });

  test('a lost worker fails the bodies it held (never a wrong digest); a new one serves later bodies', async () => {
    const doomed = new ThreadedMd5();
    doomed.update(randomBytes(2 * MiB));
    await doomed.worker.terminate();
    await assert.rejects(doomed.digest(), /MD5 worker exited/);
    const next = new ThreadedMd5();
    assert.notEqual(next.worker, doomed.worker);
    const data = randomBytes(3 * MiB + 1);
    next.update(data);
    assert.equal(await next.digest(), md5hex(data));
  });

  test('an abandoned body is disposed; later bodies still hash', async () => {
    const d = new PayloadDigests(undefined, {});
    d.update(randomBytes(3 * MiB));
    d.dispose();
    const data = randomBytes(2 * MiB);
    assert.equal((await digest(data)).md5Hex, md5hex(data));
  });
});

describe('ETags and Content-MD5 per encryption mode (large bodies: MD5 on the worker thread)', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const Bucket = 'etag-modes';
  const body = randomBytes(3 * MiB + 5);
  const goodMd5 = createHash('md5').update(body).digest('base64');
  const badMd5 = createHash('md5').update('other').digest('base64');

  before(async () => {
    srv = await startKura();
    s3 = srv.client({ https: true });
    await s3.send(new CreateBucketCommand({ Bucket }));
  });
  after(async () => {
    s3.destroy();
    await srv.stop();
  });

  const modes = {
    'SSE-S3': { ServerSideEncryption: 'AES256' as const },
    'SSE-KMS': { ServerSideEncryption: 'aws:kms' as const },
    'SSE-C': ssecParams(newKey()),
  };
  for (const [name, params] of Object.entries(modes)) {
    test(`${name}: right Content-MD5 accepted, wrong one BadDigest; ETag is the MD5 only for SSE-S3`, async () => {
      const r = await s3.send(new PutObjectCommand({ Bucket, Key: `${name}/ok`, Body: body, ContentMD5: goodMd5, ...params }));
      const etag = r.ETag!.replaceAll('"', '');
      if (name === 'SSE-S3') assert.equal(etag, md5hex(body));
      else assert.notEqual(etag, md5hex(body));
      const noMd5 = await s3.send(new PutObjectCommand({ Bucket, Key: `${name}/no-md5`, Body: body, ...params }));
      if (name === 'SSE-S3') assert.equal(noMd5.ETag!.replaceAll('"', ''), md5hex(body));
      else assert.match(noMd5.ETag!, /^"[0-9a-f]{32}"$/);
      const err = await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: `${name}/bad`, Body: body, ContentMD5: badMd5, ...params })));
      assert.equal(err.name, 'BadDigest');
      assert.equal(err.$metadata.httpStatusCode, 400);
    });
  }
});
