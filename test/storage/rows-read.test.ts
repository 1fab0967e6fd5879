// Work per request is bounded by the request, not by what the store holds: the metadata rows a write or a
// listing reads and writes, counted on the real embedded engine (LMDB in a temp dir, real blob files)
// through a counting MetaStore around it. Large histories are written straight as rows (sealed as the core
// seals them) to keep the test short; the operations measured go through the core backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FsBlobStore } from '../../src/storage/blob/fs-blob-store.ts';
import { CoreBackend, newVersionOrder } from '../../src/storage/core-backend.ts';
import type { ObjectMeta, ObjectRecord } from '../../src/storage/backend.ts';
import { keys, versionOrderOf } from '../../src/storage/meta/keys.ts';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import type { Entry, MetaStore, MetaTx, ScanOptions } from '../../src/storage/meta/meta-store.ts';
import { RecordSealer } from '../../src/storage/meta/records.ts';
import { newVersionId } from '../../src/storage/version-id.ts';

/** The real store, with a count of the rows its transactions read (point reads + scanned rows) and write. */
class CountingStore implements MetaStore {
  readonly engine: string;
  rowsRead = 0;
  rowsWritten = 0;
  constructor(readonly inner: MetaStore) {
    this.engine = inner.engine;
  }
  private wrap(tx: MetaTx): MetaTx {
    return {
      get: async (k: Buffer) => {
        this.rowsRead++;
        return tx.get(k);
      },
      scan: async (o: ScanOptions): Promise<Entry[]> => {
        const rows = await tx.scan(o);
        this.rowsRead += Math.max(1, rows.length); // an empty scan is still a seek
        return rows;
      },
      put: (k: Buffer, v: Buffer) => {
        this.rowsWritten++;
        tx.put(k, v);
      },
      delete: (k: Buffer) => {
        this.rowsWritten++;
        tx.delete(k);
      },
    };
  }
  read<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    return this.inner.read((tx) => fn(this.wrap(tx)));
  }
  write<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    return this.inner.write((tx) => fn(this.wrap(tx)));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** Counts during fn. */
  async counted(fn: () => Promise<unknown>): Promise<{ read: number; written: number }> {
    const r0 = this.rowsRead;
    const w0 = this.rowsWritten;
    await fn();
    return { read: this.rowsRead - r0, written: this.rowsWritten - w0 };
  }
}

async function openCore(dir: string, rootKey: Buffer): Promise<{ core: CoreBackend; store: CountingStore }> {
  const store = new CountingStore(await LmdbStore.open(join(dir, 'meta'), rootKey));
  const blobs = await FsBlobStore.open(join(dir, 'blobs'));
  const core = await CoreBackend.open(store, blobs, rootKey);
  return { core, store };
}

const META: ObjectMeta = {
  size: 4,
  etag: 'e2fc714c4727ee9395f324cd2e7f331f',
  contentType: 'application/octet-stream',
  userMetadata: {},
  headers: {},
};

async function put(core: CoreBackend, bucket: string, key: string): Promise<ObjectRecord> {
  const blob = await core.stageBlob(bucket, Readable.from([Buffer.from('abcd')]));
  return core.putObject(bucket, key, blob, META);
}

test('the 10,001st version of a key reads and writes as many rows as the 2nd', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kura-rows-'));
  const rootKey = randomBytes(32);
  const { core, store } = await openCore(dir, rootKey);
  try {
    await core.createBucket('v', { location: '', versioning: 'Enabled' });
    const template = await put(core, 'v', 'many');
    // 9,999 more versions of 'many' as rows (newer than the template; the L row follows the newest).
    const sealer = new RecordSealer(rootKey);
    let newest = template;
    for (let i = 0; i < 9_999; i += 2_500) {
      await store.inner.write(async (tx) => {
        for (let j = i; j < Math.min(9_999, i + 2_500); j++) {
          const rec: ObjectRecord = { ...template, versionId: newVersionId() };
          const row = keys.version('v', 'many', versionOrderOf(rec.versionId)!);
          tx.put(row, sealer.seal(row, rec));
          newest = rec;
        }
        tx.put(keys.latest('v', 'many'), sealer.seal(keys.latest('v', 'many'), newest));
      });
    }
    assert.equal((await core.headObject('v', 'many')).versionId, newest.versionId);
    assert.equal((await core.listObjectVersions('v', { maxKeys: 20_000 })).versions.length, 10_000);

    await put(core, 'v', 'two');
    const second = await store.counted(() => put(core, 'v', 'two'));
    const tenThousandFirst = await store.counted(() => put(core, 'v', 'many'));
    assert.deepEqual(tenThousandFirst, second, 'rows of the 10,001st version = rows of the 2nd');
    assert.ok(second.read <= 12 && second.written <= 8, `bounded: ${JSON.stringify(second)}`);
    assert.equal((await core.listObjectVersions('v', { prefix: 'many', maxKeys: 20_000 })).versions.length, 10_001);

    // HEAD of the newest and of one version by id: a few rows, whatever the history.
    const head = await store.counted(() => core.headObject('v', 'many'));
    assert.ok(head.read <= 3, `HEAD reads ${head.read} rows`);
    const byId = await store.counted(() => core.headObject('v', 'many', template.versionId));
    assert.ok(byId.read <= 3, `HEAD ?versionId reads ${byId.read} rows`);
  } finally {
    await core.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('after a restart, the first ListObjectsV2 page of a 50,000-key bucket reads O(page) rows, and opening reads none of them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kura-rows-'));
  const rootKey = randomBytes(32);
  const N = 50_000;
  const name = (i: number) => `k/${String(i).padStart(6, '0')}`;
  let { core, store } = await openCore(dir, rootKey);
  try {
    await core.createBucket('big', { location: '' });
    const template = await put(core, 'big', name(0));
    const sealer = new RecordSealer(rootKey);
    for (let i = 1; i < N; i += 5_000) {
      await store.inner.write(async (tx) => {
        for (let j = i; j < Math.min(N, i + 5_000); j++) {
          const key = name(j);
          const order = newVersionOrder();
          const rec: ObjectRecord = { ...template, key };
          for (const [row, value] of [
            [keys.nullVersion('big', key), { order: order.toString('hex') }],
            [keys.version('big', key, order), rec],
            [keys.latest('big', key), rec],
          ] as const) {
            tx.put(row, sealer.seal(row, value));
          }
        }
      });
    }
    await core.close();

    // Restart: opening the backend reads the leftovers of cut writes (none), not the objects.
    const inner = await LmdbStore.open(join(dir, 'meta'), rootKey);
    store = new CountingStore(inner);
    const opened = await store.counted(async () => {
      core = await CoreBackend.open(store, await FsBlobStore.open(join(dir, 'blobs')), rootKey);
    });
    assert.ok(opened.read <= 4, `open read ${opened.read} rows`);

    const first = await store.counted(async () => {
      const page = await core.listObjects('big', { maxKeys: 1000 });
      assert.equal(page.objects.length, 1000);
      assert.equal(page.isTruncated, true);
      assert.equal(page.objects[999]!.key, name(999));
    });
    assert.ok(first.read <= 1000 + 3, `first page read ${first.read} rows`);
    assert.equal(first.written, 0);

    // A page from the middle and one with a delimiter (all keys under one common prefix): still O(page).
    const middle = await store.counted(async () => {
      const page = await core.listObjects('big', { maxKeys: 1000, startAfter: name(31_337) });
      assert.equal(page.objects[0]!.key, name(31_338));
    });
    assert.ok(middle.read <= 1000 + 3, `middle page read ${middle.read} rows`);
    const grouped = await store.counted(async () => {
      const page = await core.listObjects('big', { maxKeys: 1000, delimiter: '/' });
      assert.deepEqual(page.commonPrefixes, ['k/']);
    });
    assert.ok(grouped.read <= 16 + 3, `delimited page read ${grouped.read} rows`);
  } finally {
    await core.close();
    await rm(dir, { recursive: true, force: true });
  }
});
