// Library entry point: start a Kura server in-process, or use its parts.
export { startServer, createLogger, type RunningServer, type StartOptions } from './server/server.ts';
export { loadConfig, loadRootKey, type ServerConfig, type ServerOptions, type Credentials } from './server/config.ts';
export type { StorageBackend, ObjectRecord, ObjectMeta, PartLayout, BucketConfig, UploadRecord, PartRecord } from './storage/backend.ts';
export { CoreBackend } from './storage/core-backend.ts';
export { openBackend, type StorageConfig } from './storage/open-backend.ts';
export type { MetaStore, MetaTx } from './storage/meta/meta-store.ts';
export { LmdbStore } from './storage/meta/lmdb-store.ts';
export { FsBlobStore } from './storage/blob/fs-blob-store.ts';
export { S3BlobStore, type S3BlobStoreOptions } from './storage/blob/s3-blob-store.ts';
export { S3Error } from './server/errors.ts';
