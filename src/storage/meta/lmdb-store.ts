// The embedded metadata engine: LMDB (npm `lmdb`, prebuilt binaries), one environment in
// <data>/.kura/meta/ (files 0600, dir 0700), its pages encrypted (ChaCha8, lmdb-js `encryptionKey`)
// under a key derived from the root key, so object key names never appear in clear on disk.
//
// Reads: a read transaction = a consistent snapshot (MVCC); nothing is loaded into memory beyond what a
// call reads — the OS page cache over the memory map is the cache.
// Writes: optimistic. `fn` runs against a buffered transaction reading a snapshot (and its own buffered
// writes) that records every point read and scan result; then, inside ONE lmdb-js `db.transaction()`,
// every read is re-validated against the current state and the writes applied, or `fn` runs again.
// lmdb-js batches the transactions queued meanwhile into one LMDB commit with one fsync: group commit.
//
// Durability: `overlappingSync` (lmdb-js's default on Linux) resolves a write's promise when it is
// committed and visible, with the fsync after; a process crash keeps it, a power loss may not. We turn it
// off, so the commit (and the promise every write awaits) includes the fsync: an acknowledged write is
// on disk. `noSync`/`noMetaSync` stay off. `commitDelay` 0 (the default): a batch starts at once; the
// writes that arrive during its fsync form the next batch.
import { mkdir, chmod } from 'node:fs/promises';
import { open, type RootDatabase, type Transaction } from 'lmdb';
import { deriveKey } from '../../crypto/index.ts';
import { MetaConflictError, type Entry, type MetaStore, type MetaTx, type ScanOptions } from './meta-store.ts';

/** A hot row under sustained contention: each batch lets one of its writers win. Callers serialize writes to one
 * object key in-process (core-backend), so this bound is for pathological cases. */
const MAX_ATTEMPTS = 64;

/** lmdb-js takes the key as a 32-byte string: base64 of the derived key, first 32 characters (192 bits). */
export function lmdbEncryptionKey(rootKey: Buffer): string {
  return deriveKey(rootKey, 'metadata pages', '').toString('base64').slice(0, 32);
}

type Db = RootDatabase<Buffer, Buffer>;

function copy(b: Buffer): Buffer {
  return Buffer.from(b);
}

/** Range entries from lmdb-js (binary encodings) are already fresh copies (slices of its shared buffers): only
 * make sure they are Buffers, without copying 1,000 keys and values a second time per listing page. */
function own(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** A scan against the db (optionally within a read transaction), in the MetaStore's bounds semantics. */
function scanDb(db: Db, opts: ScanOptions, transaction?: Transaction): Entry[] {
  const out: Entry[] = [];
  const limit = opts.limit ?? Infinity;
  if (limit <= 0) return out;
  if (!opts.reverse) {
    for (const { key, value } of db.getRange({ start: opts.start, end: opts.end, ...(transaction ? { transaction } : {}) })) {
      out.push({ key: own(key), value: own(value) });
      if (out.length >= limit) break;
    }
    return out;
  }
  // Reverse: lmdb-js starts at `start` (inclusive) going down; skip `end` itself, stop below opts.start.
  for (const { key, value } of db.getRange({ start: opts.end, reverse: true, ...(transaction ? { transaction } : {}) })) {
    if (Buffer.compare(key, opts.end) >= 0) continue;
    if (Buffer.compare(key, opts.start) < 0) break;
    out.push({ key: own(key), value: own(value) });
    if (out.length >= limit) break;
  }
  return out;
}

function sameEntries(a: Entry[], b: Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!a[i]!.key.equals(b[i]!.key) || !a[i]!.value.equals(b[i]!.value)) return false;
  return true;
}

class ReadTx implements MetaTx {
  constructor(
    protected readonly db: Db,
    protected readonly txn: Transaction,
  ) {}
  async get(key: Buffer): Promise<Buffer | undefined> {
    const v = this.db.get(key, { transaction: this.txn } as never) as Buffer | undefined;
    return v === undefined ? undefined : copy(v);
  }
  async scan(opts: ScanOptions): Promise<Entry[]> {
    return scanDb(this.db, opts, this.txn);
  }
  put(_key: Buffer, _value: Buffer): void {
    throw new Error('write in a read-only metadata transaction');
  }
  delete(_key: Buffer): void {
    throw new Error('write in a read-only metadata transaction');
  }
}

/** A write transaction before commit: snapshot reads + own buffered writes; remembers what it read. */
class BufferedTx extends ReadTx {
  /** hex key → value (undefined = delete). */
  readonly writes = new Map<string, Buffer | undefined>();
  readonly pointReads = new Map<string, { key: Buffer; value: Buffer | undefined }>();
  readonly scans: { opts: ScanOptions; entries: Entry[] }[] = [];

  override async get(key: Buffer): Promise<Buffer | undefined> {
    const h = key.toString('hex');
    if (this.writes.has(h)) return this.writes.get(h);
    const v = await super.get(key);
    this.pointReads.set(h, { key, value: v });
    return v;
  }

  override async scan(opts: ScanOptions): Promise<Entry[]> {
    const inRange = (k: Buffer) => Buffer.compare(k, opts.start) >= 0 && Buffer.compare(k, opts.end) < 0;
    const own = [...this.writes].map(([h, v]) => ({ key: Buffer.from(h, 'hex'), value: v })).filter((e) => inRange(e.key));
    // Own deletes may hide committed rows: read that many more, so the limit still holds after the overlay.
    const extra = own.filter((e) => e.value === undefined).length;
    const base = { ...opts, ...(opts.limit !== undefined ? { limit: opts.limit + extra } : {}) };
    const entries = scanDb(this.db, base, this.txn);
    this.scans.push({ opts: base, entries });
    if (!own.length) return opts.limit !== undefined ? entries.slice(0, opts.limit) : entries;
    const merged = new Map<string, Entry>();
    for (const e of entries) merged.set(e.key.toString('hex'), e);
    const lastBase = entries.length === base.limit ? entries[entries.length - 1]!.key : undefined;
    for (const e of own) {
      const h = e.key.toString('hex');
      if (e.value === undefined) merged.delete(h);
      // Own rows past the last committed row a limited scan reached are left out: the committed rows between
      // are unknown. The first `limit` rows of the overlay all lie within the part read (it had limit + deletes rows).
      else if (!lastBase || (opts.reverse ? Buffer.compare(e.key, lastBase) >= 0 : Buffer.compare(e.key, lastBase) <= 0))
        merged.set(h, { key: e.key, value: e.value });
    }
    const out = [...merged.values()].sort((a, b) => (opts.reverse ? Buffer.compare(b.key, a.key) : Buffer.compare(a.key, b.key)));
    return opts.limit !== undefined ? out.slice(0, opts.limit) : out;
  }

  override put(key: Buffer, value: Buffer): void {
    this.writes.set(key.toString('hex'), copy(value));
  }

  override delete(key: Buffer): void {
    this.writes.set(key.toString('hex'), undefined);
  }

  /** Inside the LMDB write transaction: is everything read still as it was read? */
  valid(db: Db): boolean {
    for (const { key, value } of this.pointReads.values()) {
      const now = db.get(key) as Buffer | undefined;
      if (now === undefined ? value !== undefined : value === undefined || !now.equals(value)) return false;
    }
    for (const s of this.scans) if (!sameEntries(scanDb(db, s.opts), s.entries)) return false;
    return true;
  }

  apply(db: Db): void {
    for (const [h, v] of this.writes) {
      const key = Buffer.from(h, 'hex');
      if (v === undefined) void db.remove(key);
      else void db.put(key, v);
    }
  }
}

export class LmdbStore implements MetaStore {
  readonly engine = 'lmdb';
  /** Conflict retries so far (tests and logs). */
  retries = 0;

  private constructor(private readonly db: Db) {}

  static async open(dir: string, rootKey: Buffer): Promise<LmdbStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const db = open<Buffer, Buffer>({
      path: dir,
      keyEncoding: 'binary',
      encoding: 'binary',
      encryptionKey: lmdbEncryptionKey(rootKey),
      permissionsMode: 0o600,
      overlappingSync: false,
      noSync: false,
      noMetaSync: false,
      commitDelay: 0,
      // Large keys (S3 allows 1024-byte object keys, escaped and in tuples).
      pageSize: 8192,
    } as never) as Db;
    return new LmdbStore(db);
  }

  async read<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    const txn = this.db.useReadTransaction();
    try {
      return await fn(new ReadTx(this.db, txn));
    } finally {
      txn.done();
    }
  }

  async write<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const txn = this.db.useReadTransaction();
      const tx = new BufferedTx(this.db, txn);
      let result: T;
      try {
        result = await fn(tx);
      } finally {
        txn.done();
      }
      if (!tx.writes.size && !tx.pointReads.size && !tx.scans.length) return result;
      let ok = false;
      await this.db.transaction(() => {
        ok = tx.valid(this.db);
        if (ok) tx.apply(this.db);
      });
      if (ok) return result;
      this.retries++;
      // Past a few rounds, spread the contenders out a little (jitter) instead of colliding again in the next batch.
      if (attempt >= 3) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
    }
    throw new MetaConflictError();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
