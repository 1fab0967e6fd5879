// The metadata store: an ordered key-value store with transactions, the one interface every metadata
// engine implements (embedded LMDB, PostgreSQL). Everything Kura remembers besides data blobs lives
// here — buckets and their configuration, object versions and delete markers, multipart uploads and
// parts, the KMS key store — under keys built by src/storage/meta/keys.ts, so that an ordered range
// scan is an S3 listing. Values are opaque bytes (records sealed by the layer above).
//
// Transactions are serializable: a write transaction either commits as a whole after everything it
// read is still as it read it, or is retried (the function runs again) — callers keep `fn` free of side
// effects outside the transaction. Embedded: optimistic, validated and applied inside one LMDB write
// transaction, batched with concurrent ones (group commit, one fsync). PostgreSQL: SERIALIZABLE, retried
// on serialization failures, so several Kura processes can share one database.

/** One key-value pair of a scan. */
export interface Entry {
  key: Buffer;
  value: Buffer;
}

export interface ScanOptions {
  /** Inclusive lower bound. */
  start: Buffer;
  /** Exclusive upper bound. */
  end: Buffer;
  /** At most this many entries. */
  limit?: number;
  /** Descending order (from just below `end` down to `start`). */
  reverse?: boolean;
}

/** What a transaction sees and does. Reads see the transaction's own writes. */
export interface MetaTx {
  get(key: Buffer): Promise<Buffer | undefined>;
  scan(opts: ScanOptions): Promise<Entry[]>;
  put(key: Buffer, value: Buffer): void;
  delete(key: Buffer): void;
}

export interface MetaStore {
  /** Engine name for logs: 'lmdb' or 'postgres'. */
  readonly engine: string;
  /** A consistent read-only view (writes through it throw). */
  read<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T>;
  /** A serializable read-write transaction; `fn` may run more than once (conflict retry). Durable when it resolves. */
  write<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Raised when a write transaction could not commit after its retries (sustained contention). */
export class MetaConflictError extends Error {
  constructor(message = 'metadata transaction conflict: retries exhausted') {
    super(message);
    this.name = 'MetaConflictError';
  }
}
