// 10,000 versions (objects and delete markers) across 400 keys: written through the storage backend
// API in-process (fast), then listed through a real `kura server` on the same data dir with the SDK:
// complete, ordered (keys in S3 order, newest first within a key), IsLatest right, paging exact.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  S3Client,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  GetObjectCommand,
  HeadObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { openBackend } from '../../src/storage/open-backend.ts';
import { loadRootKey } from '../../src/server/config.ts';
import { startKura, type KuraServer } from '../helpers/server.ts';

const PREFIXES = ['alpha/', 'beta/', 'gamma/', 'delta/'];
const KEYS_PER_PREFIX = 100;
const WRITES_PER_KEY = 25;
const WRITERS = 128;

interface Written {
  versionId: string;
  marker: boolean;
}

/** [key, versionId, isLatest, marker] in the order S3 lists them. */
type Entry = [string, string, boolean, boolean];

describe('versioning at scale: 10,000 versions', () => {
  let dataDir: string;
  let srv: KuraServer;
  let s3: S3Client;
  const bucket = 'many-versions';
  // key → versions in write order (oldest first)
  const written = new Map<string, Written[]>();
  let expected: Entry[];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kura-vscale-'));
    const backend = await openBackend({ dataDir }, await loadRootKey(dataDir));
    await backend.createBucket(bucket, { location: '', versioning: 'Enabled' });
    const keys = PREFIXES.flatMap((p) => Array.from({ length: KEYS_PER_PREFIX }, (_, i) => `${p}obj-${String(i).padStart(3, '0')}`));
    for (const k of keys) written.set(k, []);
    // Each writer owns a disjoint set of keys and writes each key's versions in order.
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, w) => {
        for (let round = 0; round < WRITES_PER_KEY; round++) {
          for (let i = w; i < keys.length; i += WRITERS) {
            const key = keys[i]!;
            // Every fifth write of a key (varying by key) is a DELETE: a delete marker.
            if ((round + i) % 5 === 4) {
              const r = await backend.deleteObject(bucket, key);
              assert.equal(r.deleteMarker, true);
              written.get(key)!.push({ versionId: r.versionId!, marker: true });
            } else {
              const body = Buffer.from(`${key}#${round}`);
              const blob = await backend.stageBlob(bucket, Readable.from([body]));
              const rec = await backend.putObject(bucket, key, blob, {
                size: body.length,
                etag: String(round).padStart(32, '0'),
                contentType: 'text/plain',
                userMetadata: {},
                headers: {},
              });
              written.get(key)!.push({ versionId: rec.versionId, marker: false });
            }
          }
        }
      }),
    );
    await backend.close();
    expected = [...written.keys()]
      .sort()
      .flatMap((key) => [...written.get(key)!].reverse().map((v, j): Entry => [key, v.versionId, j === 0, v.marker]));
    assert.equal(expected.length, 10_000);
    srv = await startKura({ dataDir });
    s3 = srv.client();
  });
  after(async () => {
    s3?.destroy();
    await srv?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Pages through ListObjectVersions; returns the entries in listing order (from the raw order of ids). */
  async function listAll(opts: { Prefix?: string; MaxKeys?: number } = {}): Promise<{ entries: Entry[]; pages: number }> {
    const entries: Entry[] = [];
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, ...opts, KeyMarker, VersionIdMarker }));
      pages++;
      const all = [
        ...(page.Versions ?? []).map((v): Entry & { t: number } =>
          Object.assign([v.Key!, v.VersionId!, v.IsLatest!, false] as Entry, { t: 0 }),
        ),
        ...(page.DeleteMarkers ?? []).map((v): Entry & { t: number } =>
          Object.assign([v.Key!, v.VersionId!, v.IsLatest!, true] as Entry, { t: 0 }),
        ),
      ];
      // The SDK splits versions and markers; restore listing order: key, then version id (newest first).
      all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1));
      entries.push(...all.map((e): Entry => [e[0], e[1], e[2], e[3]]));
      if (!page.IsTruncated) break;
      assert.ok(page.NextKeyMarker && page.NextVersionIdMarker);
      assert.equal(page.NextVersionIdMarker, entries.at(-1)![1], 'the next marker is the last entry returned');
      KeyMarker = page.NextKeyMarker;
      VersionIdMarker = page.NextVersionIdMarker;
    }
    return { entries, pages };
  }

  test('every version and marker is listed once, in order, with IsLatest on the newest of each key', async () => {
    const started = Date.now();
    const { entries, pages } = await listAll();
    const ms = Date.now() - started;
    assert.equal(pages, 10);
    assert.equal(entries.length, 10_000);
    assert.deepEqual(entries, expected);
    assert.ok(ms < 20_000, `listing 10,000 versions took ${ms} ms`);
  });

  test('paging by odd page sizes within a prefix matches the full listing', async () => {
    for (const [prefix, maxKeys] of [
      ['beta/', 333],
      ['delta/', 7],
    ] as const) {
      const { entries, pages } = await listAll({ Prefix: prefix, MaxKeys: maxKeys });
      const want = expected.filter((e) => e[0].startsWith(prefix));
      assert.equal(want.length, 2_500);
      assert.deepEqual(entries, want, prefix);
      assert.equal(pages, Math.ceil(2_500 / maxKeys));
    }
  });

  test('delimiter: one CommonPrefixes per prefix; ListObjectsV2 lists only keys whose newest write is not a DELETE', async () => {
    const delim = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Delimiter: '/' }));
    assert.deepEqual(
      delim.CommonPrefixes?.map((p) => p.Prefix),
      [...PREFIXES].sort(),
    );
    assert.equal(delim.Versions, undefined);
    const live = [...written.entries()]
      .filter(([, v]) => !v.at(-1)!.marker)
      .map(([k]) => k)
      .sort();
    const listed: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
      listed.push(...(page.Contents ?? []).map((o) => o.Key!));
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
    assert.deepEqual(listed, live);
    assert.ok(live.length > 0 && live.length < written.size);
    // The current version of a live key and an old one by id.
    const key = live[0]!;
    const versions = written.get(key)!;
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).VersionId, versions.at(-1)!.versionId);
    const dead = [...written.keys()].find((k) => written.get(k)!.at(-1)!.marker)!;
    await assert.rejects(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: dead })),
      (e: unknown) => e instanceof S3ServiceException && e.name === 'NoSuchKey',
    );
  });
});
