// Durable, atomic file writes: temp file in the same filesystem, fsync, rename, fsync the directory.
import { open, rename, mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes data to tmpDir, fsyncs, renames onto target, fsyncs target's directory. */
export async function writeFileAtomic(target: string, data: string | Buffer, tmpDir: string, mode = 0o600): Promise<void> {
  const tmp = join(tmpDir, `${randomId()}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  } finally {
    await fh.close().catch(() => {});
  }
  await renameDurable(tmp, target);
}

/** rename() then fsync of the target directory (creating it when missing). */
export async function renameDurable(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
  }
  await fsyncDir(dirname(to));
}

/** Streams data into a new file, fsyncs it (flush on close), returns the byte count. Removes the file on failure. */
export async function writeStreamToFile(path: string, data: Readable): Promise<number> {
  // 1 MiB queued: the many pieces of an encrypted stream (chunk, tag, …) leave in few large writev calls.
  const file = createWriteStream(path, { mode: 0o600, flush: true, highWaterMark: 1024 * 1024 });
  try {
    await pipeline(data, file);
  } catch (e) {
    await unlink(path).catch(() => {});
    throw e;
  }
  return file.bytesWritten;
}
