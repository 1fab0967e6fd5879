// Library entry point: start a Kura server in-process, or use its parts.
export { startServer, createLogger, type RunningServer, type StartOptions } from './server/server.ts';
export { loadConfig, loadRootKey, type ServerConfig, type ServerOptions, type Credentials } from './server/config.ts';
export type { StorageBackend, ObjectRecord, ObjectMeta, PartLayout, BucketConfig, UploadRecord, PartRecord } from './storage/backend.ts';
export { FsBackend } from './storage/fs/fs-backend.ts';
export { S3Backend, type S3BackendOptions } from './storage/s3/s3-backend.ts';
export { S3Error } from './server/errors.ts';
