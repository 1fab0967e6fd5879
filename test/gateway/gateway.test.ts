// The S3 gateway backend (`kura server --backend s3`): a Kura in front of another S3 store (here a
// second real Kura). Real SDK clients against the gateway: objects, ranges, listing, copy, delete,
// multipart through lib-storage, SSE-C and SSE-KMS, versioning; then the gateway is restarted on a
// fresh data dir holding only the root key and the KMS files, and everything reads back. The upstream
// store's objects, fetched through the SDK, never contain the plaintext, the SSE-C key, object keys
// or user metadata.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { rm } from 'node:fs/promises';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  GetBucketVersioningCommand,
  ListBucketsCommand,
  DeleteBucketCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startKura, s3Error, collect, type KuraServer } from '../helpers/server.ts';

const MARKER = 'PLAINTEXT-MARKER-7c1f0e';
const KEY_MARKER = 'secret-key-name-5d2a';
const META_MARKER = 'secret-metadata-9b3e';
const MIB = 1024 * 1024;

/** Deterministic, incompressible-looking bytes with the plaintext marker every 64 KiB. */
function patterned(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i - (i + 4 > size ? i + 4 - size : 0));
  }
  for (let i = 0; i + MARKER.length < size; i += 64 * 1024) out.write(MARKER, i, 'latin1');
  return out;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function sseC(key: Buffer): { SSECustomerAlgorithm: string; SSECustomerKey: string; SSECustomerKeyMD5: string } {
  return {
    SSECustomerAlgorithm: 'AES256',
    SSECustomerKey: key.toString('base64'),
    SSECustomerKeyMD5: createHash('md5').update(key).digest('base64'),
  };
}

/** Every object of the upstream bucket: name and bytes, fetched through the SDK. */
async function upstreamObjects(up: KuraServer, bucket: string): Promise<{ key: string; body: Buffer }[]> {
  const c = up.client();
  const out: { key: string; body: Buffer }[] = [];
  let token: string | undefined;
  do {
    const page = await c.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      out.push({ key: o.Key!, body: await collect(r.Body) });
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

describe('gateway backend: Kura in front of another S3 store', () => {
  let gw: KuraServer;
  let upstream: KuraServer;
  let s3: S3Client;
  const bucket = 'gw-objects';
  const vbucket = 'gw-versions';
  const small = Buffer.from(`hello ${MARKER} world, the quick brown fox`);
  const big = patterned(21 * MIB + 12345, 7);
  const customerKey = randomBytes(32);
  const ssecBody = Buffer.from(`sse-c ${MARKER} body`);
  const kmsBody = Buffer.from(`sse-kms ${MARKER} body`);
  const versions: { id: string; body: string }[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];

  before(async () => {
    gw = await startKura({ backend: 's3' });
    upstream = gw.upstream!;
    s3 = gw.client({ https: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new CreateBucketCommand({ Bucket: vbucket }));
  });
  after(async () => {
    await gw?.stop();
    for (const f of cleanup) await f();
  });

  test('PUT, GET, HEAD, ranges, user metadata', async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `dir/${KEY_MARKER}.txt`,
        Body: small,
        ContentType: 'text/x-gw',
        Metadata: { note: META_MARKER },
      }),
    );
    assert.equal(put.ETag, `"${createHash('md5').update(small).digest('hex')}"`);
    assert.equal(put.ServerSideEncryption, 'AES256');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `dir/${KEY_MARKER}.txt` }));
    assert.deepEqual(await collect(got.Body), small);
    assert.equal(got.ContentType, 'text/x-gw');
    assert.equal(got.Metadata?.note, META_MARKER);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `dir/${KEY_MARKER}.txt` }));
    assert.equal(head.ContentLength, small.length);
    for (const [range, s, e] of [
      ['bytes=0-0', 0, 0],
      ['bytes=6-20', 6, 20],
      ['bytes=-7', small.length - 7, small.length - 1],
    ] as const) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `dir/${KEY_MARKER}.txt`, Range: range }));
      assert.equal(r.ContentRange, `bytes ${s}-${e}/${small.length}`);
      assert.deepEqual(await collect(r.Body), small.subarray(s, e + 1), range);
    }
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'empty', Body: Buffer.alloc(0) }));
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'empty' }))).Body)).length, 0);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'missing' })))).name, 'NoSuchKey');
  });

  test('a stream of unknown length (aws-chunked) is staged upstream and reads back', async () => {
    const body = patterned(3 * MIB + 5, 3);
    await new Upload({
      client: s3,
      params: { Bucket: bucket, Key: 'streamed.bin', Body: Readable.from([body.subarray(0, MIB), body.subarray(MIB)]) },
      partSize: 8 * MIB,
    }).done();
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed.bin' }));
    assert.equal(sha256(await collect(r.Body)), sha256(body));
  });

  test('multipart through lib-storage (21 MiB, 5 MiB parts): whole and ranges across parts', async () => {
    await new Upload({
      client: s3,
      params: { Bucket: bucket, Key: 'big.bin', Body: Readable.from([big]) },
      partSize: 5 * MIB,
      queueSize: 2,
    }).done();
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    assert.equal(head.ContentLength, big.length);
    assert.match(head.ETag!, /-5"$/);
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }));
    assert.equal(sha256(await collect(r.Body)), sha256(big));
    for (const [s, e] of [
      [5 * MIB - 10, 5 * MIB + 10],
      [0, 15 * MIB + 3],
      [20 * MIB, big.length - 1],
    ] as const) {
      const part = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin', Range: `bytes=${s}-${e}` }));
      assert.deepEqual(await collect(part.Body), big.subarray(s, e + 1), `${s}-${e}`);
    }
    const p2 = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin', PartNumber: 2 }));
    assert.deepEqual(await collect(p2.Body), big.subarray(5 * MIB, 10 * MIB));
  });

  test('copy, list (prefix, delimiter, paging), delete', async () => {
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copy.txt', CopySource: `${bucket}/dir/${KEY_MARKER}.txt` }));
    assert.deepEqual(await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copy.txt' }))).Body), small);
    for (let i = 0; i < 12; i++)
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `list/k${String(i).padStart(2, '0')}`, Body: `v${i}` }));
    const top = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    assert.deepEqual(
      top.CommonPrefixes?.map((p) => p.Prefix),
      ['dir/', 'list/'],
    );
    assert.deepEqual(
      top.Contents?.map((c) => c.Key),
      ['big.bin', 'copy.txt', 'empty', 'streamed.bin'],
    );
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', MaxKeys: 5, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token);
    assert.deepEqual(
      keys,
      Array.from({ length: 12 }, (_, i) => `list/k${String(i).padStart(2, '0')}`),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'list/k11' }));
    assert.equal((await s3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'list/k11' })))).name, 'NotFound');
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/' }))).KeyCount, 11);
  });

  test('SSE-C round trip; the wrong key is refused', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ssec.txt', Body: ssecBody, ...sseC(customerKey) }));
    assert.equal(put.SSECustomerAlgorithm, 'AES256');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec.txt', ...sseC(customerKey) }));
    assert.deepEqual(await collect(got.Body), ssecBody);
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec.txt', Range: 'bytes=2-4', ...sseC(customerKey) }));
    assert.deepEqual(await collect(r.Body), ssecBody.subarray(2, 5));
    assert.equal(
      (await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec.txt', ...sseC(randomBytes(32)) })))).$metadata
        .httpStatusCode,
      403,
    );
  });

  test('SSE-KMS round trip (the AWS-managed key)', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kms.txt', Body: kmsBody, ServerSideEncryption: 'aws:kms' }));
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kms.txt' }));
    assert.equal(got.ServerSideEncryption, 'aws:kms');
    assert.deepEqual(await collect(got.Body), kmsBody);
  });

  test('versioning: versions, delete markers, reads by version id', async () => {
    await s3.send(new PutBucketVersioningCommand({ Bucket: vbucket, VersioningConfiguration: { Status: 'Enabled' } }));
    for (const body of ['one', 'two', 'three']) {
      const r = await s3.send(new PutObjectCommand({ Bucket: vbucket, Key: 'doc', Body: body }));
      versions.push({ id: r.VersionId!, body });
    }
    const del = await s3.send(new DeleteObjectCommand({ Bucket: vbucket, Key: 'doc' }));
    assert.equal(del.DeleteMarker, true);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: vbucket, Key: 'doc' })))).name, 'NoSuchKey');
    for (const v of versions) {
      assert.equal(
        (await collect((await s3.send(new GetObjectCommand({ Bucket: vbucket, Key: 'doc', VersionId: v.id }))).Body)).toString(),
        v.body,
      );
    }
    const list = await s3.send(new ListObjectVersionsCommand({ Bucket: vbucket }));
    assert.deepEqual(
      list.Versions?.map((v) => v.VersionId),
      versions.map((v) => v.id).reverse(),
    );
    assert.equal(list.DeleteMarkers?.length, 1);
    assert.equal(list.DeleteMarkers?.[0]?.IsLatest, true);
    // Removing the marker brings the newest version back.
    await s3.send(new DeleteObjectCommand({ Bucket: vbucket, Key: 'doc', VersionId: list.DeleteMarkers![0]!.VersionId }));
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: vbucket, Key: 'doc' }))).Body)).toString(), 'three');
  });

  test('bucket deletion: a non-empty bucket is refused; an empty one goes, upstream too', async () => {
    assert.equal((await s3Error(s3.send(new DeleteBucketCommand({ Bucket: bucket })))).name, 'BucketNotEmpty');
    await s3.send(new CreateBucketCommand({ Bucket: 'gw-short-lived' }));
    await s3.send(new PutObjectCommand({ Bucket: 'gw-short-lived', Key: 'x', Body: 'x' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'gw-short-lived', Key: 'x' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'gw-short-lived' }));
    assert.deepEqual(
      (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name),
      [bucket, vbucket],
    );
  });

  test('upstream holds ciphertext only: no plaintext, SSE-C key, object key or user metadata', async () => {
    const objs = await upstreamObjects(upstream, gw.upstreamBucket!);
    assert.ok(objs.length > 10, `${objs.length} upstream objects`);
    const needles: [string, Buffer][] = [
      ['plaintext marker', Buffer.from(MARKER)],
      ['SSE-C key', customerKey],
      ['SSE-C key (base64)', Buffer.from(customerKey.toString('base64'))],
      ['object key', Buffer.from(KEY_MARKER)],
      ['user metadata', Buffer.from(META_MARKER)],
      ['bucket name', Buffer.from(bucket)],
      ['small body', small.subarray(0, 24)],
      ['big body', big.subarray(1000, 1032)],
    ];
    for (const { key, body } of objs) {
      for (const [what, needle] of needles) {
        assert.equal(body.includes(needle), false, `${what} in upstream object ${key}`);
        assert.equal(key.includes(needle.toString('latin1')), false, `${what} in upstream name ${key}`);
      }
    }
    // The 21 MiB object is upstream as blobs of at least its size (not inline in a record).
    assert.ok(
      objs.some((o) => o.body.length >= 5 * MIB),
      'part blobs upstream',
    );
  });

  // The metadata (LMDB) lives in the data dir, the blobs upstream: a restart needs both. Nodes that share
  // their metadata use PostgreSQL (test/scale-out/).
  test('restart (metadata in the data dir, blobs upstream): everything reads back', async () => {
    const gwDir = gw.dataDir;
    const oldDirs = [gw.dataDir, upstream.dataDir];
    cleanup.push(async () => {
      await upstream.stop();
      for (const d of oldDirs) await rm(d, { recursive: true, force: true });
    });
    assert.equal(await gw.stop({ keepData: true }), 0);
    // stop() also stopped the upstream it started; bring it back on its data dir.
    upstream = await startKura({ backend: 'fs', dataDir: upstream.dataDir });
    gw = await startKura({ backend: 's3', upstream, dataDir: gwDir });
    s3 = gw.client({ https: true });
    assert.deepEqual(
      (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name),
      [bucket, vbucket],
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `dir/${KEY_MARKER}.txt` }));
    assert.deepEqual(await collect(got.Body), small);
    assert.equal(got.Metadata?.note, META_MARKER);
    assert.equal(sha256(await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin' }))).Body)), sha256(big));
    const range = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big.bin', Range: `bytes=${10 * MIB - 3}-${10 * MIB + 3}` }));
    assert.deepEqual(await collect(range.Body), big.subarray(10 * MIB - 3, 10 * MIB + 4));
    assert.deepEqual(
      await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ssec.txt', ...sseC(customerKey) }))).Body),
      ssecBody,
    );
    assert.deepEqual(await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'kms.txt' }))).Body), kmsBody);
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: vbucket }))).Status, 'Enabled');
    const list = await s3.send(new ListObjectVersionsCommand({ Bucket: vbucket }));
    assert.deepEqual(
      list.Versions?.map((v) => v.VersionId),
      versions.map((v) => v.id).reverse(),
    );
    for (const v of versions) {
      assert.equal(
        (await collect((await s3.send(new GetObjectCommand({ Bucket: vbucket, Key: 'doc', VersionId: v.id }))).Body)).toString(),
        v.body,
      );
    }
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/' }))).KeyCount, 11);
    // Writes keep working after the restart.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-restart', Body: 'ok' }));
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'after-restart' }))).Body)).toString(), 'ok');
  });
});
