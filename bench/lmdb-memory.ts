// `node --import tsx bench/lmdb-memory.ts [--rows 300000] [--value 1000] [--rounds 6]`: where the embedded
// engine's memory goes. Fills an LmdbStore (encrypted pages, as the server opens it) in a temp dir, then runs
// rounds of random 1,000-row scans and prints, after each, RssAnon / RssFile (/proc/self/status) next to the
// JS heap, `external` and `arrayBuffers` (process.memoryUsage()). Then closes and reopens the store and scans
// again, to show whether closing gives the decrypted pages back. docs/FORMAT.md "Memory cost of encrypted pages".
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LmdbStore } from '../src/storage/meta/lmdb-store.ts';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '300000' },
    value: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '6' },
  },
});
const ROWS = Number(opts.rows);
const MiB = 1024 * 1024;

function memory(): string {
  const s = readFileSync('/proc/self/status', 'utf8');
  const mib = (k: string) => (Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) / 1024).toFixed(0);
  const m = process.memoryUsage();
  return `RssAnon ${mib('RssAnon')} MiB, RssFile ${mib('RssFile')} MiB | heapUsed ${(m.heapUsed / MiB).toFixed(0)}, external ${(m.external / MiB).toFixed(0)}, arrayBuffers ${(m.arrayBuffers / MiB).toFixed(0)} MiB`;
}

const dir = await mkdtemp(join(tmpdir(), 'kura-lmdb-memory-'));
const rootKey = randomBytes(32);
const rowKey = (i: number) => Buffer.from(`L/bench/data/${String(i).padStart(10, '0')}.bin`);
const end = Buffer.from('L/bench/data/z');
try {
  let store = await LmdbStore.open(dir, rootKey);
  const value = randomBytes(Number(opts.value));
  for (let i = 0; i < ROWS; i += 10_000) {
    await store.write(async (tx) => {
      for (let j = i; j < Math.min(ROWS, i + 10_000); j++) tx.put(rowKey(j), value);
    });
  }
  await store.close();
  store = await LmdbStore.open(dir, rootKey);
  console.log(`${ROWS} rows of ${value.length} B, encrypted pages; after open: ${memory()}`);
  const scans = async (label: string) => {
    for (let r = 1; r <= Number(opts.rounds); r++) {
      for (let i = 0; i < 100; i++)
        await store.read((tx) => tx.scan({ start: rowKey(Math.floor(Math.random() * ROWS)), end, limit: 1000 }));
      console.log(`${label} ${r * 100} random 1,000-row scans: ${memory()}`);
    }
  };
  await scans('');
  await store.close();
  store = await LmdbStore.open(dir, rootKey);
  console.log(`closed and reopened: ${memory()}`);
  await scans('after reopen,');
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
