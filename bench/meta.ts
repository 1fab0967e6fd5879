// Micro-benchmark of the PostgreSQL metadata engine through the MetaStore interface (no S3, no sealing):
// put / get / scan transactions per second with one store, and with two stores (two pools on one database,
// as two Kura nodes), plus a contended counter. Measured, not asserted.
//
//   node --import tsx bench/meta.ts                       # starts its own PostgreSQL (test/helpers/postgres.ts)
//   node --import tsx bench/meta.ts --url postgres://…    # or an existing database (tables kura_meta, kura_schema)
//   options: --seconds (per step, default 2), --concurrency (transactions in flight per store, default 16),
//            --pool (connections per store, default 8), --keys (pre-filled keys for get/scan, default 20000),
//            --out FILE (default bench/results/meta-latest.json)
//
// The self-started server runs with fsync=off (a test server): commits cost no disk flush, so the figures are
// the CPU and round-trip cost of the engine, an upper bound for a durable database. The client, both pools
// and PostgreSQL share this machine's cores, so two stores cannot double one's rate here.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PgMetaStore } from '../src/storage/meta/pg-store.ts';
import type { MetaStore } from '../src/storage/meta/meta-store.ts';
import { startPostgres, type PostgresServer } from '../test/helpers/postgres.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    pool: { type: 'string', default: '8' },
    keys: { type: 'string', default: '20000' },
    out: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
const poolSize = Number(args.pool);
const keyCount = Number(args.keys);

// Keys shaped like object keys under one bucket prefix; 200-byte values, about a sealed version record.
const run = randomBytes(4).toString('hex');
const prefix = Buffer.from(`bench/${run}/`);
const keyOf = (i: number) => Buffer.concat([prefix, Buffer.from(`photos/2024/${String(i).padStart(8, '0')}.jpg`)]);
const end = Buffer.concat([prefix.subarray(0, prefix.length - 1), Buffer.from([prefix[prefix.length - 1]! + 1])]);
const value = randomBytes(200);

interface Row {
  op: string;
  stores: number;
  ops: number;
  opsPerSec: number;
  p50ms: number;
  p99ms: number;
  retriesNote?: string;
}

/** Runs `op` from `concurrency` loops per store for `seconds`; ops/s and latency percentiles. */
async function measure(name: string, stores: MetaStore[], op: (s: MetaStore, n: number) => Promise<unknown>): Promise<Row> {
  const lat: number[] = [];
  let n = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    stores.flatMap((s) =>
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t = performance.now();
          await op(s, n++);
          lat.push(performance.now() - t);
        }
      }),
    ),
  );
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => Number((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0).toFixed(2));
  return {
    op: name,
    stores: stores.length,
    ops: lat.length,
    opsPerSec: Math.round(lat.length / elapsed),
    p50ms: pct(0.5),
    p99ms: pct(0.99),
  };
}

async function main() {
  let server: PostgresServer | undefined;
  let url = args.url;
  if (!url) {
    server = await startPostgres();
    url = await server.createDatabase();
  }
  const rows: Row[] = [];
  try {
    const a = await PgMetaStore.open({ url, poolSize });
    const b = await PgMetaStore.open({ url, poolSize });
    // Fill through the interface, 1,000 keys per transaction.
    const tFill = performance.now();
    for (let i = 0; i < keyCount; i += 1000) {
      await a.write(async (tx) => {
        for (let j = i; j < Math.min(keyCount, i + 1000); j++) tx.put(keyOf(j), value);
      });
    }
    console.log(`filled ${keyCount} keys in ${((performance.now() - tFill) / 1000).toFixed(1)} s (1,000 per transaction)`);
    const rand = () => Math.floor(Math.random() * keyCount);
    for (const stores of [[a], [a, b]]) {
      let fresh = 0;
      rows.push(
        await measure('put (new key, 1/tx)', stores, (s) =>
          s.write(async (tx) => {
            tx.put(Buffer.concat([prefix, Buffer.from(`new/${run}/${stores.length}/${fresh++}`)]), value);
          }),
        ),
      );
      rows.push(await measure('get (1/tx)', stores, (s) => s.read((tx) => tx.get(keyOf(rand())))));
      rows.push(
        await measure('read-modify-write (random key)', stores, (s) =>
          s.write(async (tx) => {
            const k = keyOf(rand());
            const v = await tx.get(k);
            tx.put(k, v ?? value);
          }),
        ),
      );
      rows.push(
        await measure('scan 100 (random start)', stores, (s) => s.read((tx) => tx.scan({ start: keyOf(rand()), end, limit: 100 }))),
      );
      const counter = Buffer.concat([prefix, Buffer.from(`counter/${stores.length}`)]);
      rows.push(
        await measure('increment one hot key', stores, (s) =>
          s.write(async (tx) => {
            const v = await tx.get(counter);
            const next = Buffer.alloc(8);
            next.writeBigUInt64BE((v ? v.readBigUInt64BE() : 0n) + 1n);
            tx.put(counter, next);
          }),
        ),
      );
    }
    await Promise.all([a.close(), b.close()]);
  } finally {
    await server?.stop();
  }

  const header = ['op', 'stores', 'ops/s', 'p50 ms', 'p99 ms'];
  const lines = rows.map((r) => [r.op, String(r.stores), String(r.opsPerSec), r.p50ms.toFixed(2), r.p99ms.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]?.length ?? 0)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(
    `\nPostgreSQL metadata engine, ${concurrency} transactions in flight per store, pool ${poolSize}, ${seconds} s per step${server ? ', self-started server (fsync=off)' : ''}`,
  );
  console.log([fmt(header), ...lines.map(fmt)].join('\n'));

  const out = args.out ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'meta-latest.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        engine: 'postgres',
        selfStartedServer: !!server,
        seconds,
        concurrency,
        poolSize,
        keyCount,
        machine: { cpus: cpus().length, loadavg: loadavg() },
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nJSON: ${out}`);
}

await main();
