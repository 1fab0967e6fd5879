// Picks and opens the configured storage backend (kura server --backend fs|s3).
import type { StorageBackend } from './backend.ts';
import { FsBackend } from './fs/fs-backend.ts';
import { S3Backend } from './s3/s3-backend.ts';
import { loadRootKey, type ServerConfig } from '../server/config.ts';

export async function openBackend(config: ServerConfig): Promise<StorageBackend> {
  const b = config.backend;
  // The gateway seals its metadata records under a key derived from the root key (src/storage/s3/records.ts).
  if (b?.kind === 's3') return S3Backend.open(b, await loadRootKey(config.dataDir));
  return FsBackend.open(config.dataDir);
}

/** Where objects live, for the start-up log: the data dir, or s3://bucket/prefix at the endpoint. */
export function describeBackend(config: ServerConfig): string {
  const b = config.backend;
  if (b?.kind !== 's3') return `fs:${config.dataDir}`;
  return `s3://${b.bucket}/${b.prefix ?? ''}${b.endpoint ? ` at ${b.endpoint}` : ''}`;
}
