// Crash safety and graceful shutdown of a real `kura server` process (bounded memory: memory-ceiling.test.ts).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { startCrashWorkload, verifyCrashedStore } from '../helpers/crash-workload.ts';

const MiB = 1024 * 1024;

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    n += e.isDirectory() ? await countFiles(join(dir, e.name)) : 1;
  }
  return n;
}

/** After a crash: every listed object complete and a written version; no leftovers on disk. */
async function verifyStore(srv: KuraServer, s3: S3Client, bucket: string, written: Map<string, Set<string>>): Promise<number> {
  const { visible, blobs } = await verifyCrashedStore(s3, bucket, written);
  // Start-up removed the temp files of interrupted writes, and the first use of the bucket removed
  // blobs no metadata refers to.
  assert.equal(await countFiles(join(srv.dataDir, '.kura', 'blobs', '.tmp')), 0, 'no temp leftovers');
  assert.equal(await countFiles(join(srv.dataDir, '.kura', 'blobs')), blobs, 'no orphan blobs');
  return visible;
}

describe('kura server: durability', () => {
  test('kill -9 during concurrent writes: after restart every visible object is complete and a written version', async () => {
    let srv = await startKura();
    const dataDir = srv.dataDir;
    try {
      let s3 = srv.client({ maxAttempts: 1 });
      const bucket = 'crash';
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const written = new Map<string, Set<string>>();
      for (let round = 0; round < 2; round++) {
        const load = startCrashWorkload(s3, bucket, { writers: 6, keys: 6, bodySize: () => Math.floor(Math.random() * 2 * MiB), written });
        // Kill once writes are landing (on a loaded machine the first may take seconds), with more in flight.
        for (const deadline = Date.now() + 60_000; load.completed() === 0 && Date.now() < deadline;)
          await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 600 + round * 500));
        await srv.kill9();
        await load.stop();
        assert.ok(load.completed() > 0, 'some writes completed before the crash');
        srv = await startKura({ dataDir });
        s3 = srv.client({ maxAttempts: 1 });
        const visible = await verifyStore(srv, s3, bucket, written);
        assert.ok(visible > 0);
      }
      // The restarted server keeps working on the same keys.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'k0', Body: 'after the crash' }));
      assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k0' }))).Body!.transformToString(), 'after the crash');
    } finally {
      await srv.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('SIGTERM finishes in-flight requests, refuses new connections, exits 0', async () => {
    const srv = await startKura();
    const dataDir = srv.dataDir;
    try {
      const s3 = srv.client();
      await s3.send(new CreateBucketCommand({ Bucket: 'shutdown' }));
      const total = 4 * MiB;
      const chunk = randomBytes(256 * 1024);
      let sent = 0;
      const slow = new Readable({
        read() {
          if (sent >= total) return void this.push(null);
          setTimeout(() => {
            sent += chunk.length;
            this.push(chunk);
          }, 60);
        },
      });
      const put = s3.send(new PutObjectCommand({ Bucket: 'shutdown', Key: 'slow', Body: slow, ContentLength: total }));
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(sent > 0 && sent < total, 'upload is in flight');
      const stopped = srv.stop({ keepData: true });
      await new Promise((r) => setTimeout(r, 100));
      await assert.rejects(fetch(`${srv.endpoint}/health`), 'new connections are refused while draining');
      const res = await put;
      assert.equal(res.$metadata.httpStatusCode, 200);
      assert.equal(await stopped, 0);
      const again = await startKura({ dataDir });
      try {
        const head = await again.client().send(new HeadObjectCommand({ Bucket: 'shutdown', Key: 'slow' }));
        assert.equal(head.ContentLength, total);
      } finally {
        await again.stop({ keepData: true });
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
