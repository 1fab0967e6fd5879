// The PostgreSQL metadata engine: the MetaStore's ordered key-value space as one table of BYTEA keys and
// values, so several Kura processes can share one database and correctness comes from its transactions
// (no lease, no locks of our own).
//
//   const meta = await PgMetaStore.open({ url: 'postgres://user:pw@db:5432/kura?sslmode=verify-full' });
//   ...
//   await meta.close();
//
// Write transactions are SERIALIZABLE and rerun on serialization failures (SQLSTATE 40001, which is also
// CockroachDB's "restart transaction" error, and 40P01 deadlocks) with jittered exponential backoff, up to
// maxAttempts, then MetaConflictError. Puts and deletes are buffered in memory and sent in one statement
// each before the next scan and at commit, so a typical read-modify-write costs BEGIN, reads, one upsert,
// COMMIT. Read transactions are READ ONLY REPEATABLE READ: one snapshot for the whole function.
//
// The SQL is kept to what CockroachDB and YugabyteDB also accept: CREATE TABLE IF NOT EXISTS, BYTEA, plain
// SELECT/DELETE with range predicates, ORDER BY … LIMIT, INSERT … ON CONFLICT (k) DO UPDATE, `= ANY($1)`,
// BEGIN ISOLATION LEVEL … [READ ONLY]. Not used, on purpose: advisory locks (pg_advisory_*),
// LISTEN/NOTIFY, PL/pgSQL functions and triggers, SELECT … FOR UPDATE [SKIP LOCKED], LOCK TABLE, sequences,
// temporary tables, COPY, and PostgreSQL-only types (docs/METADATA.md says why, and what an operator sees:
// the k column holds bucket names and object keys in clear; values are sealed by the layer above).
import pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import { MetaConflictError, type Entry, type MetaStore, type MetaTx, type ScanOptions } from './meta-store.ts';

/** The schema this code reads and writes; kura_schema holds the database's. */
export const PG_SCHEMA_VERSION = 1;

export interface PgMetaStoreOptions {
  /** postgres://user:password@host:port/database?sslmode=… (libpq-style TLS parameters are honoured). */
  url: string;
  /** Connections in this process's pool (default 10). Each open transaction holds one. */
  poolSize?: number;
  /** TLS options passed to the driver as-is (CA, client certificate…); overrides what the URL's sslmode sets. */
  ssl?: boolean | ConnectionOptions;
  /** Attempts of one write transaction before MetaConflictError (default 40). */
  maxAttempts?: number;
  /** Errors of idle pooled connections (the database restarted, a network cut); the pool replaces them. */
  onIdleError?: (err: Error) => void;
  /** application_name seen in pg_stat_activity (default 'kura'). */
  applicationName?: string;
  /** How long to wait for a new connection before failing the transaction (default 10 s; the driver's own default waits forever). */
  connectTimeoutMs?: number;
}

/**
 * The table's DDL for the server at hand. YugabyteDB hash-shards a primary key unless told ASC, which would
 * turn every ordered scan into a full scan and sort; PostgreSQL's grammar has no ASC in a PRIMARY KEY
 * constraint, and CockroachDB orders its primary index by default.
 */
export function metaTableDDL(serverVersion: string): string {
  const pk = /-YB-/.test(serverVersion) ? 'PRIMARY KEY (k ASC)' : 'PRIMARY KEY (k)';
  return `CREATE TABLE IF NOT EXISTS kura_meta (k BYTEA NOT NULL, v BYTEA NOT NULL, ${pk})`;
}

/** SQLSTATEs after which the transaction is rolled back and run again from the start. */
const RETRYABLE = new Set(['40001', '40P01']);

/** The SQLSTATE of an error the database answered (network errors carry Node's codes, e.g. ECONNRESET: none here). */
function sqlState(err: unknown): string | undefined {
  return err instanceof pg.DatabaseError ? err.code : undefined;
}

function isRetryable(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && RETRYABLE.has(code);
}

/** Errors of CREATE TABLE IF NOT EXISTS racing the same statement in another session. */
const SCHEMA_RACE = new Set(['23505', '42P07', '42710']);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// Rows per flushed INSERT: 2 parameters each, well under the protocol's 65,535.
const FLUSH_ROWS = 1000;

/** One transaction on one pooled connection: buffered writes, own-write visibility, error latching. */
class PgTx implements MetaTx {
  /** Buffered writes by key (hex): a value to upsert, or undefined for a delete. Last write of a key wins. */
  private pending = new Map<string, { key: Buffer; value: Buffer | undefined }>();
  /** The first failed statement: PostgreSQL aborts the transaction, so nothing after it can count. */
  failure: unknown;

  constructor(
    private client: pg.PoolClient,
    private readOnly: boolean,
  ) {}

  // The driver queues statements of one connection in call order, so fn may also issue reads concurrently.
  private async query(config: pg.QueryConfig): Promise<pg.QueryResult> {
    if (this.failure !== undefined) throw this.failure;
    try {
      return await this.client.query(config);
    } catch (err) {
      if (this.failure === undefined) this.failure = err;
      throw err;
    }
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const mine = this.pending.get(key.toString('hex'));
    if (mine) return mine.value && Buffer.from(mine.value);
    const r = await this.query({ name: 'kura_meta_get', text: 'SELECT v FROM kura_meta WHERE k = $1', values: [key] });
    return r.rows.length ? (r.rows[0].v as Buffer) : undefined;
  }

  async scan(opts: ScanOptions): Promise<Entry[]> {
    if (opts.limit !== undefined && opts.limit <= 0) return [];
    if (Buffer.compare(opts.start, opts.end) >= 0) return [];
    await this.flush();
    const order = opts.reverse ? 'DESC' : 'ASC';
    const r =
      opts.limit === undefined
        ? await this.query({
            name: `kura_meta_scan_${order}`,
            text: `SELECT k, v FROM kura_meta WHERE k >= $1 AND k < $2 ORDER BY k ${order}`,
            values: [opts.start, opts.end],
          })
        : await this.query({
            name: `kura_meta_scan_${order}_limit`,
            text: `SELECT k, v FROM kura_meta WHERE k >= $1 AND k < $2 ORDER BY k ${order} LIMIT $3`,
            values: [opts.start, opts.end, opts.limit],
          });
    return r.rows.map((row) => ({ key: row.k as Buffer, value: row.v as Buffer }));
  }

  put(key: Buffer, value: Buffer): void {
    if (this.readOnly) throw new Error('metadata transaction is read-only');
    // Copies: the caller may reuse its buffers before the flush.
    this.pending.set(key.toString('hex'), { key: Buffer.from(key), value: Buffer.from(value) });
  }

  delete(key: Buffer): void {
    if (this.readOnly) throw new Error('metadata transaction is read-only');
    this.pending.set(key.toString('hex'), { key: Buffer.from(key), value: undefined });
  }

  /** Sends the buffered writes: one DELETE for the deletes, INSERT … ON CONFLICT batches for the puts. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const entries = [...this.pending.values()];
    this.pending.clear();
    const deletes = entries.filter((e) => e.value === undefined).map((e) => e.key);
    const puts = entries.filter((e): e is { key: Buffer; value: Buffer } => e.value !== undefined);
    // Keys are distinct (one map entry per key), so the order of the two statements does not matter and no
    // upsert touches a row twice.
    // All statements are queued at once (no await between them): a read issued meanwhile queues after them.
    const sent: Promise<unknown>[] = [];
    if (deletes.length) {
      sent.push(this.query({ name: 'kura_meta_delete', text: 'DELETE FROM kura_meta WHERE k = ANY($1::BYTEA[])', values: [deletes] }));
    }
    for (let i = 0; i < puts.length; i += FLUSH_ROWS) {
      const batch = puts.slice(i, i + FLUSH_ROWS);
      const values: Buffer[] = [];
      const rows = batch.map((e, j) => {
        values.push(e.key, e.value);
        return `($${2 * j + 1}, $${2 * j + 2})`;
      });
      sent.push(
        this.query({
          text: `INSERT INTO kura_meta (k, v) VALUES ${rows.join(', ')} ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
          values,
        }),
      );
    }
    await Promise.all(sent);
  }
}

export class PgMetaStore implements MetaStore {
  readonly engine = 'postgres';
  private closed = false;
  private readonly maxAttempts: number;

  private constructor(
    private pool: pg.Pool,
    opts: PgMetaStoreOptions,
  ) {
    this.maxAttempts = opts.maxAttempts ?? 40;
  }

  /** Connects, creates the tables if missing, and checks the schema version. */
  static async open(opts: PgMetaStoreOptions): Promise<PgMetaStore> {
    const config: pg.PoolConfig = {
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      application_name: opts.applicationName ?? 'kura',
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      // TCP keepalive: a connection to a database that vanished (failover, cut network) errors instead of hanging.
      keepAlive: true,
    };
    if (opts.ssl !== undefined) config.ssl = opts.ssl;
    const pool = new pg.Pool(config);
    // Without a listener an idle connection's error (database restart) would crash the process.
    pool.on('error', (err) => opts.onIdleError?.(err));
    const store = new PgMetaStore(pool, opts);
    try {
      await store.ensureSchema();
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
    return store;
  }

  private async ensureSchema(): Promise<void> {
    // Several nodes may start at once: concurrent CREATE TABLE IF NOT EXISTS can still collide in
    // PostgreSQL's catalog (23505 on pg_type, 42P07 duplicate table, 42710 duplicate type), so the whole step
    // is retried like a conflicting transaction.
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        const server = String((await client.query('SELECT version() AS v')).rows[0]?.v ?? '');
        await client.query(metaTableDDL(server));
        await client.query('CREATE TABLE IF NOT EXISTS kura_schema (id INT PRIMARY KEY, version INT NOT NULL)');
        await client.query('INSERT INTO kura_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [PG_SCHEMA_VERSION]);
        const r = await client.query('SELECT version FROM kura_schema WHERE id = 1');
        const version = Number(r.rows[0]?.version);
        if (version !== PG_SCHEMA_VERSION) {
          throw new Error(`metadata database schema version ${version} is not the one this Kura uses (${PG_SCHEMA_VERSION})`);
        }
        client.release();
        return;
      } catch (err) {
        client.release();
        const code = sqlState(err);
        if (attempt < 10 && (SCHEMA_RACE.has(code!) || isRetryable(err))) {
          await sleep(10 + Math.random() * 40);
          continue;
        }
        throw err;
      }
    }
  }

  read<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    // CockroachDB may ask even a read-only transaction to restart (40001); PostgreSQL's snapshot reads never do.
    return this.run('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', true, fn);
  }

  write<T>(fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    return this.run('BEGIN ISOLATION LEVEL SERIALIZABLE', false, fn);
  }

  private async run<T>(begin: string, readOnly: boolean, fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error('metadata store is closed');
      const client = await this.pool.connect();
      // Set when the connection's state is unknown (a failed ROLLBACK, a lost COMMIT): the pool then closes
      // it instead of handing it to the next transaction.
      let broken: Error | undefined;
      try {
        await this.control(client, begin, (e) => {
          broken = e;
        });
        const tx = new PgTx(client, readOnly);
        let result: T;
        try {
          result = await fn(tx);
          // fn may have caught a failed statement's error: the transaction is aborted all the same.
          if (tx.failure !== undefined) throw tx.failure;
          await tx.flush();
        } catch (err) {
          await client.query('ROLLBACK').catch((e: Error) => {
            broken = e;
          });
          throw err;
        }
        const done = await this.control(client, 'COMMIT', (e) => {
          broken = e;
        });
        // COMMIT of a transaction that failed answers ROLLBACK rather than an error (tx.failure should have
        // caught that first; this is the last guard against reporting a rolled-back write as done).
        if (done.command !== 'COMMIT') throw new Error(`metadata transaction not committed: the database answered ${done.command}`);
        return result;
      } catch (err) {
        // Only a serialization failure or deadlock is retried: a lost connection at COMMIT leaves the outcome
        // unknown, so it is the caller's error, not a silent second run.
        if (!isRetryable(err)) throw err;
        if (attempt >= this.maxAttempts) throw new MetaConflictError();
        // Full jitter over an exponential window (2 ms … 256 ms): contenders spread out instead of colliding again.
        await sleep(Math.random() * Math.min(256, 2 ** attempt));
      } finally {
        client.release(broken);
      }
    }
  }

  /** BEGIN / COMMIT: an error without a SQLSTATE is the connection's, not the transaction's. */
  private async control(client: pg.PoolClient, sql: string, onBroken: (e: Error) => void): Promise<pg.QueryResult> {
    try {
      return await client.query(sql);
    } catch (err) {
      if (sqlState(err) === undefined) onBroken(err as Error);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
