// Picks and opens the configured storage backend (kura server --backend fs|s3).
import type { StorageBackend } from './backend.ts';
import { FsBackend } from './fs/fs-backend.ts';
import { S3Backend } from './s3/s3-backend.ts';
import { loadRootKey, type ServerConfig } from '../server/config.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from './fs/atomic.ts';

/** The gateway's identity for its upstream lease, kept in <data>/.kura/gateway-instance (generated once). */
async function gatewayInstanceId(stateDir: string): Promise<string> {
  const path = join(stateDir, 'gateway-instance');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (id) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const id = randomBytes(16).toString('hex');
  await writeFileAtomic(path, `${id}\n`, join(stateDir, 'tmp'));
  return id;
}

export async function openBackend(config: ServerConfig): Promise<StorageBackend> {
  const b = config.backend;
  // The gateway seals its metadata records under a key derived from the root key (src/storage/s3/records.ts).
  if (b?.kind === 's3') return S3Backend.open({ ...b, instanceId: await gatewayInstanceId(config.stateDir) }, await loadRootKey(config.dataDir));
  return FsBackend.open(config.dataDir);
}

/** Where objects live, for the start-up log: the data dir, or s3://bucket/prefix at the endpoint. */
export function describeBackend(config: ServerConfig): string {
  const b = config.backend;
  if (b?.kind !== 's3') return `fs:${config.dataDir}`;
  return `s3://${b.bucket}/${b.prefix ?? ''}${b.endpoint ? ` at ${b.endpoint}` : ''}`;
}
