// Gateway crash safety: kill -9 of the gateway during concurrent PUTs and multipart uploads; after a
// restart every listed object is complete and one of the versions written, and the first use of the
// bucket removed every upstream blob no record refers to (and the upstream multipart uploads of
// interrupted staging). A gateway with another root key refuses the upstream prefix (its marker).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  ListBucketsCommand,
  PutObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { startCrashWorkload, verifyCrashedStore } from '../helpers/crash-workload.ts';

const MiB = 1024 * 1024;

async function upstreamNames(up: KuraServer, bucket: string, prefix: string): Promise<string[]> {
  const c = up.client();
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    out.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

describe('gateway backend: crash safety', () => {
  test('kill -9 during concurrent writes: complete objects only, orphan blobs removed upstream', async () => {
    let gw = await startKura({ backend: 's3' });
    const dataDir = gw.dataDir;
    try {
      let s3: S3Client = gw.client({ maxAttempts: 1 });
      const bucket = 'crash';
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      // Some bodies exceed the staging part size (8 MiB): staged upstream as multipart uploads.
      const load = startCrashWorkload(s3, bucket, {
        writers: 4,
        keys: 5,
        bodySize: (i) => (i % 4 === 3 ? 9 * MiB : Math.floor(Math.random() * 2 * MiB)),
      });
      // Kill once a few writes have landed, while the others are in flight.
      while (load.completed() < 8) await new Promise((r) => setTimeout(r, 50));
      await gw.kill9();
      await load.stop();

      gw = await startKura({ backend: 's3', dataDir });
      s3 = gw.client();
      const { visible, blobs } = await verifyCrashedStore(s3, bucket, load.written);
      assert.ok(visible > 0, 'some objects survived');
      // Upstream: exactly the referenced blobs remain (the bucket was loaded by the listing above).
      const up = gw.upstream!;
      const names = await upstreamNames(up, gw.upstreamBucket!, 'gw/blobs/');
      assert.equal(names.length, blobs, 'no orphan blobs upstream');
      const staging = await up.client().send(new ListMultipartUploadsCommand({ Bucket: gw.upstreamBucket!, Prefix: 'gw/' }));
      assert.equal(staging.Uploads?.length ?? 0, 0, 'no upstream multipart uploads left from interrupted staging');
      // And the store keeps working.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'after', Body: 'ok' }));
      assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'after' }))).Body)).toString(), 'ok');
    } finally {
      await gw.stop({ keepData: false });
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('a gateway with another root key refuses the upstream store', async () => {
    const gw = await startKura({ backend: 's3' });
    try {
      await gw.client().send(new CreateBucketCommand({ Bucket: 'mine' }));
      await assert.rejects(
        startKura({ backend: 's3', upstream: gw.upstream!, env: { KURA_ROOT_KEY: randomBytes(32).toString('base64') } }),
        /exited with 1 before listening[\s\S]*another root key/,
      );
      // Another prefix of the same upstream bucket is another store: that works.
      const other = await startKura({
        backend: 's3',
        upstream: gw.upstream!,
        upstreamPrefix: 'other/',
        env: { KURA_ROOT_KEY: randomBytes(32).toString('base64') },
      });
      try {
        assert.deepEqual((await other.client().send(new ListBucketsCommand({}))).Buckets ?? [], []);
      } finally {
        await other.stop();
      }
      // The same root key on the same prefix is the same store (several nodes share a prefix with PostgreSQL
      // metadata: test/scale-out/); the first gateway keeps working.
      const rootKey = (await readFile(join(gw.dataDir, '.kura', 'root.key'), 'utf8')).trim();
      const same = await startKura({ backend: 's3', upstream: gw.upstream!, env: { KURA_ROOT_KEY: rootKey } });
      await same.stop();
      assert.deepEqual(
        (await gw.client().send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name),
        ['mine'],
      );
    } finally {
      await gw.stop();
    }
  });
});
