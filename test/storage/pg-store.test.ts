// The PostgreSQL metadata engine against a real PostgreSQL (Debian's binaries, started here in a temp dir):
// the MetaStore conformance suite, then what only a shared database adds — two stores (two pools, as two
// Kura nodes would have) on one database, schema creation racing, conflict exhaustion.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { PgMetaStore, PG_SCHEMA_VERSION, metaTableDDL } from '../../src/storage/meta/pg-store.ts';
import { MetaConflictError } from '../../src/storage/meta/meta-store.ts';
import { metaStoreConformance, keySpace, barrier, increment } from './meta-conformance.ts';

let server: PostgresServer;
let url: string;
before(async () => {
  server = await startPostgres();
  url = await server.createDatabase();
});
after(async () => {
  await server?.stop();
});

metaStoreConformance('postgres', () => PgMetaStore.open({ url, poolSize: 8 }));

describe('PgMetaStore: two stores on one database (two nodes)', () => {
  let a: PgMetaStore;
  let b: PgMetaStore;
  before(async () => {
    [a, b] = await Promise.all([PgMetaStore.open({ url, poolSize: 6 }), PgMetaStore.open({ url, poolSize: 6 })]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  test('a write committed on one is read on the other at once', async () => {
    const ks = keySpace();
    for (let i = 0; i < 20; i++) {
      await a.write(async (tx) => {
        tx.put(ks.key('k'), Buffer.from(`v${i}`));
      });
      assert.equal((await b.read((tx) => tx.get(ks.key('k'))))?.toString(), `v${i}`);
      assert.equal((await b.read((tx) => tx.scan(ks))).length, 1);
    }
  });

  test('both increment one counter concurrently: it ends at exactly the number of increments', async () => {
    const ks = keySpace();
    const per = 12;
    const runs = [a, b].flatMap((s) => Array.from({ length: per }, () => increment(s, ks.key('counter'))));
    const results = await Promise.all(runs);
    assert.equal((await a.read((tx) => tx.get(ks.key('counter'))))?.readUInt32BE(), 2 * per);
    assert.deepEqual(
      results.sort((x, y) => x - y),
      Array.from({ length: 2 * per }, (_, i) => i + 1),
    );
  });

  test('check-then-insert from both: only one inserts', async () => {
    const ks = keySpace();
    const bothRead = barrier(2);
    const claim = (s: PgMetaStore, who: string) =>
      s.write(async (tx) => {
        const existing = await tx.scan(ks);
        await bothRead();
        if (existing.length) return false;
        tx.put(ks.key(who), Buffer.from(who));
        return true;
      });
    const won = await Promise.all([claim(a, 'a'), claim(b, 'b')]);
    assert.equal(won.filter(Boolean).length, 1);
    assert.equal((await b.read((tx) => tx.scan(ks))).length, 1);
  });
});

describe('PgMetaStore: schema and failure paths', () => {
  test('several stores opening a fresh database at once all get the one schema', async () => {
    const fresh = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgMetaStore.open({ url: fresh, poolSize: 2 })));
    await Promise.all(stores.map((s) => s.close()));
    const c = new pg.Client({ connectionString: fresh });
    await c.connect();
    try {
      const r = await c.query('SELECT id, version FROM kura_schema');
      assert.deepEqual(r.rows, [{ id: 1, version: PG_SCHEMA_VERSION }]);
      // A database from a newer Kura is refused rather than misread.
      await c.query('UPDATE kura_schema SET version = $1', [PG_SCHEMA_VERSION + 1]);
    } finally {
      await c.end();
    }
    await assert.rejects(PgMetaStore.open({ url: fresh }), /schema version/);
  });

  test('retries exhausted under contention: MetaConflictError, and the loser wrote nothing', async () => {
    const s = await PgMetaStore.open({ url, poolSize: 4, maxAttempts: 1 });
    try {
      const ks = keySpace();
      const bothRead = barrier(2);
      const claim = (who: string) =>
        s.write(async (tx) => {
          const existing = await tx.scan(ks);
          await bothRead();
          if (!existing.length) tx.put(ks.key(who), Buffer.from(who));
        });
      const outcomes = await Promise.allSettled([claim('one'), claim('two')]);
      const rejected = outcomes.filter((o) => o.status === 'rejected');
      assert.equal(rejected.length, 1, 'one of the two conflicting transactions cannot commit');
      assert.ok((rejected[0] as PromiseRejectedResult).reason instanceof MetaConflictError);
      assert.equal((await s.read((tx) => tx.scan(ks))).length, 1);
    } finally {
      await s.close();
    }
  });

  test('fn swallowing a failed statement does not commit a partial transaction', async () => {
    const s = await PgMetaStore.open({ url, poolSize: 2 });
    try {
      const ks = keySpace();
      await assert.rejects(
        s.write(async (tx) => {
          tx.put(ks.key('a'), Buffer.from('a'));
          await tx.scan(ks); // sends the put
          // A scan with an invalid LIMIT fails in the database; fn ignores the error and returns normally.
          await tx.scan({ ...ks, limit: 1.5 }).catch(() => {});
        }),
        (err: { code?: string }) => err.code === '22P02',
        "the failed statement's own error",
      );
      assert.equal((await s.read((tx) => tx.scan(ks))).length, 0);
    } finally {
      await s.close();
    }
  });

  test('the database holds key bytes in clear and values exactly as given (what an operator sees)', async () => {
    const s = await PgMetaStore.open({ url, poolSize: 1 });
    const ks = keySpace();
    await s.write(async (tx) => {
      tx.put(ks.key('bucket/secret-name.txt'), Buffer.from([1, 2, 3]));
    });
    await s.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query('SELECT v FROM kura_meta WHERE position($1::bytea in k) > 0', [Buffer.from('bucket/secret-name.txt')]);
      assert.deepEqual(
        r.rows.map((row) => [...row.v]),
        [[1, 2, 3]],
      );
    } finally {
      await c.end();
    }
  });

  test('the key column is range-ordered on YugabyteDB too (ASC, not its default hash sharding)', () => {
    assert.match(metaTableDDL('PostgreSQL 11.2-YB-2.20.1.0-b0 on x86_64-pc-linux-gnu'), /PRIMARY KEY \(k ASC\)/);
    assert.match(metaTableDDL('PostgreSQL 15.18 (Debian 15.18-0+deb12u1)'), /PRIMARY KEY \(k\)/);
    assert.match(metaTableDDL('CockroachDB CCL v23.2.0 (x86_64-pc-linux-gnu)'), /PRIMARY KEY \(k\)/);
  });

  test('an unreachable database fails open() instead of hanging', async () => {
    const closedPort = server.port === 1 ? 2 : 1; // nothing listens on a privileged port here
    await assert.rejects(
      PgMetaStore.open({ url: `postgres://kura@127.0.0.1:${closedPort}/x`, connectTimeoutMs: 2000 }),
      /ECONNREFUSED|timeout/,
    );
  });

  test('a closed store refuses transactions', async () => {
    const s = await PgMetaStore.open({ url, poolSize: 1 });
    await s.close();
    await assert.rejects(
      s.read(async () => 1),
      /closed/,
    );
  });
});
