// Property tests (fast-check) against an in-memory model: range reads and listing (prefix,
// delimiter, paging, start-after) through the real server, and the core backend's listings of versions
// and delete markers in-process.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { S3Client, CreateBucketCommand, PutObjectCommand, ListObjectsV2Command, ListObjectsCommand } from '@aws-sdk/client-s3';
import { startKura, rawRequest, type KuraServer } from '../helpers/server.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CoreBackend } from '../../src/storage/core-backend.ts';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import { FsBlobStore } from '../../src/storage/blob/fs-blob-store.ts';

/** S3 order: UTF-8 bytes. */
function s3Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface ModelListing {
  keys: string[];
  prefixes: string[];
  /** Keys and prefixes in listing order. */
  entries: string[];
}

/** What a full listing must return: keys under prefix, rolled up at the delimiter, after startAfter. */
function modelList(all: string[], prefix: string, delimiter: string, startAfter = ''): ModelListing {
  const entries = new Map<string, boolean>();
  for (const k of all) {
    if (!k.startsWith(prefix)) continue;
    const d = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    if (d >= 0) entries.set(k.slice(0, d + delimiter.length), true);
    else entries.set(k, false);
  }
  const sorted = [...entries.keys()].filter((e) => !startAfter || s3Order(e, startAfter) > 0).sort(s3Order);
  return { entries: sorted, keys: sorted.filter((e) => !entries.get(e)), prefixes: sorted.filter((e) => entries.get(e)) };
}

// Small alphabet so that prefixes and delimiters collide often; includes code points whose UTF-16
// order differs from UTF-8 order (U+FF5E vs U+1F600).
const keyChar = fc.constantFrom('a', 'b', '/', '-', 'é', '～', '😀');
const keyArb = fc.array(keyChar, { minLength: 1, maxLength: 6 }).map((c) => c.join(''));
const prefixArb = fc.array(keyChar, { minLength: 0, maxLength: 2 }).map((c) => c.join(''));
const delimiterArb = fc.constantFrom('', '/', 'b', '😀');

/** The core backend in-process over LMDB + blob files in a temp dir (no HTTP: many runs stay cheap). */
async function openCore(): Promise<{ core: CoreBackend; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kura-prop-'));
  const rootKey = randomBytes(32);
  const core = await CoreBackend.open(await LmdbStore.open(join(dir, 'meta'), rootKey), await FsBlobStore.open(join(dir, 'blobs')), rootKey);
  return { core, close: async () => { await core.close(); await rm(dir, { recursive: true, force: true }); } };
}

const META = { size: 1, etag: 'e', contentType: 'text/plain', userMetadata: {}, headers: {} };

describe('core backend (LMDB) against the model: listings with versions and delete markers', () => {
  let core: CoreBackend;
  let close: () => Promise<void>;
  before(async () => ({ core, close } = await openCore()));
  after(async () => close());

  test('ListObjects and ListObjectVersions pages (prefix, delimiter, markers) match the model', async () => {
    let run = 0;
    const opArb = fc.tuple(fc.constantFrom('put', 'put', 'put', 'delete', 'deleteVersion'), keyArb, fc.nat());
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), prefixArb, delimiterArb, fc.integer({ min: 1, max: 5 }), async (ops, prefix, delimiter, maxKeys) => {
        const bucket = `m${run++}`;
        await core.createBucket(bucket, { location: '', versioning: 'Enabled' });
        // Model: each key's versions, newest first.
        const model = new Map<string, { versionId: string; marker: boolean }[]>();
        for (const [op, key, n] of ops) {
          const list = model.get(key) ?? [];
          if (op === 'put') {
            const blob = await core.stageBlob(bucket, Readable.from([Buffer.from('x')]));
            const r = await core.putObject(bucket, key, blob, META);
            list.unshift({ versionId: r.versionId, marker: false });
          } else if (op === 'delete') {
            const r = await core.deleteObject(bucket, key);
            list.unshift({ versionId: r.versionId!, marker: true });
          } else if (list.length) {
            const [v] = list.splice(n % list.length, 1);
            await core.deleteObject(bucket, key, v!.versionId);
          }
          model.set(key, list);
        }
        const live = [...model].filter(([, l]) => l.length && !l[0]!.marker).map(([k]) => k);
        const want = modelList(live, prefix, delimiter);
        const seen: string[] = [];
        let startAfter = '';
        for (let page = 0; page < 200; page++) {
          const r = await core.listObjects(bucket, { prefix, delimiter, startAfter, maxKeys });
          assert.ok(r.objects.length + r.commonPrefixes.length <= maxKeys);
          seen.push(...[...r.objects.map((o) => o.key), ...r.commonPrefixes].sort(s3Order));
          if (!r.isTruncated) break;
          startAfter = r.lastEntry!;
        }
        assert.deepEqual(seen, want.entries);
        // Versions: keys in S3 order, newest first within a key, common prefixes rolled up.
        const withVersions = [...model].filter(([, l]) => l.length).map(([k]) => k);
        const vwant = modelList(withVersions, prefix, delimiter);
        const expected: string[] = [];
        for (const e of vwant.entries) {
          if (vwant.prefixes.includes(e)) expected.push(`P ${e}`);
          else model.get(e)!.forEach((v, i) => expected.push(`${e} ${v.versionId} ${v.marker ? 'M' : 'V'}${i === 0 ? ' latest' : ''}`));
        }
        const got: string[] = [];
        let keyMarker: string | undefined;
        let versionIdMarker: string | undefined;
        for (let page = 0; page < 400; page++) {
          const r = await core.listObjectVersions(bucket, { prefix, delimiter, maxKeys, ...(keyMarker !== undefined ? { keyMarker } : {}), ...(versionIdMarker !== undefined ? { versionIdMarker } : {}) });
          const entries = [...r.versions.map((v) => ({ k: v.key, s: `${v.key} ${v.versionId} ${v.deleteMarker ? 'M' : 'V'}${v.isLatest ? ' latest' : ''}` })), ...r.commonPrefixes.map((p) => ({ k: p, s: `P ${p}` }))];
          entries.sort((x, y) => s3Order(x.k, y.k));
          got.push(...entries.map((e) => e.s));
          assert.ok(entries.length <= maxKeys);
          if (!r.isTruncated) break;
          keyMarker = r.nextKeyMarker;
          versionIdMarker = r.nextVersionIdMarker;
        }
        assert.deepEqual(got, expected);
      }),
      { numRuns: 40 },
    );
  });
});

describe('kura server: ranges and listing against the model', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const sizes = [0, 1, 2, 17, 1000, 70_000];
  const objects = new Map<number, Buffer>();

  before(async () => {
    srv = await startKura();
    s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'ranges' }));
    for (const size of sizes) {
      const body = randomBytes(size);
      objects.set(size, body);
      await s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: `o${size}`, Body: body }));
    }
  });
  after(async () => {
    await srv.stop();
  });

  test('Range reads match the model (206 / 200 / 416)', async () => {
    const rangeArb = fc.oneof(
      fc.tuple(fc.nat(80_000), fc.nat(80_000)).map(([a, b]) => `bytes=${a}-${b}`),
      fc.nat(80_000).map((a) => `bytes=${a}-`),
      fc.nat(80_000).map((n) => `bytes=-${n}`),
      fc.tuple(fc.nat(20), fc.nat(20)).map(([a, b]) => `bytes=${a}-${b}`),
      fc.nat(20).map((n) => `bytes=-${n}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...sizes), rangeArb, async (size, range) => {
        const body = objects.get(size)!;
        const r = await rawRequest(srv, 'GET', `/ranges/o${size}`, { headers: { range } });
        const m = /^bytes=(\d*)-(\d*)$/.exec(range)!;
        let expect: { status: number; start?: number; end?: number };
        if (m[1] === '') {
          const n = Number(m[2]);
          expect = n === 0 || size === 0 ? { status: 416 } : { status: 206, start: Math.max(0, size - n), end: size - 1 };
        } else {
          const a = Number(m[1]);
          const b = m[2] === '' ? Infinity : Number(m[2]);
          if (b < a) expect = { status: 200 };
          else if (a >= size) expect = { status: 416 };
          else expect = { status: 206, start: a, end: Math.min(b, size - 1) };
        }
        assert.equal(r.status, expect.status, `${range} on ${size} bytes`);
        if (expect.status === 206) {
          assert.equal(r.headers['content-range'], `bytes ${expect.start}-${expect.end}/${size}`);
          assert.ok(r.body.equals(body.subarray(expect.start, expect.end! + 1)));
        } else if (expect.status === 200) {
          assert.ok(r.body.equals(body));
        }
      }),
      { numRuns: 150 },
    );
  });

  test('ListObjectsV2 and ListObjects paging match the model', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(keyArb, { minLength: 1, maxLength: 25 }), prefixArb, delimiterArb, fc.integer({ min: 1, max: 6 }), async (keys, prefix, delimiter, maxKeys) => {
        const bucket = `prop-${run++}`;
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }))));
        const model = modelList(keys, prefix, delimiter);
        const seen: string[] = [];
        let token: string | undefined;
        for (let i = 0; i < 100; i++) {
          const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter || undefined, MaxKeys: maxKeys, ContinuationToken: token }));
          assert.equal(r.KeyCount, (r.Contents?.length ?? 0) + (r.CommonPrefixes?.length ?? 0));
          seen.push(...[...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((c) => c.Prefix!)].sort(s3Order));
          token = r.NextContinuationToken;
          if (!r.IsTruncated) break;
        }
        assert.deepEqual(seen, model.entries);
        // start-after in the middle of the listing.
        const pivot = keys[0]!;
        const after = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter || undefined, StartAfter: pivot }));
        const afterEntries = [...(after.Contents ?? []).map((c) => c.Key!), ...(after.CommonPrefixes ?? []).map((c) => c.Prefix!)].sort(s3Order);
        assert.deepEqual(afterEntries, modelList(keys, prefix, delimiter, pivot).entries);
        // v1 with markers: NextMarker when there is a delimiter, else the last key.
        const v1: string[] = [];
        let marker: string | undefined;
        for (let i = 0; i < 100; i++) {
          const r = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter || undefined, MaxKeys: maxKeys, Marker: marker }));
          const page = [...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((c) => c.Prefix!)].sort(s3Order);
          v1.push(...page);
          if (!r.IsTruncated) break;
          marker = delimiter ? r.NextMarker : r.Contents![r.Contents!.length - 1]!.Key;
          assert.ok(marker);
        }
        assert.deepEqual(v1, model.entries);
      }),
      { numRuns: 25 },
    );
  });
});
