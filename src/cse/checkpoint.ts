// Checkpoints of resumable transfers: small JSON files, replaced atomically, that hold the data key only in
// wrapped form (inside the object's encryption metadata) and never any plaintext.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { CseError, badArg } from './errors.ts';
import type { CseFormat, UserMetadata } from './format.ts';

export interface UploadCheckpoint {
  version: 1;
  kind: 'upload';
  bucket: string;
  key: string;
  file: { path: string; size: number; mtimeMs: number };
  format: CseFormat;
  partSize: number;
  uploadId: string;
  /** The object's encryption metadata: the data key only in wrapped form. */
  metadata: UserMetadata;
  parts: Array<{ PartNumber: number; ETag: string }>;
}

export interface DownloadCheckpoint {
  version: 1;
  kind: 'download';
  bucket: string;
  key: string;
  etag: string;
  storedSize: number;
  partSize: number;
  /** Stored (still encrypted) bytes land here first. */
  cipherFile: string;
  done: number[];
}

export async function atomicWriteJson(path: string, v: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(v), { mode: 0o600 });
  await rename(tmp, path);
}

export async function readJson<T>(path: string | undefined): Promise<T | undefined> {
  if (!path) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw badArg(`checkpoint ${path} is unreadable`);
  }
}

/** An upload checkpoint must be this transfer's, and the file unchanged since. */
export function checkUploadCheckpoint(
  cp: UploadCheckpoint,
  path: string,
  Bucket: string,
  Key: string,
  src: { path?: string; size?: number; mtimeMs?: number },
): void {
  if (cp.kind !== 'upload' || cp.bucket !== Bucket || cp.key !== Key || cp.file.path !== src.path)
    throw badArg(`checkpoint ${path} belongs to another transfer`);
  if (cp.file.size !== src.size || cp.file.mtimeMs !== src.mtimeMs)
    throw new CseError('LocalFileChanged', `${src.path} changed since the interrupted upload; delete ${path} to start over`);
}

/** A download checkpoint still applies when it is this transfer's and the object is the same (ETag, size). */
export function downloadCheckpointFits(
  cp: DownloadCheckpoint,
  Bucket: string,
  Key: string,
  etag: string | undefined,
  storedSize: number,
): boolean {
  return cp.kind === 'download' && cp.bucket === Bucket && cp.key === Key && cp.etag === etag && cp.storedSize === storedSize;
}
