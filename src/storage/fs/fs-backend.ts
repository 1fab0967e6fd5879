// Embedded filesystem backend.
//
// Layout under the data dir (bucket names are valid directory names; keys never are used as names):
//   .kura/tmp/                               staged blobs and temp files; emptied at start-up
//   <bucket>/bucket.json                     BucketInfo
//   <bucket>/objects/<hh>/<sha256(key)>.json { key, versions: ObjectRecord[] } (newest first)
//   <bucket>/blobs/<hh>/<id>                 immutable data blobs (object segments and parts)
//   <bucket>/uploads/<uploadId>/upload.json  UploadRecord; part-<nnnnn>.json = PartRecord
//
// Every file is written temp → fsync → rename → fsync(dir), so a reader sees the old or the new
// version. A commit is the rename of the metadata file; blobs not referenced by metadata are leftovers
// of crashed writes and are removed when the bucket is loaded. Replaced blobs are unlinked after a
// grace period and only when no reader has them open.
import { mkdir, readdir, readFile, rm, rename, unlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Error } from '../../server/errors.ts';
import type {
  BucketConfig, BucketInfo, ListOptions, ListResult, ListVersionsOptions, ListVersionsResult, ObjectMeta,
  ObjectRecord, PartRecord, StagedBlob, StorageBackend, UploadMeta, UploadRecord, WriteOptions,
} from '../backend.ts';
import { BlobRetirer } from '../blob-retirer.ts';
import { BucketIndex } from '../bucket-index.ts';
import { compareKeys, compareUploads } from '../key-order.ts';
import { KeyedLock } from '../keyed-lock.ts';
import { mapLimit } from '../map-limit.ts';
import { multipartRecord, partRecord, segmentsOf, singlePartRecord } from '../part-layout.ts';
import { addVersion, checkPreconditions, pickVersion, planDelete, versionIdFor } from '../versions.ts';
import { fsyncDir, randomId, renameDurable, writeFileAtomic, writeStreamToFile } from './atomic.ts';

const UPLOAD_ID = /^[0-9a-f]{48}$/;
const BLOB_ID = /^[0-9a-f]{32}$/;
/** Bytes per file read (and buffered ahead per open object): few, large reads for big GETs. */
const READ_SIZE = 1024 * 1024;

interface BucketState {
  info: BucketInfo;
  index?: Promise<BucketIndex>;
}

interface MetaFile {
  key: string;
  versions: ObjectRecord[];
}

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === code;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return [];
    throw e;
  }
}

export class FsBackend implements StorageBackend {
  private readonly tmpDir: string;
  private buckets = new Map<string, BucketState>();
  private locks = new KeyedLock();
  private staged = new Map<string, string>();
  /** Replaced blobs (paths), unlinked once no reader has them open. */
  private blobs = new BlobRetirer((paths) => {
    for (const p of paths) void unlink(p).catch(() => {});
  });

  private constructor(private readonly root: string) {
    this.tmpDir = join(root, '.kura', 'tmp');
  }

  /** Opens the store: removes leftovers of crashed writes, loads the bucket list. */
  static async open(root: string): Promise<FsBackend> {
    const b = new FsBackend(root);
    await rm(b.tmpDir, { recursive: true, force: true });
    await mkdir(b.tmpDir, { recursive: true });
    for (const name of await listDir(root)) {
      if (name.startsWith('.')) continue;
      const info = await readJson<BucketInfo>(join(root, name, 'bucket.json'));
      if (info && info.name === name) b.buckets.set(name, { info });
    }
    return b;
  }

  // ---- paths ----

  private bucketDir(bucket: string): string {
    return join(this.root, bucket);
  }

  private blobPath(bucket: string, ref: string): string {
    if (!BLOB_ID.test(ref)) throw new Error('corrupt blob reference');
    return join(this.root, bucket, 'blobs', ref.slice(0, 2), ref);
  }

  private metaPath(bucket: string, key: string): string {
    const h = sha256(key);
    return join(this.root, bucket, 'objects', h.slice(0, 2), `${h}.json`);
  }

  private uploadDir(bucket: string, uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
    return join(this.root, bucket, 'uploads', uploadId);
  }

  private async removeTree(path: string): Promise<void> {
    const trash = join(this.tmpDir, `${randomId()}.trash`);
    try {
      await rename(path, trash);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    await rm(trash, { recursive: true, force: true });
  }

  // ---- buckets ----

  private state(bucket: string): BucketState {
    const s = this.buckets.get(bucket);
    if (!s) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
    return s;
  }

  /** The bucket's index, loaded on first use (with the clean-up of crashed writes). */
  private index(bucket: string): Promise<BucketIndex> {
    const s = this.state(bucket);
    s.index ??= this.loadIndex(bucket).catch((e) => {
      s.index = undefined;
      throw e;
    });
    return s.index;
  }

  private async loadIndex(bucket: string): Promise<BucketIndex> {
    const dir = this.bucketDir(bucket);
    const files: string[] = [];
    for (const hh of await listDir(join(dir, 'objects'))) {
      for (const f of await listDir(join(dir, 'objects', hh))) {
        if (f.endsWith('.json')) files.push(join(dir, 'objects', hh, f));
        else await unlink(join(dir, 'objects', hh, f)).catch(() => {});
      }
    }
    const metas = await mapLimit(files, 32, (f) => readJson<MetaFile>(f));
    const index = new BucketIndex();
    index.load(metas.filter((m): m is MetaFile => !!m).map((m) => [m.key, m.versions]));
    const referenced = new Set<string>();
    for (const v of index.allVersions()) for (const p of v.parts) referenced.add(p.ref);
    for (const uploadId of await listDir(join(dir, 'uploads'))) {
      const udir = join(dir, 'uploads', uploadId);
      const parts = await this.readParts(udir);
      // An upload whose parts are already an object's segments was completed just before a crash.
      if (!(await readJson(join(udir, 'upload.json'))) || parts.some((p) => referenced.has(p.ref))) {
        await this.removeTree(udir);
        continue;
      }
      for (const p of parts) referenced.add(p.ref);
    }
    for (const hh of await listDir(join(dir, 'blobs'))) {
      for (const id of await listDir(join(dir, 'blobs', hh))) {
        if (!referenced.has(id)) await unlink(join(dir, 'blobs', hh, id)).catch(() => {});
      }
    }
    return index;
  }

  async listBuckets(): Promise<BucketInfo[]> {
    return [...this.buckets.values()].map((s) => s.info).sort((a, b) => compareKeys(a.name, b.name));
  }

  async createBucket(name: string, config: BucketConfig): Promise<BucketInfo> {
    return this.locks.run(`bucket\0${name}`, async () => {
      if (this.buckets.has(name)) throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
      const info: BucketInfo = { name, created: new Date().toISOString(), config };
      const tmp = join(this.tmpDir, `${randomId()}.bucket`);
      await mkdir(tmp);
      await writeFileAtomic(join(tmp, 'bucket.json'), JSON.stringify(info), this.tmpDir);
      try {
        await rename(tmp, this.bucketDir(name));
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        if (isErrno(e, 'EEXIST') || isErrno(e, 'ENOTEMPTY')) throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
        throw e;
      }
      await fsyncDir(this.root);
      this.buckets.set(name, { info });
      return info;
    });
  }

  async getBucket(name: string): Promise<BucketInfo> {
    return this.state(name).info;
  }

  async updateBucketConfig(name: string, update: (config: BucketConfig) => BucketConfig): Promise<BucketInfo> {
    return this.locks.run(`bucket\0${name}`, async () => {
      const s = this.state(name);
      const info: BucketInfo = { ...s.info, config: update(structuredClone(s.info.config)) };
      await writeFileAtomic(join(this.bucketDir(name), 'bucket.json'), JSON.stringify(info), this.tmpDir);
      s.info = info;
      return info;
    });
  }

  async deleteBucket(name: string): Promise<void> {
    await this.locks.run(`bucket\0${name}`, async () => {
      const index = await this.index(name);
      if (index.size > 0) throw new S3Error('BucketNotEmpty', undefined, { BucketName: name });
      this.buckets.delete(name);
      await this.removeTree(this.bucketDir(name));
      await fsyncDir(this.root);
    });
  }

  // ---- blobs ----

  async stageBlob(bucket: string, data: Readable): Promise<StagedBlob> {
    this.state(bucket);
    const id = randomId();
    const path = join(this.tmpDir, `${id}.blob`);
    const storedSize = await writeStreamToFile(path, data);
    this.staged.set(id, path);
    return { id, storedSize };
  }

  async discardBlob(_bucket: string, blob: StagedBlob): Promise<void> {
    const path = this.staged.get(blob.id);
    if (!path) return;
    this.staged.delete(blob.id);
    await unlink(path).catch(() => {});
  }

  /** Moves a staged blob into the bucket's blob store; returns its ref. */
  private async adoptBlob(bucket: string, blob: StagedBlob): Promise<string> {
    const path = this.staged.get(blob.id);
    if (!path) throw new Error('blob is not staged (already committed or discarded)');
    this.staged.delete(blob.id);
    await renameDurable(path, this.blobPath(bucket, blob.id));
    return blob.id;
  }

  // ---- objects ----

  private async writeVersions(bucket: string, key: string, index: BucketIndex, versions: ObjectRecord[]): Promise<void> {
    const path = this.metaPath(bucket, key);
    if (versions.length) {
      await mkdir(join(path, '..'), { recursive: true });
      await writeFileAtomic(path, JSON.stringify({ key, versions } satisfies MetaFile), this.tmpDir);
    } else {
      await unlink(path).catch((e) => {
        if (!isErrno(e, 'ENOENT')) throw e;
      });
      await fsyncDir(join(path, '..')).catch(() => {});
    }
    index.setVersions(key, versions);
  }

  private commitRecord(bucket: string, key: string, build: (versionId: string) => Promise<ObjectRecord>, opts?: WriteOptions, afterCommit?: () => Promise<void>): Promise<ObjectRecord> {
    return this.locks.run(`key\0${bucket}\0${key}`, async () => {
      const index = await this.index(bucket);
      const info = this.state(bucket).info;
      checkPreconditions(index.latest(key), opts);
      const rec = await build(versionIdFor(info));
      const { list, removed } = addVersion(info, index.getVersions(key) ?? [], rec);
      await this.writeVersions(bucket, key, index, list);
      if (afterCommit) await afterCommit();
      this.blobs.retire(removed.flatMap((v) => v.parts.map((p) => this.blobPath(bucket, p.ref))));
      return rec;
    });
  }

  async putObject(bucket: string, key: string, blob: StagedBlob, meta: ObjectMeta, part?: { etag: string; checksum?: string; encryption?: unknown }, opts?: WriteOptions): Promise<ObjectRecord> {
    try {
      this.state(bucket);
      return await this.commitRecord(bucket, key, async (versionId) => {
        const ref = await this.adoptBlob(bucket, blob);
        return singlePartRecord(key, versionId, meta, blob.storedSize, ref, part);
      }, opts);
    } finally {
      await this.discardBlob(bucket, blob);
    }
  }

  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectRecord> {
    const index = await this.index(bucket);
    return pickVersion(key, index.getVersions(key), versionId);
  }

  openObject(bucket: string, record: ObjectRecord, range?: { start: number; end: number }): Readable {
    const segments = segmentsOf(record, range).map((s) => ({ path: this.blobPath(bucket, s.ref), start: s.start, end: s.end }));
    const paths = segments.map((s) => s.path);
    this.blobs.pin(paths);
    const file = (seg: { path: string; start: number; end: number }) =>
      createReadStream(seg.path, { start: seg.start, end: seg.end, highWaterMark: READ_SIZE });
    async function* read(): AsyncGenerator<Buffer> {
      for (const seg of segments) yield* file(seg) as AsyncIterable<Buffer>;
    }
    // One file (a single PUT, or a range within one part): its read stream as it is, no extra layer.
    const stream = segments.length === 1 ? file(segments[0]!) : Readable.from(read(), { objectMode: false, highWaterMark: READ_SIZE });
    stream.once('close', () => this.blobs.unpin(paths));
    return stream;
  }

  async deleteObject(bucket: string, key: string, versionId?: string): Promise<{ versionId?: string; deleteMarker?: boolean }> {
    const index = await this.index(bucket);
    return this.locks.run(`key\0${bucket}\0${key}`, async () => {
      const info = this.state(bucket).info;
      const { list, removed, changed, result } = planDelete(info, key, index.getVersions(key) ?? [], versionId);
      if (changed) await this.writeVersions(bucket, key, index, list);
      this.blobs.retire(removed.flatMap((v) => v.parts.map((p) => this.blobPath(bucket, p.ref))));
      return result;
    });
  }

  async listObjects(bucket: string, opts: ListOptions): Promise<ListResult> {
    return (await this.index(bucket)).list(opts);
  }

  async listObjectVersions(bucket: string, opts: ListVersionsOptions): Promise<ListVersionsResult> {
    return (await this.index(bucket)).listVersions(opts);
  }

  // ---- multipart ----

  private async readParts(udir: string): Promise<PartRecord[]> {
    const names = (await listDir(udir)).filter((n) => n.startsWith('part-') && n.endsWith('.json'));
    const parts = await mapLimit(names, 32, (n) => readJson<PartRecord>(join(udir, n)));
    return parts.filter((p): p is PartRecord => !!p).sort((a, b) => a.partNumber - b.partNumber);
  }

  private async readUpload(bucket: string, uploadId: string): Promise<UploadRecord> {
    await this.index(bucket);
    const u = await readJson<UploadRecord>(join(this.uploadDir(bucket, uploadId), 'upload.json'));
    if (!u) throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
    return u;
  }

  async createUpload(bucket: string, key: string, meta: UploadMeta): Promise<UploadRecord> {
    await this.index(bucket);
    const uploadId = randomId(24);
    const rec: UploadRecord = { ...meta, uploadId, key, initiated: new Date().toISOString() };
    const tmp = join(this.tmpDir, `${randomId()}.upload`);
    await mkdir(tmp);
    await writeFileAtomic(join(tmp, 'upload.json'), JSON.stringify(rec), this.tmpDir);
    await renameDurable(tmp, this.uploadDir(bucket, uploadId));
    return rec;
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadRecord> {
    return this.readUpload(bucket, uploadId);
  }

  async listUploads(bucket: string): Promise<UploadRecord[]> {
    await this.index(bucket);
    const ids = (await listDir(join(this.bucketDir(bucket), 'uploads'))).filter((id) => UPLOAD_ID.test(id));
    const ups = await mapLimit(ids, 32, (id) => readJson<UploadRecord>(join(this.uploadDir(bucket, id), 'upload.json')));
    return ups
      .filter((u): u is UploadRecord => !!u)
      .sort(compareUploads);
  }

  async putPart(bucket: string, uploadId: string, partNumber: number, blob: StagedBlob, part: { size: number; etag: string; checksum?: string; encryption?: unknown }): Promise<PartRecord> {
    try {
      return await this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
        await this.readUpload(bucket, uploadId);
        const udir = this.uploadDir(bucket, uploadId);
        const file = join(udir, `part-${String(partNumber).padStart(5, '0')}.json`);
        const old = await readJson<PartRecord>(file);
        const ref = await this.adoptBlob(bucket, blob);
        const rec = partRecord(partNumber, blob.storedSize, ref, part);
        await writeFileAtomic(file, JSON.stringify(rec), this.tmpDir);
        if (old) this.blobs.retire([this.blobPath(bucket, old.ref)]);
        return rec;
      });
    } finally {
      await this.discardBlob(bucket, blob);
    }
  }

  async listParts(bucket: string, uploadId: string): Promise<PartRecord[]> {
    await this.readUpload(bucket, uploadId);
    return this.readParts(this.uploadDir(bucket, uploadId));
  }

  async abortUpload(bucket: string, uploadId: string): Promise<void> {
    await this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
      await this.readUpload(bucket, uploadId);
      const udir = this.uploadDir(bucket, uploadId);
      const parts = await this.readParts(udir);
      await this.removeTree(udir);
      await fsyncDir(join(udir, '..')).catch(() => {});
      this.blobs.retire(parts.map((p) => this.blobPath(bucket, p.ref)));
    });
  }

  async completeUpload(bucket: string, uploadId: string, parts: PartRecord[], meta: ObjectMeta, opts?: WriteOptions): Promise<ObjectRecord> {
    return this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
      const upload = await this.readUpload(bucket, uploadId);
      const udir = this.uploadDir(bucket, uploadId);
      const current = new Map((await this.readParts(udir)).map((p) => [p.partNumber, p]));
      for (const p of parts) {
        if (current.get(p.partNumber)?.ref !== p.ref) throw new S3Error('InvalidPart', undefined, { PartNumber: String(p.partNumber) });
      }
      const used = new Set(parts.map((p) => p.ref));
      const unused = [...current.values()].filter((p) => !used.has(p.ref));
      return this.commitRecord(bucket, upload.key, async (versionId) => multipartRecord(upload.key, versionId, meta, parts), opts, async () => {
        await this.removeTree(udir);
        this.blobs.retire(unused.map((p) => this.blobPath(bucket, p.ref)));
      });
    });
  }

  async close(): Promise<void> {
    this.blobs.close();
    // Blobs still pending deletion are unreferenced; the next load of their bucket removes them.
    this.locks.clear();
  }
}

