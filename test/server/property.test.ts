// Property tests (fast-check) against an in-memory model: range reads and listing (prefix,
// delimiter, paging, start-after) through the real server, and the bucket index at 12,000 keys.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { S3Client, CreateBucketCommand, PutObjectCommand, ListObjectsV2Command, ListObjectsCommand } from '@aws-sdk/client-s3';
import { startKura, rawRequest, type KuraServer } from '../helpers/server.ts';
import { BucketIndex } from '../../src/storage/bucket-index.ts';
import type { ObjectRecord } from '../../src/storage/backend.ts';

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

function record(key: string): ObjectRecord {
  return { key, versionId: 'null', lastModified: new Date(0).toISOString(), size: 0, storedSize: 0, etag: '', contentType: '', userMetadata: {}, headers: {}, parts: [] };
}

describe('bucket index (in-process) against the model', () => {
  test('listing with prefix, delimiter, paging matches the model', () => {
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { maxLength: 60 }), prefixArb, delimiterArb, fc.integer({ min: 1, max: 7 }), (keys, prefix, delimiter, maxKeys) => {
        const index = new BucketIndex();
        // Half loaded at start-up, half inserted one by one: both paths keep the order.
        const half = keys.length >> 1;
        index.load(keys.slice(0, half).map((k) => [k, [record(k)]]));
        for (const k of keys.slice(half)) index.setVersions(k, [record(k)]);
        const model = modelList(keys, prefix, delimiter);
        const seen: string[] = [];
        let after = '';
        for (let page = 0; page < 100; page++) {
          const r = index.list({ prefix, delimiter, startAfter: after, maxKeys });
          const entries = [...r.objects.map((o) => o.key), ...r.commonPrefixes].sort(s3Order);
          assert.ok(entries.length <= maxKeys);
          seen.push(...entries);
          if (!r.isTruncated) break;
          after = r.lastEntry!;
        }
        assert.deepEqual(seen, model.entries);
      }),
      { numRuns: 300 },
    );
  });

  test('12,000 keys: ordered, paged listing and delimiter roll-up are exact and fast', () => {
    const keys = new Set<string>();
    while (keys.size < 12_000) keys.add(`${['logs', 'img', 'doc'][keys.size % 3]}/${randomBytes(3).toString('hex')}/${randomBytes(4).toString('base64url')}`);
    const all = [...keys];
    const index = new BucketIndex();
    index.load(all.slice(0, 6000).map((k) => [k, [record(k)]]));
    const t0 = performance.now();
    for (const k of all.slice(6000)) index.setVersions(k, [record(k)]);
    const listed: string[] = [];
    let after = '';
    for (;;) {
      const r = index.list({ startAfter: after, maxKeys: 1000 });
      listed.push(...r.objects.map((o) => o.key));
      if (!r.isTruncated) break;
      after = r.lastEntry!;
    }
    const ms = performance.now() - t0;
    assert.deepEqual(listed, [...all].sort(s3Order));
    const top = index.list({ delimiter: '/', maxKeys: 1000 });
    assert.deepEqual(top.commonPrefixes, ['doc/', 'img/', 'logs/']);
    const model = modelList(all, 'img/', '/');
    const sub = index.list({ prefix: 'img/', delimiter: '/', maxKeys: 1000 });
    assert.deepEqual(sub.commonPrefixes, model.prefixes.slice(0, 1000));
    assert.ok(ms < 2000, `took ${ms} ms`);
    for (const k of all.slice(0, 3000)) index.setVersions(k, []);
    assert.equal(index.size, 9000);
    assert.deepEqual(index.list({ maxKeys: 5 }).objects.map((o) => o.key), all.slice(3000).sort(s3Order).slice(0, 5));
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
