// Opens the configured storage: a metadata engine (MetaStore) and a blob store, joined by the core
// backend. Default: LMDB in <data>/.kura/meta + blob files in <data>/.kura/blobs. `--backend s3`: LMDB
// + blobs in an upstream S3 bucket/prefix. `--meta postgres://…` (with `--backend s3`): PostgreSQL
// shared by several nodes + the shared upstream. Adding a metadata engine is one branch in metaStoreFactory.
import { join } from 'node:path';
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { StorageBackend } from './backend.ts';
import type { BlobStore } from './blob/blob-store.ts';
import { FsBlobStore } from './blob/fs-blob-store.ts';
import { S3BlobStore, type S3BlobStoreOptions } from './blob/s3-blob-store.ts';
import { CoreBackend, SHARED_META_TIMINGS, type CoreBackendOptions } from './core-backend.ts';

export { verifyRootKey } from './core-backend.ts';
import type { MetaStore } from './meta/meta-store.ts';
import { LmdbStore } from './meta/lmdb-store.ts';
import { PgMetaStore } from './meta/pg-store.ts';
import { migrateFsLayout } from './migrate-fs.ts';
import { writeFileAtomic } from './fs/atomic.ts';
import { deriveKey, sealKey, unsealKey } from '../crypto/index.ts';

const MARKER_AAD = Buffer.from('kura upstream store marker v1');

/**
 * An upstream prefix belongs to one Kura store (one root key; any number of nodes). Its marker holds a
 * value sealed under a key derived from the root key: a node started with another root key refuses the
 * prefix instead of mixing two stores' blobs under it.
 */
async function claimUpstream(blobs: S3BlobStore, rootKey: Buffer): Promise<void> {
  const key = deriveKey(rootKey, 'upstream marker', '');
  let marker = await blobs.readMarker();
  if (!marker) {
    await blobs.writeMarker(sealKey(key, Buffer.from('kura'), MARKER_AAD));
    marker = await blobs.readMarker();
  }
  try {
    if (!marker) throw new Error('marker vanished');
    unsealKey(key, marker, MARKER_AAD);
  } catch {
    throw new Error(`upstream ${blobs.location} belongs to a Kura store with another root key; refusing to use it`);
  }
}

/** What storage needs from the server's configuration (kept here so storage does not import the server). */
export interface StorageConfig {
  dataDir: string;
  backend?: { kind: 'fs' } | ({ kind: 's3' } & S3BlobStoreOptions);
  meta?: { kind: string; [k: string]: unknown };
}

export type MetaStoreFactory = (config: StorageConfig, rootKey: Buffer, log?: CoreBackendOptions['log']) => Promise<MetaStore>;

/** The metadata engine chosen by the configuration. */
export function metaStoreFactory(config: StorageConfig): MetaStoreFactory {
  const kind = config.meta?.kind ?? 'lmdb';
  if (kind === 'lmdb') return (c, rootKey) => LmdbStore.open(join(c.dataDir, '.kura', 'meta'), rootKey);
  if (kind === 'postgres') {
    return (c, _rootKey, log) => {
      const m = c.meta as unknown as { url: string; poolSize?: number };
      return PgMetaStore.open({
        url: m.url,
        ...(m.poolSize !== undefined ? { poolSize: m.poolSize } : {}),
        onIdleError: (err) => log?.warn({ err: err.message }, 'metadata database connection lost (the pool replaces it)'),
      });
    };
  }
  throw new Error(`unknown metadata engine '${kind}'`);
}

/** Whether several processes may share this metadata store (then clean-up waits out grace periods). */
function isShared(config: StorageConfig): boolean {
  return (config.meta?.kind ?? 'lmdb') !== 'lmdb';
}

/**
 * This node's instance id, kept in <data>/.kura/instance-id (0600): its pending-blob rows carry it, so after
 * a crash the node removes its own leftovers at once, and other nodes' only after the grace period.
 */
export async function loadInstanceId(dataDir: string): Promise<string> {
  const stateDir = join(dataDir, '.kura');
  const path = join(stateDir, 'instance-id');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[0-9a-f]{32}$/.test(id)) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const id = randomBytes(16).toString('hex');
  await mkdir(join(stateDir, 'tmp'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${id}\n`, join(stateDir, 'tmp'), 0o600);
  return id;
}

/** `meta`: an already open metadata store (the server's, shared with the KMS); the backend closes it. */
export async function openBackend(
  config: StorageConfig,
  rootKey: Buffer,
  opts: CoreBackendOptions = {},
  meta?: MetaStore,
): Promise<StorageBackend> {
  const shared = isShared(config);
  const options: CoreBackendOptions = shared ? { ...SHARED_META_TIMINGS, instanceId: await loadInstanceId(config.dataDir), ...opts } : opts;
  meta ??= await metaStoreFactory(config)(config, rootKey, opts.log);
  let blobs: BlobStore;
  try {
    blobs =
      config.backend?.kind === 's3'
        ? await S3BlobStore.open(config.backend)
        : await FsBlobStore.open(join(config.dataDir, '.kura', 'blobs'));
    if (blobs instanceof FsBlobStore) await migrateFsLayout(config.dataDir, meta, blobs, rootKey, opts.log);
    if (blobs instanceof S3BlobStore) await claimUpstream(blobs, rootKey);
  } catch (e) {
    await meta.close();
    throw e;
  }
  return CoreBackend.open(meta, blobs, rootKey, options);
}

/** Where objects live, for the start-up log (never the database password). */
export function describeBackend(config: StorageConfig): string {
  const b = config.backend;
  let meta = `${config.meta?.kind ?? 'lmdb'} metadata`;
  if (config.meta?.kind === 'postgres') {
    try {
      const u = new URL(String(config.meta.url));
      meta = `postgres metadata at ${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
    } catch {
      /* keep the engine name only */
    }
  }
  if (b?.kind !== 's3') return `fs:${config.dataDir} (${meta})`;
  return `s3://${b.bucket}/${b.prefix ?? ''}${b.endpoint ? ` at ${b.endpoint}` : ''} (${meta})`;
}
