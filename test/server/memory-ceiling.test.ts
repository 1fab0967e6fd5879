// Bounded memory of a real `kura server` process: a 5 GiB object streams through under a fixed RSS ceiling.
// Heavy (minutes, 5 GiB through the disk): group `memory` of scripts/test.mjs, not in `npm run test:fast`.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { startKura } from '../helpers/server.ts';

const MiB = 1024 * 1024;

describe('kura server: memory ceiling', () => {
  test('a 5 GiB SSE-S3 PUT and GET stream through while the server stays under a fixed memory ceiling', { timeout: 300_000 }, async (t) => {
    const srv = await startKura();
    try {
      const s3 = srv.client();
      await s3.send(new CreateBucketCommand({ Bucket: 'stream' }));
      const size = 5 * 1024 * MiB;
      // Generated on the fly, never held: 1 MiB of random bytes repeated, each copy stamped with its
      // index so a dropped, repeated or reordered block changes the hash.
      const base = randomBytes(MiB);
      const blockAt = (i: number): Buffer => {
        const b = Buffer.from(base);
        b.writeUInt32BE(i, 0);
        return b;
      };
      const sent = createHash('md5');
      let produced = 0;
      const body = new Readable({
        read() {
          if (produced >= size) return void this.push(null);
          const b = blockAt(produced / MiB);
          produced += b.length;
          sent.update(b);
          this.push(b);
        },
      });
      const started = Date.now();
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'stream', Key: 'huge', Body: body, ContentLength: size, ServerSideEncryption: 'AES256' }),
      );
      const sentMd5 = sent.digest('hex');
      assert.equal(put.ServerSideEncryption, 'AES256');
      assert.equal(put.ETag, `"${sentMd5}"`);
      const putSeconds = (Date.now() - started) / 1000;
      const get = await s3.send(new GetObjectCommand({ Bucket: 'stream', Key: 'huge' }));
      assert.equal(get.ContentLength, size);
      const received = createHash('md5');
      let got = 0;
      for await (const c of get.Body as AsyncIterable<Uint8Array>) {
        got += c.length;
        received.update(c);
      }
      assert.equal(got, size);
      assert.equal(received.digest('hex'), sentMd5);
      const status = await readFile(`/proc/${srv.process.pid}/status`, 'utf8');
      const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
      assert.ok(peakKiB > 0, 'VmHWM read');
      // A fixed ceiling, far below the object size: memory does not grow with the object.
      assert.ok(peakKiB * 1024 < 300 * MiB, `server peak RSS ${Math.round(peakKiB / 1024)} MiB`);
      t.diagnostic(
        `5 GiB: PUT ${putSeconds.toFixed(1)} s, GET ${((Date.now() - started) / 1000 - putSeconds).toFixed(1)} s, server peak RSS ${Math.round(peakKiB / 1024)} MiB`,
      );
    } finally {
      await srv.stop();
    }
  });
});
