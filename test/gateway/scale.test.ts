// The gateway at scale (2,500 keys by default; KURA_GATEWAY_SCALE_KEYS=10000 for the full run, ~2 min
// on 2 cores: every object costs two upstream PUTs, which dominates): objects, extra versions and delete markers written in-process through
// the storage API (LMDB metadata in a data dir, blobs upstream) against a real upstream Kura, then a gateway
// server started on that data dir and upstream (and root key) serves them and lists them with the SDK: complete, in S3 order, paging and
// delimiters exact, versions and markers where they were written.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend } from '../../src/storage/open-backend.ts';
import { compareKeys } from '../../src/storage/key-order.ts';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';

const KEYS = Number(process.env.KURA_GATEWAY_SCALE_KEYS ?? 2_500);
const WRITERS = 64;
const bucket = 'many-keys';

function keyOf(i: number): string {
  // Four top-level prefixes, 25 sub-folders each, and a few keys outside any folder.
  if (i % 500 === 1) return `top-${String(i).padStart(5, '0')}`;
  return `p${i % 4}/d${String(i % 25).padStart(2, '0')}/obj-${String(i).padStart(5, '0')}`;
}

describe(`gateway at scale: ${KEYS} keys`, () => {
  let upstream: KuraServer;
  let gw: KuraServer;
  let s3: S3Client;
  const rootKey = randomBytes(32).toString('base64');
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  /** Keys whose latest version is a delete marker. */
  const deleted = new Set<string>();
  let writeMs = 0;
  let loadMs = 0;

  before(async () => {
    upstream = await startKura();
    await upstream.client().send(new CreateBucketCommand({ Bucket: 'upstream-scale' }));
    const opts = {
      endpoint: upstream.endpoint,
      bucket: 'upstream-scale',
      prefix: 'scale/',
      region: 'us-east-1',
      credentials: { ...upstream.credentials },
    };
    const gwDir = await mkdtemp(join(tmpdir(), 'kura-gwscale-'));
    const backend = await openBackend({ dataDir: gwDir, backend: { kind: 's3', ...opts } }, Buffer.from(rootKey, 'base64'));
    await backend.createBucket(bucket, { location: '', versioning: 'Enabled' });
    const t0 = Date.now();
    const put = async (key: string, body: string): Promise<void> => {
      const blob = await backend.stageBlob(bucket, Readable.from([Buffer.from(body)]));
      await backend.putObject(bucket, key, blob, {
        size: body.length,
        etag: 'e',
        contentType: 'text/plain',
        userMetadata: {},
        headers: {},
      });
    };
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = w; i < KEYS; i += WRITERS) {
          await put(keys[i]!, `v1 ${keys[i]}`);
          if (i % 10 === 0) await put(keys[i]!, `v2 ${keys[i]}`);
          if (i % 20 === 0) {
            await backend.deleteObject(bucket, keys[i]!);
            deleted.add(keys[i]!);
          }
        }
      }),
    );
    writeMs = Date.now() - t0;
    await backend.close();
    // The objects were stored without the SSE layer: the gateway serves them as written (no encryption record).
    gw = await startKura({
      backend: 's3',
      dataDir: gwDir,
      upstream,
      upstreamBucket: 'upstream-scale',
      upstreamPrefix: 'scale/',
      env: { KURA_ROOT_KEY: rootKey },
    });
    s3 = gw.client();
    const t1 = Date.now();
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[1]! }));
    loadMs = Date.now() - t1;
  });
  after(async () => {
    await gw?.stop({ keepData: false });
    await upstream?.stop();
  });

  test('ListObjectsV2 pages through every live key in S3 order', async (t) => {
    const listed: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000, ContinuationToken: token }));
      listed.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token);
    const expected = keys.filter((k) => !deleted.has(k)).sort(compareKeys);
    assert.equal(listed.length, expected.length);
    assert.deepEqual(listed, expected);
    t.diagnostic(`${KEYS} keys: written in ${writeMs} ms, loaded by the gateway in ${loadMs} ms`);
  });

  test('delimiters: common prefixes at each level', async () => {
    const top = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    assert.deepEqual(
      top.CommonPrefixes?.map((p) => p.Prefix),
      ['p0/', 'p1/', 'p2/', 'p3/'],
    );
    assert.deepEqual(
      (top.Contents ?? []).map((c) => c.Key),
      keys.filter((k) => k.startsWith('top-') && !deleted.has(k)).sort(compareKeys),
    );
    const sub = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'p1/', Delimiter: '/' }));
    // Every folder holding a key i ≡ 1 (mod 4); delete markers only hit even i.
    const expected = [...new Set(keys.filter((k) => k.startsWith('p1/')).map((k) => k.slice(0, 7)))].sort();
    assert.deepEqual(
      sub.CommonPrefixes?.map((p) => p.Prefix),
      expected,
    );
  });

  test('versions and delete markers where they were written', async () => {
    const key = keys[20]!; // i = 20: two versions and a delete marker
    const v = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    assert.equal(v.Versions?.length, 2);
    assert.equal(v.DeleteMarkers?.length, 1);
    assert.equal(v.DeleteMarkers?.[0]?.IsLatest, true);
    const err = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })).catch((e: unknown) => e);
    assert.ok(err instanceof S3ServiceException && err.name === 'NoSuchKey');
    const older = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: v.Versions![0]!.VersionId }));
    assert.equal((await collect(older.Body)).toString(), `v2 ${key}`);
    const k10 = keys[10]!;
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k10 }))).Body)).toString(), `v2 ${k10}`);
    let versions = 0;
    let markers = 0;
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page = await s3.send(
        new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
      );
      versions += page.Versions?.length ?? 0;
      markers += page.DeleteMarkers?.length ?? 0;
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
    }
    assert.equal(versions, KEYS + Math.ceil(KEYS / 10));
    assert.equal(markers, Math.ceil(KEYS / 20));
  });
});
