// Opens the configured storage: a metadata engine (MetaStore) and a blob store, joined by the core
// backend. Default: LMDB in <data>/.kura/meta + blob files in <data>/.kura/blobs. `--backend s3`: LMDB
// + blobs in an upstream S3 bucket/prefix. Adding a metadata engine is one branch in metaStoreFactory.
import { join } from 'node:path';
import type { StorageBackend } from './backend.ts';
import type { BlobStore } from './blob/blob-store.ts';
import { FsBlobStore } from './blob/fs-blob-store.ts';
import { S3BlobStore, type S3BlobStoreOptions } from './blob/s3-blob-store.ts';
import { CoreBackend, type CoreBackendOptions } from './core-backend.ts';
import type { MetaStore } from './meta/meta-store.ts';
import { LmdbStore } from './meta/lmdb-store.ts';
import { migrateFsLayout } from './migrate-fs.ts';

/** What storage needs from the server's configuration (kept here so storage does not import the server). */
export interface StorageConfig {
  dataDir: string;
  backend?: { kind: 'fs' } | ({ kind: 's3' } & S3BlobStoreOptions);
  meta?: { kind: string; [k: string]: unknown };
}

export type MetaStoreFactory = (config: StorageConfig, rootKey: Buffer) => Promise<MetaStore>;

/** The metadata engine chosen by the configuration. */
export function metaStoreFactory(config: StorageConfig): MetaStoreFactory {
  const kind = config.meta?.kind ?? 'lmdb';
  if (kind === 'lmdb') return (c, rootKey) => LmdbStore.open(join(c.dataDir, '.kura', 'meta'), rootKey);
  throw new Error(`unknown metadata engine '${kind}'`);
}

/** `meta`: an already open metadata store (the server's, shared with the KMS); the backend closes it. */
export async function openBackend(config: StorageConfig, rootKey: Buffer, opts: CoreBackendOptions = {}, meta?: MetaStore): Promise<StorageBackend> {
  meta ??= await metaStoreFactory(config)(config, rootKey);
  let blobs: BlobStore;
  try {
    blobs = config.backend?.kind === 's3' ? await S3BlobStore.open(config.backend) : await FsBlobStore.open(join(config.dataDir, '.kura', 'blobs'));
    if (blobs instanceof FsBlobStore) await migrateFsLayout(config.dataDir, meta, blobs, rootKey, opts.log);
  } catch (e) {
    await meta.close();
    throw e;
  }
  return CoreBackend.open(meta, blobs, rootKey, opts);
}

/** Where objects live, for the start-up log. */
export function describeBackend(config: StorageConfig): string {
  const b = config.backend;
  const meta = `${config.meta?.kind ?? 'lmdb'} metadata`;
  if (b?.kind !== 's3') return `fs:${config.dataDir} (${meta})`;
  return `s3://${b.bucket}/${b.prefix ?? ''}${b.endpoint ? ` at ${b.endpoint}` : ''} (${meta})`;
}
