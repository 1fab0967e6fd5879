// The storage backend: S3 semantics over two narrow parts — a MetaStore (ordered, transactional rows:
// buckets, versions, uploads, parts; keys in meta/keys.ts, values sealed by meta/records.ts) and a
// BlobStore (immutable blobs: files, or objects upstream). Nothing is kept in memory across requests
// but blob pins: every call reads the rows it needs, so several processes can share one MetaStore.
//
// Writes: stageBlob() records a pending-blob row (G), then writes the blob durably. The G rows of writes
// staged at the same time are committed together, in one metadata transaction (PendingBlobRows). The commit is one
// metadata transaction that adds the version row(s) and removes the G row; a failed or abandoned write
// deletes blob and G row. Blobs that a commit stops referencing get a dead-blob row (D) in that same
// transaction, and are deleted after a grace period once no reader has them open (then the D row goes).
// At open, leftover G and D rows (writes cut by a crash, deletions not done) are processed: the work is
// bounded by what was in flight, never by the number of objects.
//
// Versions are rows (V), newest first; a key's latest live version is also summarised in an L row (what a
// listing shows: latestRowOf), so a listing reads one small row per key (and seeks past a common prefix instead of reading what is under it).
//
// Several processes on one shared MetaStore (PostgreSQL + one upstream; docs/METADATA.md "Several nodes"):
// - the metadata transaction decides every race; the per-key in-process locks only spare this process's
//   own writers a conflict retry;
// - a new version's order is made newer than the key's newest row inside the transaction, so the last
//   committed write is the newest whatever the nodes' clocks say;
// - G rows carry the writer's instance id and a timestamp the writer refreshes while the blob uploads;
//   clean-up (at open and every sweep) takes only this instance's leftovers and rows older than
//   pendingBlobGraceMs, and a commit whose G row is gone fails instead of referring to a deleted blob;
// - D rows carry the time the blob stopped being referenced; they are acted on only after deadBlobGraceMs,
//   the bound on how long a GET on another node may take between reading a record and opening its blobs;
// - nothing is cached: the bucket row (versioning, encryption defaults) is read in each request's transaction.
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { S3Error } from '../protocol/s3-errors.ts';
import type {
  BucketConfig,
  BucketInfo,
  ListedObject,
  ListOptions,
  ListResult,
  ListVersionsOptions,
  ListVersionsResult,
  ObjectMeta,
  ObjectRecord,
  PartRecord,
  StagedBlob,
  StorageBackend,
  UploadMeta,
  UploadRecord,
  WriteOptions,
} from './backend.ts';
import { BlobRetirer } from './blob-retirer.ts';
import type { BlobStore } from './blob/blob-store.ts';
import { KeyedLock } from './keyed-lock.ts';
import type { MetaStore, MetaTx } from './meta/meta-store.ts';
import { TABLE, after, blobIdOf, justAfter, keys, objectKeyOf, prefixRange, versionOrderFromRow, versionOrderOf } from './meta/keys.ts';
import { RecordSealer } from './meta/records.ts';
import { multipartRecord, partRecord, segmentsOf, singlePartRecord } from './part-layout.ts';
import { checkPreconditions, versionIdFor } from './versions.ts';
import { NULL_VERSION } from './version-id.ts';

const UPLOAD_ID = /^[0-9a-f]{48}$/;
/** Rows per scan call while listing (a page reads at most about maxKeys + common prefixes rows). */
const SCAN_BATCH = 1000;
/** With a delimiter, scans start this small and double while no common prefix turns up: a common prefix
 * ends the scan (the next one seeks past it), so the rows read after it were read for nothing. */
const DELIMITED_SCAN_START = 16;

function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

/** Blob ids: 32 hex, the first two a shard that moves on every BLOBS_PER_SHARD ids, then 120 random bits.
 * Blobs written close in time share a shard (the fs blob store's <hh> directory), so their directory
 * fsyncs coalesce into one; over time the shards fill evenly. */
const BLOBS_PER_SHARD = 64;
let blobShard = randomBytes(1)[0]!;
let blobShardUses = 0;
function newBlobId(): string {
  if (++blobShardUses > BLOBS_PER_SHARD) {
    blobShard = (blobShard + 1) & 0xff;
    blobShardUses = 1;
  }
  return blobShard.toString(16).padStart(2, '0') + randomBytes(15).toString('hex');
}

/**
 * Group commit of pending-blob rows: a G row must be durable before its blob is written, and concurrent
 * writes would each pay a metadata transaction for it. Rows that arrive while one batch commits go into
 * the next, one transaction for all of them (the engine's own group commit then shares the fsync).
 */
class PendingBlobRows {
  private queue: { key: Buffer; value: Buffer; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly meta: MetaStore) {}

  add(key: Buffer, value: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, value, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0, 1000);
      try {
        await this.meta.write(async (tx) => {
          for (const r of batch) tx.put(r.key, r.value);
        });
        for (const r of batch) r.resolve();
      } catch (e) {
        for (const r of batch) r.reject(e);
      }
    }
    this.running = false;
  }
}

/** A fresh version order for a null version: same clock as version ids (newest first). */
let lastMicros = 0n;
export function newVersionOrder(): Buffer {
  let t = BigInt(Date.now()) * 1000n;
  if (t <= lastMicros) t = lastMicros + 1n;
  lastMicros = t;
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(0xffff_ffff_ffff_ffffn - t, 0);
  randomBytes(8).copy(b, 8);
  return b;
}

/**
 * The `L` row of a key's latest live version: what a listing shows, not the whole record (sealed data keys,
 * part layout, headers and user metadata are read from the `V` row by HEAD/GET). A listing page reads and
 * unseals 1,000 of these: a ~1 KiB record would make a page span ~5× the pages (and decrypted engine pages)
 * of this ~200-byte summary. `L` rows written before this (whole records) read the same.
 */
export function latestRowOf(rec: ObjectRecord): ListedObject {
  const l: ListedObject = { key: rec.key, lastModified: rec.lastModified, etag: rec.etag, size: rec.size };
  if (rec.storageClass !== undefined) l.storageClass = rec.storageClass;
  if (rec.checksum !== undefined) l.checksum = rec.checksum;
  return l;
}

interface BucketRow {
  info: BucketInfo;
}

export interface CoreBackendOptions {
  /** Pending-blob rows of other instances younger than this are left alone (their writers may be alive); 0 = all are leftovers. */
  pendingBlobGraceMs?: number;
  /** How long a dropped blob stays after the commit that stopped referencing it (readers elsewhere); default 30 s. */
  deadBlobGraceMs?: number;
  /** Clean-up of G/D rows past their grace every this many ms (shared stores: rows left by nodes that died); unset = only at open. */
  sweepIntervalMs?: number;
  /** This process's id in its G rows (shared stores). */
  instanceId?: string;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/**
 * Timings for a MetaStore shared by several nodes. A blob upload refreshes its G row every
 * pendingBlobGraceMs / 6; a GET elsewhere must open each blob within deadBlobGraceMs of its replacement.
 */
export const SHARED_META_TIMINGS = { pendingBlobGraceMs: 60 * 60_000, deadBlobGraceMs: 15 * 60_000, sweepIntervalMs: 5 * 60_000 } as const;

/** The sealed value of a G row. */
interface PendingBlobRow {
  at: number;
  node?: string;
}

/** Thrown at open when the store was initialised under another root key. */
export class RootKeyMismatchError extends Error {
  constructor() {
    super(
      'the metadata store was initialised under another root key: every node must use the same root key (KURA_ROOT_KEY or the same root.key); refusing to start',
    );
    this.name = 'RootKeyMismatchError';
  }
}

/** An order newer (smaller) than `than`, by one microsecond of the clock part. */
function orderNewerThan(than: Buffer): Buffer {
  const t = than.readBigUInt64BE(0);
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(t > 0n ? t - 1n : 0n, 0);
  randomBytes(8).copy(b, 8);
  return b;
}

/**
 * The store's sealed check value: written by the first node, and opened by every later one, so a node
 * with another root key refuses to start instead of answering 500 for everything (or, worse, writing
 * records the others cannot read). A store from before the check row: its first bucket row is the check.
 * Run first at start-up (before the KMS opens its keys from the same store).
 */
export async function verifyRootKey(meta: MetaStore, rootKeyOrSealer: Buffer | RecordSealer): Promise<void> {
  const sealer = rootKeyOrSealer instanceof RecordSealer ? rootKeyOrSealer : new RecordSealer(rootKeyOrSealer);
  const rowKey = keys.rootKeyCheck();
  await meta.write(async (tx) => {
    const existing = await tx.get(rowKey);
    const probe = existing ? { key: rowKey, value: existing } : (await tx.scan({ ...keys.buckets(), limit: 1 }))[0];
    if (probe) {
      try {
        sealer.open(probe.key, probe.value, 'root key check');
      } catch {
        throw new RootKeyMismatchError();
      }
    }
    if (!existing) tx.put(rowKey, sealer.seal(rowKey, { format: 1, created: new Date().toISOString() }));
  });
}

export class CoreBackend implements StorageBackend {
  private readonly sealer: RecordSealer;
  private readonly locks = new KeyedLock();
  private readonly staged = new Set<string>();
  /** Counters for tests and the benchmark: metadata rows read by listings and version lookups. */
  readonly stats = { rowsRead: 0 };
  private readonly retirer: BlobRetirer;
  private readonly pendingRows: PendingBlobRows;
  /** Bucket rows opened before, by name: sealed bytes → JSON. Every call still reads the row (other nodes may have
   * changed it); identical authenticated bytes are not unsealed again. */
  private readonly bucketRows = new Map<string, { sealed: Buffer; json: string }>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  private constructor(
    private readonly meta: MetaStore,
    private readonly blobs: BlobStore,
    rootKey: Buffer,
    private readonly opts: CoreBackendOptions,
  ) {
    this.sealer = new RecordSealer(rootKey);
    this.retirer = new BlobRetirer((ids) => void this.deleteDead(ids).catch(() => {}), opts.deadBlobGraceMs);
    this.pendingRows = new PendingBlobRows(meta);
  }

  static async open(meta: MetaStore, blobs: BlobStore, rootKey: Buffer, opts: CoreBackendOptions = {}): Promise<CoreBackend> {
    const b = new CoreBackend(meta, blobs, rootKey, opts);
    await b.checkRootKey();
    await b.recover(true);
    if (opts.sweepIntervalMs) {
      b.sweeper = setInterval(() => {
        if (b.sweeping) return;
        b.sweeping = b
          .recover(false)
          .catch((e: unknown) => b.opts.log?.warn({ err: String(e) }, 'blob clean-up failed (retried at the next sweep)'))
          .finally(() => (b.sweeping = undefined));
      }, opts.sweepIntervalMs);
      b.sweeper.unref();
    }
    return b;
  }

  private checkRootKey(): Promise<void> {
    return verifyRootKey(this.meta, this.sealer);
  }

  get metaStore(): MetaStore {
    return this.meta;
  }

  /**
   * Leftovers: blobs staged but never committed (G rows) — this instance's from before a restart (atStart),
   * and any instance's past the pending grace —, and blobs dropped but not deleted (D rows) past the dead
   * grace. Bounded by what was in flight, never by the number of objects.
   */
  private async recover(atStart: boolean): Promise<void> {
    const pendingGrace = this.opts.pendingBlobGraceMs ?? 0;
    const deadGrace = atStart && !this.opts.sweepIntervalMs ? 0 : (this.opts.deadBlobGraceMs ?? 0);
    const now = Date.now();
    let cursor = keys.pendingBlobs().start;
    let leftovers = 0;
    for (;;) {
      const range = keys.pendingBlobs();
      const rows = await this.meta.read((tx) => tx.scan({ start: cursor, end: range.end, limit: 1000 }));
      if (!rows.length) break;
      cursor = justAfter(rows[rows.length - 1]!.key);
      const stale = rows.filter((r) => {
        const id = blobIdOf(r.key);
        if (this.staged.has(id)) return false;
        const g = this.open<PendingBlobRow>(r.key, r.value, 'pending blob');
        return pendingGrace === 0 || (atStart && g.node !== undefined && g.node === this.opts.instanceId) || now - g.at > pendingGrace;
      });
      if (stale.length) {
        // G → D in one transaction that re-reads each G row: a writer that refreshed or committed meanwhile keeps its blob.
        const ids = await this.meta.write(async (tx) => {
          const out: string[] = [];
          for (const r of stale) {
            const v = await tx.get(r.key);
            if (!v || !v.equals(r.value)) continue;
            tx.delete(r.key);
            const id = blobIdOf(r.key);
            this.put(tx, keys.deadBlob(id), { at: 0, unfinished: true });
            out.push(id);
          }
          return out;
        });
        leftovers += ids.length;
      }
      if (rows.length < 1000) break;
    }
    if (leftovers) this.opts.log?.info({ blobs: leftovers }, 'removing blobs of writes cut short');
    cursor = keys.deadBlobs().start;
    for (;;) {
      const range = keys.deadBlobs();
      const rows = await this.meta.read((tx) => tx.scan({ start: cursor, end: range.end, limit: 1000 }));
      if (!rows.length) break;
      cursor = justAfter(rows[rows.length - 1]!.key);
      const dead = rows.map((r) => ({
        id: blobIdOf(r.key),
        row: this.open<{ at: number; unfinished?: boolean }>(r.key, r.value, 'dead blob'),
      }));
      const free = dead.filter((d) => (deadGrace === 0 || now - d.row.at > deadGrace) && !this.retirer.isPinned(d.id));
      // A write cut short may have left more than a blob (an upstream multipart upload): discarded first.
      const unfinished = free.filter((d) => d.row.unfinished).map((d) => d.id);
      if (unfinished.length) await this.blobs.discardUnfinished(unfinished);
      if (free.length) await this.deleteDead(free.map((d) => d.id));
      if (rows.length < 1000) break;
    }
  }

  private async deleteDead(ids: string[]): Promise<void> {
    await this.blobs.delete(ids);
    await this.meta.write(async (tx) => {
      for (const id of ids) tx.delete(keys.deadBlob(id));
    });
  }

  private open<T>(rowKey: Buffer, value: Buffer, what: string): T {
    return this.sealer.open<T>(rowKey, value, what);
  }

  private put(tx: MetaTx, rowKey: Buffer, value: unknown): void {
    tx.put(rowKey, this.sealer.seal(rowKey, value));
  }

  private async getRow<T>(tx: MetaTx, rowKey: Buffer, what: string): Promise<T | undefined> {
    const v = await tx.get(rowKey);
    return v === undefined ? undefined : this.open<T>(rowKey, v, what);
  }

  /** Marks blobs for deletion in the transaction that stops referencing them. */
  private dropBlobs(tx: MetaTx, ids: string[]): void {
    for (const id of ids) this.put(tx, keys.deadBlob(id), { at: Date.now() });
  }

  // ---- buckets ----

  private async bucket(tx: MetaTx, name: string): Promise<BucketInfo> {
    const rowKey = keys.bucket(name);
    const sealed = await tx.get(rowKey);
    if (!sealed) throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
    const memo = this.bucketRows.get(name);
    if (memo?.sealed.equals(sealed)) return (JSON.parse(memo.json) as BucketRow).info;
    const row = this.open<BucketRow>(rowKey, sealed, `bucket ${name}`);
    if (this.bucketRows.size >= 1024) this.bucketRows.clear();
    this.bucketRows.set(name, { sealed, json: JSON.stringify(row) });
    return row.info;
  }

  async listBuckets(): Promise<BucketInfo[]> {
    return this.meta.read(async (tx) => (await tx.scan(keys.buckets())).map((e) => this.open<BucketRow>(e.key, e.value, 'bucket').info));
  }

  async createBucket(name: string, config: BucketConfig): Promise<BucketInfo> {
    return this.meta.write(async (tx) => {
      if (await tx.get(keys.bucket(name))) throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
      const info: BucketInfo = { name, created: new Date().toISOString(), config };
      this.put(tx, keys.bucket(name), { info } satisfies BucketRow);
      return info;
    });
  }

  async getBucket(name: string): Promise<BucketInfo> {
    return this.meta.read((tx) => this.bucket(tx, name));
  }

  async updateBucketConfig(name: string, update: (config: BucketConfig) => BucketConfig): Promise<BucketInfo> {
    return this.meta.write(async (tx) => {
      const old = await this.bucket(tx, name);
      const info: BucketInfo = { ...old, config: update(structuredClone(old.config)) };
      this.put(tx, keys.bucket(name), { info } satisfies BucketRow);
      return info;
    });
  }

  async deleteBucket(name: string): Promise<void> {
    const dead = await this.meta.write(async (tx) => {
      await this.bucket(tx, name);
      if ((await tx.scan({ ...prefixRange(keys.bucketRows(TABLE.version, name)), limit: 1 })).length)
        throw new S3Error('BucketNotEmpty', undefined, { BucketName: name });
      const ids: string[] = [];
      for (const table of [TABLE.upload, TABLE.uploadById, TABLE.part]) {
        for (const e of await tx.scan(prefixRange(keys.bucketRows(table, name)))) {
          if (table === TABLE.part) ids.push(this.open<PartRecord>(e.key, e.value, `part in ${name}`).ref);
          tx.delete(e.key);
        }
      }
      this.dropBlobs(tx, ids);
      tx.delete(keys.bucket(name));
      return ids;
    });
    this.retirer.retire(dead);
  }

  // ---- blobs ----

  private pendingRow(): PendingBlobRow {
    return this.opts.instanceId ? { at: Date.now(), node: this.opts.instanceId } : { at: Date.now() };
  }

  async stageBlob(bucket: string, data: Readable): Promise<StagedBlob> {
    const id = newBlobId();
    try {
      // No blob for a bucket that is not there (the commit checks again). The pending rows of concurrent
      // writes share one transaction (PendingBlobRows).
      await this.meta.read((tx) => this.bucket(tx, bucket));
      const rowKey = keys.pendingBlob(id);
      await this.pendingRows.add(rowKey, this.sealer.seal(rowKey, this.pendingRow()));
    } catch (e) {
      data.resume();
      throw e;
    }
    this.staged.add(id);
    // A long upload keeps its G row young, so other nodes' clean-up leaves it alone.
    const grace = this.opts.pendingBlobGraceMs ?? 0;
    const refresh =
      grace > 0 && this.opts.sweepIntervalMs
        ? setInterval(() => {
            void this.meta
              .write(async (tx) => {
                if (await tx.get(keys.pendingBlob(id))) this.put(tx, keys.pendingBlob(id), this.pendingRow());
              })
              .catch(() => {});
          }, grace / 6)
        : undefined;
    refresh?.unref();
    try {
      const storedSize = await this.blobs.put(id, data);
      return { id, storedSize };
    } catch (e) {
      await this.discardBlob(bucket, { id, storedSize: 0 });
      throw e;
    } finally {
      if (refresh) clearInterval(refresh);
    }
  }

  /** In a commit: the staged blob's G row must still be there (not taken by another node's clean-up); removes it. */
  private async claimStaged(tx: MetaTx, id: string): Promise<void> {
    if (!(await tx.get(keys.pendingBlob(id))))
      throw new Error('staged blob was removed by clean-up before its commit (upload older than the pending-blob grace period)');
    tx.delete(keys.pendingBlob(id));
  }

  async discardBlob(_bucket: string, blob: StagedBlob): Promise<void> {
    if (!this.staged.delete(blob.id)) return;
    // Left behind on failure: its G row stays, so the next open removes it.
    try {
      await this.blobs.delete([blob.id]);
      await this.meta.write(async (tx) => tx.delete(keys.pendingBlob(blob.id)));
    } catch {
      /* see above */
    }
  }

  private checkStaged(blob: StagedBlob): void {
    if (!this.staged.has(blob.id)) throw new Error('blob is not staged (already committed or discarded)');
  }

  // ---- versions ----

  /** The newest version row of a key (a delete marker included). */
  private async newest(tx: MetaTx, bucket: string, key: string): Promise<ObjectRecord | undefined> {
    return (await this.newestRow(tx, bucket, key))?.rec;
  }

  private async newestRow(tx: MetaTx, bucket: string, key: string): Promise<{ rec: ObjectRecord; order: Buffer } | undefined> {
    const [e] = await tx.scan({ ...prefixRange(keys.versionsOf(bucket, key)), limit: 1 });
    this.stats.rowsRead++;
    return e && { rec: this.open<ObjectRecord>(e.key, e.value, `version in ${bucket}`), order: versionOrderFromRow(e.key) };
  }

  /**
   * The version id of a new version: versionIdFor's, unless another node's clock put the key's newest row
   * ahead of it — then one microsecond newer than that row, so the last commit is always the newest.
   */
  private freshVersionId(info: BucketInfo, newestOrder: Buffer | undefined): string {
    const id = versionIdFor(info);
    if (id === NULL_VERSION) return id;
    if (newestOrder && Buffer.compare(versionOrderOf(id)!, newestOrder) >= 0) return orderNewerThan(newestOrder).toString('hex');
    return id;
  }

  /** The row order of a version id: its bytes, or the key's current null version order; undefined when there is none. */
  private async orderOf(tx: MetaTx, bucket: string, key: string, versionId: string): Promise<Buffer | undefined> {
    if (versionId !== NULL_VERSION) return versionOrderOf(versionId);
    const row = await this.getRow<{ order: string }>(tx, keys.nullVersion(bucket, key), `null version in ${bucket}`);
    return row && Buffer.from(row.order, 'hex');
  }

  /** Removes a version row (and what points at it); returns its blob ids. Does not fix the L row. */
  private async removeVersion(tx: MetaTx, bucket: string, key: string, order: Buffer, rec: ObjectRecord): Promise<string[]> {
    tx.delete(keys.version(bucket, key, order));
    if (rec.versionId === NULL_VERSION) tx.delete(keys.nullVersion(bucket, key));
    const ids = rec.parts.map((p) => p.ref);
    this.dropBlobs(tx, ids);
    return ids;
  }

  /** Adds a version (or delete marker) as the key's newest, under the bucket's versioning state; returns the blobs it replaced. */
  private async addVersion(tx: MetaTx, info: BucketInfo, rec: ObjectRecord): Promise<string[]> {
    const bucket = info.name;
    const key = rec.key;
    let removed: string[] = [];
    let order: Buffer;
    if (rec.versionId === NULL_VERSION) {
      const oldOrder = await this.orderOf(tx, bucket, key, NULL_VERSION);
      if (oldOrder) {
        const old = await this.getRow<ObjectRecord>(tx, keys.version(bucket, key, oldOrder), `version in ${bucket}`);
        if (old) removed = await this.removeVersion(tx, bucket, key, oldOrder, old);
      }
      order = newVersionOrder();
      const newest = await this.newestRow(tx, bucket, key);
      if (newest && Buffer.compare(order, newest.order) >= 0) order = orderNewerThan(newest.order);
      this.put(tx, keys.nullVersion(bucket, key), { order: order.toString('hex') });
    } else {
      order = versionOrderOf(rec.versionId)!;
    }
    this.put(tx, keys.version(bucket, key, order), rec);
    if (rec.deleteMarker) tx.delete(keys.latest(bucket, key));
    else this.put(tx, keys.latest(bucket, key), latestRowOf(rec));
    return removed;
  }

  /** After the newest version was removed: the L row follows the new newest. */
  private async fixLatest(tx: MetaTx, bucket: string, key: string): Promise<void> {
    const n = await this.newest(tx, bucket, key);
    if (n && !n.deleteMarker) this.put(tx, keys.latest(bucket, key), latestRowOf(n));
    else tx.delete(keys.latest(bucket, key));
  }

  private commit(
    bucket: string,
    key: string,
    build: (versionId: string) => ObjectRecord,
    opts: WriteOptions | undefined,
    extra?: (tx: MetaTx) => Promise<string[]>,
  ): Promise<ObjectRecord> {
    return this.locks.run(`key\0${bucket}\0${key}`, async () => {
      const { rec, removed } = await this.meta.write(async (tx) => {
        const info = await this.bucket(tx, bucket);
        const row = await this.newestRow(tx, bucket, key);
        const newest = row?.rec;
        checkPreconditions(newest && !newest.deleteMarker ? newest : undefined, opts);
        const rec = build(this.freshVersionId(info, row?.order));
        const removed = await this.addVersion(tx, info, rec);
        if (extra) removed.push(...(await extra(tx)));
        return { rec, removed };
      });
      this.retirer.retire(removed);
      return rec;
    });
  }

  // ---- objects ----

  async putObject(
    bucket: string,
    key: string,
    blob: StagedBlob,
    meta: ObjectMeta,
    part?: { etag: string; checksum?: string; encryption?: unknown },
    opts?: WriteOptions,
  ): Promise<ObjectRecord> {
    try {
      this.checkStaged(blob);
      const rec = await this.commit(
        bucket,
        key,
        (versionId) => singlePartRecord(key, versionId, meta, blob.storedSize, blob.id, part),
        opts,
        async (tx) => {
          await this.claimStaged(tx, blob.id);
          return [];
        },
      );
      this.staged.delete(blob.id);
      return rec;
    } finally {
      await this.discardBlob(bucket, blob);
    }
  }

  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectRecord> {
    return this.meta.read(async (tx) => {
      await this.bucket(tx, bucket);
      if (versionId !== undefined) {
        const order = await this.orderOf(tx, bucket, key, versionId);
        const v = order && (await this.getRow<ObjectRecord>(tx, keys.version(bucket, key, order), `version in ${bucket}`));
        if (!v || v.key !== key || v.versionId !== versionId)
          throw new S3Error('NoSuchVersion', undefined, { Key: key, VersionId: versionId });
        return v;
      }
      const v = await this.newest(tx, bucket, key);
      if (!v) throw new S3Error('NoSuchKey', undefined, { Key: key });
      if (v.deleteMarker)
        throw new S3Error('NoSuchKey', undefined, { Key: key }, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': v.versionId });
      return v;
    });
  }

  openObject(_bucket: string, record: ObjectRecord, range?: { start: number; end: number }): Readable {
    const segments = segmentsOf(record, range);
    const ids = segments.map((s) => s.ref);
    this.retirer.pin(ids);
    const blobs = this.blobs;
    let stream: Readable;
    if (segments.length === 1) {
      const s = segments[0]!;
      stream = blobs.open(s.ref, { start: s.start, end: s.end });
    } else {
      stream = Readable.from(
        (async function* read(): AsyncGenerator<Buffer> {
          for (const s of segments) yield* blobs.open(s.ref, { start: s.start, end: s.end }) as AsyncIterable<Buffer>;
        })(),
        { objectMode: false, highWaterMark: 1024 * 1024 },
      );
    }
    stream.once('close', () => this.retirer.unpin(ids));
    return stream;
  }

  async deleteObject(bucket: string, key: string, versionId?: string): Promise<{ versionId?: string; deleteMarker?: boolean }> {
    return this.locks.run(`key\0${bucket}\0${key}`, async () => {
      const { result, removed } = await this.meta.write(async (tx) => {
        const info = await this.bucket(tx, bucket);
        if (versionId !== undefined) {
          const result: { versionId?: string; deleteMarker?: boolean } = { versionId };
          const order = await this.orderOf(tx, bucket, key, versionId);
          const v = order && (await this.getRow<ObjectRecord>(tx, keys.version(bucket, key, order), `version in ${bucket}`));
          if (!order || !v) return { result, removed: [] };
          if (v.deleteMarker) result.deleteMarker = true;
          const wasNewest = (await this.newest(tx, bucket, key))?.versionId === versionId;
          const removed = await this.removeVersion(tx, bucket, key, order, v);
          if (wasNewest) await this.fixLatest(tx, bucket, key);
          return { result, removed };
        }
        if (info.config.versioning) {
          const markerId = this.freshVersionId(info, (await this.newestRow(tx, bucket, key))?.order);
          const marker: ObjectRecord = {
            key,
            versionId: markerId,
            deleteMarker: true,
            lastModified: new Date().toISOString(),
            size: 0,
            storedSize: 0,
            etag: '',
            contentType: '',
            userMetadata: {},
            headers: {},
            parts: [],
          };
          const removed = await this.addVersion(tx, info, marker);
          return { result: { versionId: markerId, deleteMarker: true }, removed };
        }
        // Never versioned: every version is the null version.
        const order = await this.orderOf(tx, bucket, key, NULL_VERSION);
        const v = order && (await this.getRow<ObjectRecord>(tx, keys.version(bucket, key, order), `version in ${bucket}`));
        if (!order || !v) return { result: {}, removed: [] };
        const removed = await this.removeVersion(tx, bucket, key, order, v);
        await this.fixLatest(tx, bucket, key);
        return { result: {}, removed };
      });
      this.retirer.retire(removed);
      return result;
    });
  }

  async listObjects(bucket: string, opts: ListOptions): Promise<ListResult> {
    return this.meta.read(async (tx) => {
      await this.bucket(tx, bucket);
      const prefix = opts.prefix ?? '';
      const delimiter = opts.delimiter ?? '';
      const out: ListResult = { objects: [], commonPrefixes: [], isTruncated: false };
      if (opts.maxKeys <= 0) return out;
      const range = prefixRange(keys.latestUnder(bucket, prefix));
      let cursor = range.start;
      if (opts.startAfter) {
        const sa = justAfter(keys.latest(bucket, opts.startAfter));
        if (Buffer.compare(sa, cursor) > 0) cursor = sa;
      }
      // A common prefix at or before startAfter was returned by an earlier page: seek past it.
      if (opts.startAfter && delimiter && opts.startAfter.startsWith(prefix)) {
        const d = opts.startAfter.indexOf(delimiter, prefix.length);
        if (d >= 0) {
          const past = after(keys.latestUnder(bucket, opts.startAfter.slice(0, d + delimiter.length)));
          if (Buffer.compare(past, cursor) > 0) cursor = past;
        }
      }
      let count = 0;
      let batch = delimiter ? DELIMITED_SCAN_START : SCAN_BATCH;
      for (;;) {
        if (Buffer.compare(cursor, range.end) >= 0) return out;
        const rows = await tx.scan({ start: cursor, end: range.end, limit: Math.min(batch, opts.maxKeys - count + 1) });
        batch = Math.min(SCAN_BATCH, batch * 2);
        this.stats.rowsRead += rows.length;
        if (!rows.length) return out;
        for (const row of rows) {
          const key = objectKeyOf(row.key);
          const d = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
          if (count === opts.maxKeys) {
            out.isTruncated = true;
            return out;
          }
          if (d >= 0) {
            const cp = key.slice(0, d + delimiter.length);
            out.commonPrefixes.push(cp);
            out.lastEntry = cp;
            count++;
            cursor = after(keys.latestUnder(bucket, cp));
            batch = DELIMITED_SCAN_START;
            break; // rescan from past the common prefix
          }
          out.objects.push(this.open<ListedObject>(row.key, row.value, `latest in ${bucket}`));
          out.lastEntry = key;
          count++;
          cursor = justAfter(row.key);
        }
      }
    });
  }

  async listObjectVersions(bucket: string, opts: ListVersionsOptions): Promise<ListVersionsResult> {
    return this.meta.read(async (tx) => {
      await this.bucket(tx, bucket);
      const prefix = opts.prefix ?? '';
      const delimiter = opts.delimiter ?? '';
      const keyMarker = opts.keyMarker ?? '';
      const out: ListVersionsResult = { versions: [], commonPrefixes: [], isTruncated: false };
      if (opts.maxKeys <= 0) return out;
      const range = prefixRange(keys.versionsUnder(bucket, prefix));
      let cursor = range.start;
      /** Newest version id of the key where the listing resumes mid-key (that key's first row may lie before the cursor). */
      let resumeKey: string | undefined;
      let resumeNewest: string | undefined;
      if (keyMarker && Buffer.compare(keys.versionsOf(bucket, keyMarker), range.start) >= 0) {
        const vm = opts.versionIdMarker;
        const order = vm !== undefined && vm !== '' ? await this.orderOf(tx, bucket, keyMarker, vm) : undefined;
        cursor = order ? justAfter(keys.version(bucket, keyMarker, order)) : after(keys.versionsOf(bucket, keyMarker));
        if (order) {
          resumeKey = keyMarker;
          resumeNewest = (await this.newest(tx, bucket, keyMarker))?.versionId;
        }
        if (delimiter && keyMarker.startsWith(prefix)) {
          const d = keyMarker.indexOf(delimiter, prefix.length);
          if (d >= 0) {
            const past = after(keys.versionsUnder(bucket, keyMarker.slice(0, d + delimiter.length)));
            if (Buffer.compare(past, cursor) > 0) cursor = past;
          }
        }
      }
      let count = 0;
      let lastKey: string | undefined;
      let lastVersion: string | undefined;
      let prevKey: string | undefined = resumeKey;
      let batch = delimiter ? DELIMITED_SCAN_START : SCAN_BATCH;
      for (;;) {
        if (Buffer.compare(cursor, range.end) >= 0) return out;
        const rows = await tx.scan({ start: cursor, end: range.end, limit: Math.min(batch, opts.maxKeys - count + 1) });
        batch = Math.min(SCAN_BATCH, batch * 2);
        this.stats.rowsRead += rows.length;
        if (!rows.length) return out;
        for (const row of rows) {
          const key = objectKeyOf(row.key);
          const d = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
          if (count === opts.maxKeys) {
            out.isTruncated = true;
            out.nextKeyMarker = lastKey;
            if (lastVersion !== undefined) out.nextVersionIdMarker = lastVersion;
            return out;
          }
          if (d >= 0) {
            const cp = key.slice(0, d + delimiter.length);
            out.commonPrefixes.push(cp);
            lastKey = cp;
            lastVersion = undefined;
            count++;
            cursor = after(keys.versionsUnder(bucket, cp));
            batch = DELIMITED_SCAN_START;
            break;
          }
          const v = this.open<ObjectRecord>(row.key, row.value, `version in ${bucket}`);
          const isLatest = key === resumeKey && key === prevKey ? v.versionId === resumeNewest : key !== prevKey;
          prevKey = key;
          out.versions.push({ ...v, isLatest });
          lastKey = key;
          lastVersion = v.versionId;
          count++;
          cursor = justAfter(row.key);
        }
      }
    });
  }

  // ---- multipart ----

  private async uploadRow(tx: MetaTx, bucket: string, uploadId: string): Promise<UploadRecord> {
    await this.bucket(tx, bucket);
    const u = UPLOAD_ID.test(uploadId)
      ? await this.getRow<UploadRecord>(tx, keys.uploadById(bucket, uploadId), `upload in ${bucket}`)
      : undefined;
    if (!u) throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
    return u;
  }

  private async partRows(tx: MetaTx, bucket: string, uploadId: string): Promise<{ key: Buffer; part: PartRecord }[]> {
    return (await tx.scan(prefixRange(keys.partsOf(bucket, uploadId)))).map((e) => ({
      key: e.key,
      part: this.open<PartRecord>(e.key, e.value, `part in ${bucket}`),
    }));
  }

  async createUpload(bucket: string, key: string, meta: UploadMeta): Promise<UploadRecord> {
    return this.meta.write(async (tx) => {
      await this.bucket(tx, bucket);
      const uploadId = randomId(24);
      const rec: UploadRecord = { ...meta, uploadId, key, initiated: new Date().toISOString() };
      this.put(tx, keys.uploadById(bucket, uploadId), rec);
      this.put(tx, keys.upload(bucket, key, rec.initiated, uploadId), rec);
      return rec;
    });
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadRecord> {
    return this.meta.read((tx) => this.uploadRow(tx, bucket, uploadId));
  }

  async listUploads(bucket: string): Promise<UploadRecord[]> {
    return this.meta.read(async (tx) => {
      await this.bucket(tx, bucket);
      return (await tx.scan(prefixRange(keys.uploadsOf(bucket)))).map((e) =>
        this.open<UploadRecord>(e.key, e.value, `upload in ${bucket}`),
      );
    });
  }

  async putPart(
    bucket: string,
    uploadId: string,
    partNumber: number,
    blob: StagedBlob,
    part: { size: number; etag: string; checksum?: string; encryption?: unknown },
  ): Promise<PartRecord> {
    try {
      this.checkStaged(blob);
      const { rec, removed } = await this.locks.run(`upload\0${bucket}\0${uploadId}`, () =>
        this.meta.write(async (tx) => {
          await this.uploadRow(tx, bucket, uploadId);
          const rowKey = keys.part(bucket, uploadId, partNumber);
          const old = await this.getRow<PartRecord>(tx, rowKey, `part in ${bucket}`);
          const rec = partRecord(partNumber, blob.storedSize, blob.id, part);
          this.put(tx, rowKey, rec);
          await this.claimStaged(tx, blob.id);
          const removed = old ? [old.ref] : [];
          this.dropBlobs(tx, removed);
          return { rec, removed };
        }),
      );
      this.staged.delete(blob.id);
      this.retirer.retire(removed);
      return rec;
    } finally {
      await this.discardBlob(bucket, blob);
    }
  }

  async listParts(bucket: string, uploadId: string): Promise<PartRecord[]> {
    return this.meta.read(async (tx) => {
      await this.uploadRow(tx, bucket, uploadId);
      return (await this.partRows(tx, bucket, uploadId)).map((p) => p.part);
    });
  }

  /** Deletes an upload's rows in tx; returns the part rows it had. */
  private async removeUpload(tx: MetaTx, bucket: string, upload: UploadRecord): Promise<PartRecord[]> {
    const parts = await this.partRows(tx, bucket, upload.uploadId);
    for (const p of parts) tx.delete(p.key);
    tx.delete(keys.uploadById(bucket, upload.uploadId));
    tx.delete(keys.upload(bucket, upload.key, upload.initiated, upload.uploadId));
    return parts.map((p) => p.part);
  }

  async abortUpload(bucket: string, uploadId: string): Promise<void> {
    const removed = await this.locks.run(`upload\0${bucket}\0${uploadId}`, () =>
      this.meta.write(async (tx) => {
        const upload = await this.uploadRow(tx, bucket, uploadId);
        const ids = (await this.removeUpload(tx, bucket, upload)).map((p) => p.ref);
        this.dropBlobs(tx, ids);
        return ids;
      }),
    );
    this.retirer.retire(removed);
  }

  async completeUpload(
    bucket: string,
    uploadId: string,
    parts: PartRecord[],
    meta: ObjectMeta,
    opts?: WriteOptions,
  ): Promise<ObjectRecord> {
    return this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
      const upload = await this.getUpload(bucket, uploadId);
      const key = upload.key;
      return this.commit(
        bucket,
        key,
        (versionId) => multipartRecord(key, versionId, meta, parts),
        opts,
        async (tx) => {
          await this.uploadRow(tx, bucket, uploadId);
          const current = new Map((await this.removeUpload(tx, bucket, upload)).map((p) => [p.partNumber, p]));
          for (const p of parts) {
            if (current.get(p.partNumber)?.ref !== p.ref) throw new S3Error('InvalidPart', undefined, { PartNumber: String(p.partNumber) });
          }
          const used = new Set(parts.map((p) => p.ref));
          const unused = [...current.values()].filter((p) => !used.has(p.ref)).map((p) => p.ref);
          this.dropBlobs(tx, unused);
          return unused;
        },
      );
    });
  }

  async close(): Promise<void> {
    // Pending deletions keep their D rows: the next open finishes them.
    if (this.sweeper) clearInterval(this.sweeper);
    await this.sweeping;
    this.retirer.close();
    this.locks.clear();
    await this.blobs.close();
    await this.meta.close();
  }
}
