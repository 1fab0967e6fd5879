// Test helper: the metadata rows of a data dir's embedded engine (LMDB in <data>/.kura/meta), opened
// with the root key in <data>/.kura/root.key, as a test (or an attacker holding the root key) sees them.
// LMDB allows another process to open the environment while the server runs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import { RecordSealer } from '../../src/storage/meta/records.ts';
import { keys, prefixRange } from '../../src/storage/meta/keys.ts';
import type { MetaStore } from '../../src/storage/meta/meta-store.ts';
import type { ObjectRecord } from '../../src/storage/backend.ts';

export async function rootKeyOf(dataDir: string): Promise<Buffer> {
  return Buffer.from((await readFile(join(dataDir, '.kura', 'root.key'), 'utf8')).trim(), 'base64');
}

/** Opens the data dir's metadata; `rootKey` for servers started with KURA_ROOT_KEY (no root.key file). */
export async function withMeta<T>(
  dataDir: string,
  fn: (store: MetaStore, sealer: RecordSealer) => Promise<T>,
  givenRootKey?: Buffer,
): Promise<T> {
  const rootKey = givenRootKey ?? (await rootKeyOf(dataDir));
  const store = await LmdbStore.open(join(dataDir, '.kura', 'meta'), rootKey);
  try {
    return await fn(store, new RecordSealer(rootKey));
  } finally {
    await store.close();
  }
}

/** Every stored version of a key, newest first. */
export async function storedVersions(dataDir: string, bucket: string, key: string): Promise<ObjectRecord[]> {
  return withMeta(dataDir, (store, sealer) =>
    store.read(async (tx) =>
      (await tx.scan(prefixRange(keys.versionsOf(bucket, key)))).map((e) => sealer.open<ObjectRecord>(e.key, e.value, 'test')),
    ),
  );
}

/** The latest stored version (record) of a key. */
export async function storedRecord(dataDir: string, bucket: string, key: string): Promise<ObjectRecord> {
  const v = (await storedVersions(dataDir, bucket, key))[0];
  if (!v) throw new Error(`no stored version of ${bucket}/${key}`);
  return v;
}

/** Every stored version in a bucket. */
export async function storedRecords(dataDir: string, bucket: string, rootKey?: Buffer): Promise<ObjectRecord[]> {
  return withMeta(
    dataDir,
    (store, sealer) =>
      store.read(async (tx) =>
        (await tx.scan(prefixRange(keys.bucketRows(0x56, bucket)))).map((e) => sealer.open<ObjectRecord>(e.key, e.value, 'test')),
      ),
    rootKey,
  );
}

/** Rewrites (re-seals, as someone holding the root key could) the newest version of a key and its latest copy. */
export async function rewriteNewest(
  dataDir: string,
  bucket: string,
  key: string,
  update: (rec: ObjectRecord) => ObjectRecord,
): Promise<void> {
  await withMeta(dataDir, (store, sealer) =>
    store.write(async (tx) => {
      const [e] = await tx.scan({ ...prefixRange(keys.versionsOf(bucket, key)), limit: 1 });
      if (!e) throw new Error(`no stored version of ${bucket}/${key}`);
      const rec = update(sealer.open<ObjectRecord>(e.key, e.value, 'test'));
      tx.put(e.key, sealer.seal(e.key, rec));
      if (await tx.get(keys.latest(bucket, key))) tx.put(keys.latest(bucket, key), sealer.seal(keys.latest(bucket, key), rec));
    }),
  );
}

/** Where a blob lives in the filesystem blob store. */
export function blobPath(dataDir: string, ref: string): string {
  return join(dataDir, '.kura', 'blobs', ref.slice(0, 2), ref);
}
