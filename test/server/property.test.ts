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
import { CoreBackend } from '../../src/storage/core-backend.ts';
import { coreListingProperty, delimiterArb, keyArb, modelList, prefixArb, s3Order } from '../helpers/listing-model.ts';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import { FsBlobStore } from '../../src/storage/blob/fs-blob-store.ts';

/** The core backend in-process over LMDB + blob files in a temp dir (no HTTP: many runs stay cheap). */
async function openCore(): Promise<{ core: CoreBackend; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kura-prop-'));
  const rootKey = randomBytes(32);
  const core = await CoreBackend.open(
    await LmdbStore.open(join(dir, 'meta'), rootKey),
    await FsBlobStore.open(join(dir, 'blobs')),
    rootKey,
  );
  return {
    core,
    close: async () => {
      await core.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('core backend (LMDB) against the model: listings with versions and delete markers', () => {
  let core: CoreBackend;
  let close: () => Promise<void>;
  before(async () => ({ core, close } = await openCore()));
  after(async () => close());

  test('ListObjects and ListObjectVersions pages (prefix, delimiter, markers) match the model', async () => {
    await coreListingProperty(core, 40);
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
      fc.asyncProperty(
        fc.uniqueArray(keyArb, { minLength: 1, maxLength: 25 }),
        prefixArb,
        delimiterArb,
        fc.integer({ min: 1, max: 6 }),
        async (keys, prefix, delimiter, maxKeys) => {
          const bucket = `prop-${run++}`;
          await s3.send(new CreateBucketCommand({ Bucket: bucket }));
          await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }))));
          const model = modelList(keys, prefix, delimiter);
          const seen: string[] = [];
          let token: string | undefined;
          for (let i = 0; i < 100; i++) {
            const r = await s3.send(
              new ListObjectsV2Command({
                Bucket: bucket,
                Prefix: prefix || undefined,
                Delimiter: delimiter || undefined,
                MaxKeys: maxKeys,
                ContinuationToken: token,
              }),
            );
            assert.equal(r.KeyCount, (r.Contents?.length ?? 0) + (r.CommonPrefixes?.length ?? 0));
            seen.push(...[...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((c) => c.Prefix!)].sort(s3Order));
            token = r.NextContinuationToken;
            if (!r.IsTruncated) break;
          }
          assert.deepEqual(seen, model.entries);
          // start-after in the middle of the listing.
          const pivot = keys[0]!;
          const after = await s3.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter || undefined, StartAfter: pivot }),
          );
          const afterEntries = [...(after.Contents ?? []).map((c) => c.Key!), ...(after.CommonPrefixes ?? []).map((c) => c.Prefix!)].sort(
            s3Order,
          );
          assert.deepEqual(afterEntries, modelList(keys, prefix, delimiter, pivot).entries);
          // v1 with markers: NextMarker when there is a delimiter, else the last key.
          const v1: string[] = [];
          let marker: string | undefined;
          for (let i = 0; i < 100; i++) {
            const r = await s3.send(
              new ListObjectsCommand({
                Bucket: bucket,
                Prefix: prefix || undefined,
                Delimiter: delimiter || undefined,
                MaxKeys: maxKeys,
                Marker: marker,
              }),
            );
            const page = [...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((c) => c.Prefix!)].sort(s3Order);
            v1.push(...page);
            if (!r.IsTruncated) break;
            marker = delimiter ? r.NextMarker : r.Contents![r.Contents!.length - 1]!.Key;
            assert.ok(marker);
          }
          assert.deepEqual(v1, model.entries);
        },
      ),
      { numRuns: 25 },
    );
  });
});
