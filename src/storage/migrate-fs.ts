// One-time conversion of a data dir written by the filesystem backend of earlier releases (one JSON
// file per key, in clear) into metadata rows + the blob store, at the first start of this version:
//   <bucket>/bucket.json, <bucket>/objects/<hh>/<sha256>.json {key, versions}, <bucket>/blobs/<hh>/<id>,
//   <bucket>/uploads/<uploadId>/{upload.json, part-<nnnnn>.json}
// Per bucket, crash-safe and idempotent: (1) its records are written as rows (in batches; re-running
// writes the same rows: null versions get orders computed from their neighbours, not random), (2) its
// referenced blobs are renamed into the blob store (a missing source = already moved), (3) the old
// bucket directory is renamed away and removed. The old files go only after (1) committed. Blobs no
// record referenced (crash leftovers of the old release) go with the directory.
import { readdir, readFile, rename, rm, mkdir } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BucketInfo, ObjectRecord, PartRecord, UploadRecord } from './backend.ts';
import type { FsBlobStore } from './blob/fs-blob-store.ts';
import type { MetaStore, MetaTx } from './meta/meta-store.ts';
import { keys, versionOrderOf } from './meta/keys.ts';
import { RecordSealer } from './meta/records.ts';
import { NULL_VERSION } from './version-id.ts';
import { fsyncDir } from './fs/atomic.ts';

const BATCH = 500;
const MAX = 0xffff_ffff_ffff_ffffn;

interface MetaFile {
  key: string;
  versions: ObjectRecord[];
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function orderBuf(n: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(n >> 64n, 0);
  b.writeBigUInt64BE(n & MAX, 8);
  return b;
}

/** Row orders for a version list (newest first), deterministic: a null version sits just before its older neighbour. */
export function ordersFor(versions: readonly ObjectRecord[]): Buffer[] {
  return versions.map((v, i) => {
    const own = versionOrderOf(v.versionId);
    if (own) return own;
    const older = versions.slice(i + 1).find((x) => x.versionId !== NULL_VERSION);
    if (older) return orderBuf(BigInt(`0x${older.versionId}`) - 1n);
    const newer = versions
      .slice(0, i)
      .reverse()
      .find((x) => x.versionId !== NULL_VERSION);
    if (newer) return orderBuf(BigInt(`0x${newer.versionId}`) + 1n);
    return orderBuf((MAX - BigInt(Date.parse(v.lastModified) || 0) * 1000n) << 64n);
  });
}

export async function migrateFsLayout(
  dataDir: string,
  meta: MetaStore,
  blobs: FsBlobStore,
  rootKey: Buffer,
  log?: { info(obj: object, msg: string): void },
): Promise<void> {
  const sealer = new RecordSealer(rootKey);
  const put = (tx: MetaTx, k: Buffer, v: unknown) => tx.put(k, sealer.seal(k, v));
  for (const name of await listDir(dataDir)) {
    if (name.startsWith('.')) continue;
    const dir = join(dataDir, name);
    const info = await readJson<BucketInfo>(join(dir, 'bucket.json'));
    if (!info || info.name !== name) continue;
    const referenced = new Set<string>();
    let objects = 0;
    let versions = 0;
    await meta.write(async (tx) => put(tx, keys.bucket(name), { info }));
    const files: string[] = [];
    for (const hh of await listDir(join(dir, 'objects'))) {
      for (const f of await listDir(join(dir, 'objects', hh))) if (f.endsWith('.json')) files.push(join(dir, 'objects', hh, f));
    }
    for (let i = 0; i < files.length; i += BATCH) {
      const metas = (await Promise.all(files.slice(i, i + BATCH).map((f) => readJson<MetaFile>(f)))).filter(
        (m): m is MetaFile => !!m && m.versions.length > 0,
      );
      await meta.write(async (tx) => {
        for (const m of metas) {
          const orders = ordersFor(m.versions);
          m.versions.forEach((v, j) => {
            put(tx, keys.version(name, m.key, orders[j]!), v);
            if (v.versionId === NULL_VERSION) put(tx, keys.nullVersion(name, m.key), { order: orders[j]!.toString('hex') });
          });
          const latest = m.versions[0]!;
          if (!latest.deleteMarker) put(tx, keys.latest(name, m.key), latest);
        }
      });
      for (const m of metas) {
        objects++;
        versions += m.versions.length;
        for (const v of m.versions) for (const p of v.parts) referenced.add(p.ref);
      }
    }
    let uploads = 0;
    for (const uploadId of await listDir(join(dir, 'uploads'))) {
      const udir = join(dir, 'uploads', uploadId);
      const upload = await readJson<UploadRecord>(join(udir, 'upload.json'));
      const parts = (
        await Promise.all((await listDir(udir)).filter((n) => /^part-\d+\.json$/.test(n)).map((n) => readJson<PartRecord>(join(udir, n))))
      ).filter((p): p is PartRecord => !!p);
      // An upload whose parts are already an object's segments was completed just before a crash.
      if (!upload || upload.uploadId !== uploadId || parts.some((p) => referenced.has(p.ref))) continue;
      await meta.write(async (tx) => {
        put(tx, keys.uploadById(name, uploadId), upload);
        put(tx, keys.upload(name, upload.key, upload.initiated, uploadId), upload);
        for (const p of parts) put(tx, keys.part(name, uploadId, p.partNumber), p);
      });
      for (const p of parts) referenced.add(p.ref);
      uploads++;
    }
    let moved = 0;
    for (const ref of referenced) {
      const from = join(dir, 'blobs', ref.slice(0, 2), ref);
      const to = blobs.path(ref);
      await mkdir(dirname(to), { recursive: true, mode: 0o700 });
      try {
        await rename(from, to);
        moved++;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    for (const d of new Set([...referenced].map((r) => dirname(blobs.path(r))))) await fsyncDir(d);
    const trash = join(dataDir, '.kura', `migrated-${name}-${randomBytes(4).toString('hex')}`);
    await rename(dir, trash);
    await fsyncDir(dataDir);
    await rm(trash, { recursive: true, force: true });
    log?.info(
      { bucket: name, objects, versions, uploads, blobs: moved },
      'migrated bucket from the file-per-key layout to the metadata store',
    );
  }
  // Trash of a migration cut short after its rename.
  for (const n of await listDir(join(dataDir, '.kura')))
    if (n.startsWith('migrated-')) await rm(join(dataDir, '.kura', n), { recursive: true, force: true });
}
