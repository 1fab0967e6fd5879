// Blobs as files: <dir>/<hh>/<id> (dirs 0700, files 0600), written to <dir>/.tmp, fsynced, renamed,
// the directory fsynced — one fsync for the renames into a directory that arrive together (DirSync; the
// core's blob ids put writes close in time into one <hh>). <dir>/.tmp holds only unfinished writes and is
// emptied at open.
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeStreamToFile } from '../fs/atomic.ts';
import { DirSync } from '../fs/dir-sync.ts';
import { checkBlobId, type BlobStore } from './blob-store.ts';

/** Bytes per file read (and buffered ahead per open object): few, large reads for big GETs. */
const READ_SIZE = 1024 * 1024;

export class FsBlobStore implements BlobStore {
  private readonly tmp: string;
  private readonly dirSync = new DirSync();

  private constructor(private readonly dir: string) {
    this.tmp = join(dir, '.tmp');
  }

  get location(): string {
    return this.dir;
  }

  static async open(dir: string): Promise<FsBlobStore> {
    const s = new FsBlobStore(dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await rm(s.tmp, { recursive: true, force: true });
    await mkdir(s.tmp, { mode: 0o700 });
    return s;
  }

  path(id: string): string {
    checkBlobId(id);
    return join(this.dir, id.slice(0, 2), id);
  }

  async put(id: string, data: Readable): Promise<number> {
    const target = this.path(id);
    const tmp = join(this.tmp, id);
    const size = await writeStreamToFile(tmp, data);
    try {
      await rename(tmp, target);
    } catch (e) {
      // The <hh> directory is made on first use (not a mkdir per write).
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      await rename(tmp, target);
      await this.dirSync.sync(this.dir);
    }
    await this.dirSync.sync(dirname(target));
    return size;
  }

  open(id: string, range: { start: number; end: number }): Readable {
    return createReadStream(this.path(id), { start: range.start, end: range.end, highWaterMark: READ_SIZE });
  }

  async delete(ids: string[]): Promise<void> {
    for (const id of ids) {
      await unlink(this.path(id)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  }

  /** A cut-short write leaves only a temp file, and those are removed at start-up. */
  discardUnfinished(ids: string[]): Promise<void> {
    return this.delete(ids);
  }

  async close(): Promise<void> {}
}
