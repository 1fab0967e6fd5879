// `npm run bench -- --scale N`: Kura with one bucket of N keys, as a user grows into it.
//
//   npm run bench -- --scale 100000                  # embedded engine (LMDB + blob files)
//   npm run bench -- --scale 1000000 --fill direct   # (default) the fill writes rows through the MetaStore
//   npm run bench -- --scale 20000 --fill api        # the fill goes through the S3 API (slow: one PUT per key)
//   npm run bench -- --scale 10000 --meta pg         # PostgreSQL + S3 gateway, one and two Kura nodes
//   options: --put-count (4 KiB PUTs per round, default 3000), --concurrency (in flight, default 32),
//            --rounds (PUT rounds, Kura and s3rver alternating; the median is reported, default 3),
//            --list-pages (default 200), --heads (default 2000), --out FILE,
//            --data DIR (embedded: keep the filled store in DIR/data, with its root key in DIR/bench-env.json, and
//            reuse it on the next run with the same --scale instead of filling again: one fill, many measurements)
//
// Embedded: fill, restart, then: server RSS (RssAnon = the process's own memory, RssFile = pages of the
// LMDB map and of code: the OS can drop them), time from the restart to the first ListObjectsV2 page,
// p50/p99 of ListObjectsV2 pages of 1,000 keys at random start-after points (through the SDK, and as raw
// presigned HTTP GETs whose body is read but not parsed: the server's part), HEAD p50/p99 (one request at
// a time), and 4 KiB PUT ops/s through the S3 API at --concurrency in flight against s3rver 3.7 (npm; it
// neither encrypts nor fsyncs) run alternately in the same run.
// The direct fill (to save time at a million keys) writes each key's rows — sealed copies of one real
// object's record, differing in key — through the core's MetaStore in large transactions, with the
// server stopped; every measurement after it goes through the S3 API. Filled keys share the template
// object's blob: HEAD and LIST them, never GET or DELETE them.
//
// --meta pg: PostgreSQL (test/helpers/postgres.ts, fsync=off) + an upstream Kura as the S3 store, Kura
// nodes started with `--meta <url> --backend s3`; 4 KiB GET and PUT ops/s with one node and with two
// (requests spread over both) and server CPU seconds per 1,000 requests. Needs `kura server --meta`; a
// server without it is reported as such, no figures.
//
// Results: a table on stdout, JSON in bench/results/scale-latest.json and a dated copy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { get as httpGet } from 'node:http';
import type { ObjectRecord } from '../src/storage/backend.ts';
import { CoreBackend, latestRowOf, newVersionOrder } from '../src/storage/core-backend.ts';
import { keys } from '../src/storage/meta/keys.ts';
import { RecordSealer } from '../src/storage/meta/records.ts';
import { openBackend } from '../src/storage/open-backend.ts';
import { startKura, type KuraServer } from '../test/helpers/server.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    scale: { type: 'string', default: '100000' },
    fill: { type: 'string', default: 'direct' },
    meta: { type: 'string', default: 'embedded' },
    'put-count': { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    'list-pages': { type: 'string', default: '200' },
    heads: { type: 'string', default: '2000' },
    out: { type: 'string' },
    data: { type: 'string' },
  },
});
const N = Number(opts.scale);
const PUT_COUNT = Number(opts['put-count']);
const CONCURRENCY = Number(opts.concurrency);
const ROUNDS = Math.max(1, Number(opts.rounds));
const BUCKET = 'scale';
const MiB = 1024 * 1024;
const BODY = randomBytes(4096);
if (!(N > 0)) throw new Error('--scale N: the number of keys');
if (!['direct', 'api'].includes(opts.fill!)) throw new Error('--fill direct|api');
if (!['embedded', 'pg'].includes(opts.meta!)) throw new Error('--meta embedded|pg');

const keyName = (i: number) => `data/${String(i).padStart(10, '0')}.bin`;

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const CLOCK_TICKS = 100;
function cpuSecs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

async function memory(pid: number): Promise<{ rss: number; rssAnon: number; rssFile: number; peakRss: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') + kb('RssShmem'), peakRss: kb('VmHWM') };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
}

function clientFor(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...credentials },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
}

/** 4 KiB PUTs at CONCURRENCY in flight: ops/s and the server's CPU seconds per 1,000 PUTs. */
async function putRate(s3: S3Client[], pids: number[], tag: string, count = PUT_COUNT): Promise<{ opsPerSec: number; cpuPer1000: number }> {
  const c0 = pids.reduce((n, p) => n + cpuSecs(p), 0);
  const t0 = performance.now();
  await pool(count, CONCURRENCY, (i) =>
    s3[i % s3.length]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${tag}/${i}`, Body: BODY })).then(() => {}),
  );
  const secs = (performance.now() - t0) / 1000;
  return { opsPerSec: count / secs, cpuPer1000: ((pids.reduce((n, p) => n + cpuSecs(p), 0) - c0) * 1000) / count };
}

/** s3rver 3.7 in a process of its own (bench/s3rver-child.mjs). */
async function startS3rver(): Promise<{ client: S3Client; pid: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kura-s3rver-'));
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bench', 's3rver-child.mjs'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
    child.stdout!.once('data', (d) => resolve((JSON.parse(String(d)) as { port: number }).port));
  });
  const client = clientFor(`http://127.0.0.1:${port}`, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => {});
  return {
    client,
    pid: child.pid!,
    async stop() {
      client.destroy();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes keys [from, to) as sealed copies of the template's record, straight through the MetaStore (server stopped). */
async function fillDirect(
  dataDir: string,
  rootKey: Buffer,
  template: ObjectRecord,
  from: number,
  to: number,
  progress: (n: number) => void,
): Promise<void> {
  const backend = (await openBackend({ dataDir }, rootKey)) as CoreBackend;
  const sealer = new RecordSealer(rootKey);
  const seal = (rowKey: Buffer, v: unknown) => sealer.seal(rowKey, v);
  const BATCH = 5000;
  try {
    for (let i = from; i < to; i += BATCH) {
      const end = Math.min(to, i + BATCH);
      await backend.metaStore.write(async (tx) => {
        for (let j = i; j < end; j++) {
          const key = keyName(j);
          const order = newVersionOrder();
          const rec: ObjectRecord = { ...template, key, lastModified: new Date().toISOString() };
          const n = keys.nullVersion(BUCKET, key);
          const v = keys.version(BUCKET, key, order);
          const l = keys.latest(BUCKET, key);
          tx.put(n, seal(n, { order: order.toString('hex') }));
          tx.put(v, seal(v, rec));
          tx.put(l, seal(l, latestRowOf(rec)));
        }
      });
      progress(end);
    }
  } finally {
    await backend.close();
  }
}

interface EmbeddedResult {
  keys: number;
  fill: string;
  fillSecs: number;
  startToListeningSecs: number;
  /** A bare `node -e 0` spawned just before the restart: what process start-up alone costs at this load. */
  nodeStartSecs: number;
  restartToFirstListSecs: number;
  firstListSecs: number;
  listPageP50Ms: number;
  listPageP99Ms: number;
  listPageRawP50Ms: number;
  listPageRawP99Ms: number;
  headP50Ms: number;
  headP99Ms: number;
  rssBytes: number;
  rssAnonBytes: number;
  rssFileBytes: number;
  peakRssBytes: number;
  metaDirBytes: number;
  putOpsPerSec: number;
  putServerCpuPer1000: number;
  s3rverPutOpsPerSec: number;
  s3rverPutCpuPer1000: number;
  putRounds: { kura: number; s3rver: number }[];
}

async function dirBytes(dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises');
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }))
    n += e.isDirectory() ? await dirBytes(join(dir, e.name)) : (await stat(join(dir, e.name))).blocks * 512;
  return n;
}

/** --data DIR: a store filled by an earlier run (same --scale) and its environment, or a fresh one to keep. */
async function benchDataDir(): Promise<{ dataDir: string; env: Record<string, string>; filled: boolean; keep: boolean }> {
  const fresh = () => ({
    KURA_ROOT_KEY: randomBytes(32).toString('base64'),
    KURA_ACCESS_KEY_ID: 'AKIDKURASCALEBENCH01',
    KURA_SECRET_ACCESS_KEY: randomBytes(24).toString('base64'),
  });
  if (!opts.data) return { dataDir: await mkdtemp(join(tmpdir(), 'kura-scale-')), env: fresh(), filled: false, keep: false };
  const saved = await readFile(join(opts.data, 'bench-env.json'), 'utf8').then(
    (t) => JSON.parse(t) as { keys: number; env: Record<string, string> },
    () => undefined,
  );
  // The data dir's top-level entries are buckets: the bench's own file stays outside it.
  const dataDir = join(opts.data, 'data');
  if (saved && saved.keys === N) return { dataDir, env: saved.env, filled: true, keep: true };
  await rm(opts.data, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  return { dataDir, env: fresh(), filled: false, keep: true };
}

async function embedded(): Promise<EmbeddedResult> {
  const { dataDir, env, filled, keep } = await benchDataDir();
  const rootKey = Buffer.from(env.KURA_ROOT_KEY!, 'base64');
  let srv: KuraServer | undefined;
  const s3rver = await startS3rver();
  try {
    // 1. A bucket and one real object, the template of the direct fill.
    srv = await startKura({ dataDir, env });
    let s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const t0 = performance.now();
    const progress = (n: number) => process.stdout.write(`\rfill: ${n}/${N} keys, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    if (filled) {
      console.log(`fill: reusing the ${N}-key store in ${dataDir} (filled by an earlier run)`);
    } else if (opts.fill === 'api') {
      await pool(N, CONCURRENCY, async (i) => {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyName(i), Body: BODY }));
        if (i % 1000 === 0) progress(i);
      });
      s3.destroy();
      await srv.stop({ keepData: true });
    } else {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyName(0), Body: BODY }));
      s3.destroy();
      await srv.stop({ keepData: true });
      const backend = (await openBackend({ dataDir }, rootKey)) as CoreBackend;
      const template = await backend.headObject(BUCKET, keyName(0));
      await backend.close();
      await fillDirect(dataDir, rootKey, template, 1, N, progress);
    }
    const fillSecs = (performance.now() - t0) / 1000;
    if (keep && !filled) await writeFile(join(opts.data!, 'bench-env.json'), JSON.stringify({ keys: N, env }), { mode: 0o600 });
    if (!filled)
      console.log(
        `\nfill: ${N} keys in ${fillSecs.toFixed(1)} s (${opts.fill === 'api' ? 'through the S3 API' : 'rows written through the MetaStore directly, server stopped; everything below goes through the S3 API'})`,
      );

    // 2. Restart → first ListObjectsV2 page. Before it: this (client) process's SDK code for ListObjectsV2 is
    // warmed against s3rver, so the first page measures the server; and a bare `node -e 0` is timed, the floor
    // that process start-up alone costs on this machine at this load.
    await s3rver.client.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1000 }));
    const n0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    const nodeStartSecs = (performance.now() - n0) / 1000;
    const r0 = performance.now();
    srv = await startKura({ dataDir, env });
    const listening = performance.now();
    s3 = srv.client();
    const first = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1000 }));
    const firstListed = performance.now();
    if (first.KeyCount !== Math.min(1000, N)) throw new Error(`first page: ${first.KeyCount} keys`);
    console.log(
      `restart: listening after ${((listening - r0) / 1000).toFixed(2)} s (a bare \`node -e 0\` takes ${nodeStartSecs.toFixed(2)} s here now), first ListObjectsV2 page after ${((firstListed - r0) / 1000).toFixed(2)} s (${(firstListed - listening).toFixed(0)} ms after listening)`,
    );

    // 3. List pages at random start-after points, one at a time.
    const pageMs: number[] = [];
    for (let p = 0; p < Number(opts['list-pages']); p++) {
      const StartAfter = keyName(Math.floor(Math.random() * N));
      const t = performance.now();
      const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1000, StartAfter }));
      pageMs.push(performance.now() - t);
      if (!page.Contents?.length && StartAfter < keyName(N - 1)) throw new Error('empty list page');
    }
    pageMs.sort((a, b) => a - b);
    // The same pages as raw HTTP (presigned GET, body read, not parsed): the server's part of a page, without
    // the SDK's XML parsing of 1,000 entries in this (client) process.
    const rawPageMs: number[] = [];
    for (let p = 0; p < Number(opts['list-pages']); p++) {
      const url = await getSignedUrl(
        s3,
        new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1000, StartAfter: keyName(Math.floor(Math.random() * N)) }),
        { expiresIn: 300 },
      );
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        httpGet(url, (res) => {
          if (res.statusCode !== 200) reject(new Error(`raw list page: HTTP ${res.statusCode}`));
          res
            .on('data', () => {})
            .on('end', resolve)
            .on('error', reject);
        }).on('error', reject);
      });
      rawPageMs.push(performance.now() - t);
    }
    rawPageMs.sort((a, b) => a - b);
    // 4. HEAD, one at a time.
    const headMs: number[] = [];
    for (let h = 0; h < Number(opts.heads); h++) {
      const t = performance.now();
      await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: keyName(Math.floor(Math.random() * N)) }));
      headMs.push(performance.now() - t);
    }
    headMs.sort((a, b) => a - b);
    const mem = await memory(srv.process.pid!);
    console.log(
      `list page p50 ${percentile(pageMs, 50).toFixed(1)} ms p99 ${percentile(pageMs, 99).toFixed(1)} ms (raw HTTP, no SDK parsing: p50 ${percentile(rawPageMs, 50).toFixed(1)} p99 ${percentile(rawPageMs, 99).toFixed(1)} ms); HEAD p50 ${percentile(headMs, 50).toFixed(2)} ms p99 ${percentile(headMs, 99).toFixed(2)} ms; ` +
        `RSS ${(mem.rss / MiB).toFixed(0)} MiB (anon ${(mem.rssAnon / MiB).toFixed(0)}, file ${(mem.rssFile / MiB).toFixed(0)})`,
    );

    // 5. 4 KiB PUTs, Kura and s3rver alternately (warm-up first, untimed).
    await putRate([s3], [srv.process.pid!], 'warm', 300);
    await putRate([s3rver.client], [s3rver.pid], 'warm', 300);
    const rounds: { kura: number; s3rver: number; kuraCpu: number; s3rverCpu: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const k = await putRate([s3], [srv.process.pid!], `put${r}`);
      const s = await putRate([s3rver.client], [s3rver.pid], `put${r}`);
      rounds.push({ kura: k.opsPerSec, s3rver: s.opsPerSec, kuraCpu: k.cpuPer1000, s3rverCpu: s.cpuPer1000 });
      console.log(
        `PUT 4 KiB round ${r + 1}/${ROUNDS}: kura ${k.opsPerSec.toFixed(0)}/s (${k.cpuPer1000.toFixed(2)} CPU s/1000), s3rver ${s.opsPerSec.toFixed(0)}/s (${s.cpuPer1000.toFixed(2)} CPU s/1000); load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
    const after = await memory(srv.process.pid!);
    s3.destroy();
    await srv.stop({ keepData: true });
    srv = undefined;
    const metaDirBytes = await dirBytes(join(dataDir, '.kura', 'meta'));
    return {
      keys: N,
      fill: opts.fill === 'api' ? 's3-api' : 'direct-metastore',
      fillSecs,
      startToListeningSecs: (listening - r0) / 1000,
      nodeStartSecs,
      restartToFirstListSecs: (firstListed - r0) / 1000,
      firstListSecs: (firstListed - listening) / 1000,
      listPageP50Ms: percentile(pageMs, 50),
      listPageP99Ms: percentile(pageMs, 99),
      listPageRawP50Ms: percentile(rawPageMs, 50),
      listPageRawP99Ms: percentile(rawPageMs, 99),
      headP50Ms: percentile(headMs, 50),
      headP99Ms: percentile(headMs, 99),
      rssBytes: mem.rss,
      rssAnonBytes: mem.rssAnon,
      rssFileBytes: mem.rssFile,
      peakRssBytes: after.peakRss,
      metaDirBytes,
      putOpsPerSec: median(rounds.map((r) => r.kura)),
      putServerCpuPer1000: median(rounds.map((r) => r.kuraCpu)),
      s3rverPutOpsPerSec: median(rounds.map((r) => r.s3rver)),
      s3rverPutCpuPer1000: median(rounds.map((r) => r.s3rverCpu)),
      putRounds: rounds.map(({ kura, s3rver: s }) => ({ kura, s3rver: s })),
    };
  } finally {
    await srv?.stop();
    await s3rver.stop();
    if (!keep) await rm(dataDir, { recursive: true, force: true });
  }
}

/** Does this checkout's `kura server` take --meta? */
function serverHasMetaFlag(): boolean {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'kura.mjs'), 'server', '--help'], { encoding: 'utf8', cwd: ROOT });
  return /--meta\b/.test(`${r.stdout}${r.stderr}`);
}

interface PgResult {
  status: 'measured' | 'needs --meta';
  note?: string;
  keys?: number;
  nodes?: {
    nodes: number;
    getOpsPerSec: number;
    getServerCpuPer1000: number;
    putOpsPerSec: number;
    putServerCpuPer1000: number;
    upstreamCpuPer1000: number;
    load: number;
  }[];
}

/** PostgreSQL metadata + S3 gateway blobs: one node, then two nodes on one database and one upstream. */
async function postgres(): Promise<PgResult> {
  if (!serverHasMetaFlag()) {
    const note = '`kura server --meta` is not in this checkout: PostgreSQL mode not measured';
    console.log(`--meta pg: needs --meta (${note})`);
    return { status: 'needs --meta', note };
  }
  const { startPostgres } = await import('../test/helpers/postgres.ts');
  const pg = await startPostgres();
  const nodes: KuraServer[] = [];
  let upstream: KuraServer | undefined;
  try {
    const url = await pg.createDatabase();
    upstream = await startKura({ backend: 'fs' });
    const env = {
      KURA_ROOT_KEY: randomBytes(32).toString('base64'),
      KURA_ACCESS_KEY_ID: 'AKIDKURASCALEBENCH01',
      KURA_SECRET_ACCESS_KEY: randomBytes(24).toString('base64'),
    };
    const node = () =>
      startKura({ backend: 's3', upstream, upstreamBucket: 'kura-upstream', upstreamPrefix: 'scale/', env, args: ['--meta', url] });
    nodes.push(await node());
    const clients = [nodes[0]!.client()];
    await clients[0]!.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // The bucket's keys, through the S3 API (the PostgreSQL figures are per-request rates, not listing scale).
    const fillKeys = Math.min(N, 20_000);
    await pool(fillKeys, CONCURRENCY, (i) =>
      clients[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyName(i), Body: BODY })).then(() => {}),
    );
    const out: NonNullable<PgResult['nodes']> = [];
    for (const count of [1, 2]) {
      if (nodes.length < count) {
        nodes.push(await node());
        clients.push(nodes.at(-1)!.client());
      }
      const pids = nodes.map((n) => n.process.pid!);
      // Warm-up, untimed, on every node: a node just started pays its JIT, connection pools (PostgreSQL,
      // upstream) and key caches on its first requests; measured cold, the second node made two look slower.
      await pool(200 * count, CONCURRENCY, async (i) => {
        const res = await clients[i % clients.length]!.send(
          new GetObjectCommand({ Bucket: BUCKET, Key: keyName(Math.floor(Math.random() * fillKeys)) }),
        );
        await res.Body!.transformToByteArray();
      });
      await putRate(clients, pids, `warm${count}`, 200 * count);
      const upstreamPid = upstream.process.pid!;
      const up0 = cpuSecs(upstreamPid);
      let requests = 0;
      const gets: number[] = [];
      const getCpu: number[] = [];
      const puts: number[] = [];
      const putCpu: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const c0 = pids.reduce((n, p) => n + cpuSecs(p), 0);
        const t0 = performance.now();
        await pool(PUT_COUNT, CONCURRENCY, async (i) => {
          const res = await clients[i % clients.length]!.send(
            new GetObjectCommand({ Bucket: BUCKET, Key: keyName(Math.floor(Math.random() * fillKeys)) }),
          );
          await res.Body!.transformToByteArray();
        });
        gets.push(PUT_COUNT / ((performance.now() - t0) / 1000));
        getCpu.push(((pids.reduce((n, p) => n + cpuSecs(p), 0) - c0) * 1000) / PUT_COUNT);
        const p = await putRate(clients, pids, `pg${count}-${r}`);
        puts.push(p.opsPerSec);
        putCpu.push(p.cpuPer1000);
      }
      requests = ROUNDS * 2 * PUT_COUNT;
      const upstreamCpuPer1000 = ((cpuSecs(upstreamPid) - up0) * 1000) / requests;
      const row = {
        nodes: count,
        getOpsPerSec: median(gets),
        getServerCpuPer1000: median(getCpu),
        putOpsPerSec: median(puts),
        putServerCpuPer1000: median(putCpu),
        upstreamCpuPer1000,
        load: loadavg()[0]!,
      };
      console.log(
        `PostgreSQL, ${count} node(s): GET 4 KiB ${row.getOpsPerSec.toFixed(0)}/s (${row.getServerCpuPer1000.toFixed(2)} CPU s/1000), PUT 4 KiB ${row.putOpsPerSec.toFixed(0)}/s (${row.putServerCpuPer1000.toFixed(2)} CPU s/1000); upstream Kura ${upstreamCpuPer1000.toFixed(2)} CPU s/1000 requests (GET and PUT); load ${row.load.toFixed(1)}`,
      );
      out.push(row);
    }
    for (const c of clients) c.destroy();
    return { status: 'measured', keys: fillKeys, nodes: out };
  } finally {
    for (const n of nodes) await n.stop({ keepData: false });
    await upstream?.stop();
    await pg.stop();
  }
}

function markdown(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

console.log(
  `kura bench --scale ${N} (${opts.meta}): ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 / MiB).toFixed(0)} GiB RAM, Node ${process.version}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  scale: N,
  meta: opts.meta,
  concurrency: CONCURRENCY,
  putCount: PUT_COUNT,
  rounds: ROUNDS,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemBytes: totalmem(), node: process.version },
};
if (opts.meta === 'embedded') {
  const r = await embedded();
  report.embedded = r;
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const target = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  console.log(
    `\n${markdown(
      ['embedded engine, ' + `${N} keys`, 'value', 'target'],
      [
        ['fill', `${r.fillSecs.toFixed(0)} s (${r.fill})`, ''],
        [
          'server RSS',
          `${(r.rssBytes / MiB).toFixed(0)} MiB (anon ${(r.rssAnonBytes / MiB).toFixed(0)}, file ${(r.rssFileBytes / MiB).toFixed(0)}); peak ${(r.peakRssBytes / MiB).toFixed(0)} MiB`,
          `< 300 MiB: ${target(r.rssBytes < 300 * MiB)}`,
        ],
        [
          'restart → first ListObjectsV2 page',
          `${r.restartToFirstListSecs.toFixed(2)} s (listening ${r.startToListeningSecs.toFixed(2)} s + page ${(r.firstListSecs * 1000).toFixed(0)} ms; bare node start ${r.nodeStartSecs.toFixed(2)} s)`,
          `< 1 s: ${target(r.restartToFirstListSecs < 1)}`,
        ],
        [
          'ListObjectsV2 page (1,000 keys) p50 / p99',
          `${ms(r.listPageP50Ms)} / ${ms(r.listPageP99Ms)} (SDK)`,
          `p99 < 50 ms: ${target(r.listPageP99Ms < 50)}`,
        ],
        [
          '  the same, raw HTTP (server side)',
          `${ms(r.listPageRawP50Ms)} / ${ms(r.listPageRawP99Ms)}`,
          `p99 < 50 ms: ${target(r.listPageRawP99Ms < 50)}`,
        ],
        ['HEAD p50 / p99', `${r.headP50Ms.toFixed(2)} ms / ${r.headP99Ms.toFixed(2)} ms`, ''],
        [
          `PUT 4 KiB ops/s (${CONCURRENCY} in flight)`,
          `${r.putOpsPerSec.toFixed(0)} vs s3rver ${r.s3rverPutOpsPerSec.toFixed(0)} (${(r.putOpsPerSec / r.s3rverPutOpsPerSec).toFixed(2)}×)`,
          `≥ s3rver: ${target(r.putOpsPerSec >= r.s3rverPutOpsPerSec)}`,
        ],
        ['server CPU s per 1,000 PUTs', `${r.putServerCpuPer1000.toFixed(2)} (s3rver ${r.s3rverPutCpuPer1000.toFixed(2)})`, ''],
        ['metadata files', `${(r.metaDirBytes / MiB).toFixed(0)} MiB`, ''],
      ],
    )}`,
  );
} else {
  report.postgres = await postgres();
}

const dir = join(ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const json = `${JSON.stringify(report, null, 2)}\n`;
const out = opts.out ?? join(dir, `scale-${opts.meta}-latest.json`);
await writeFile(out, json);
if (!opts.out) await writeFile(join(dir, `scale-${opts.meta}-${N}-${String(report.date).slice(0, 19).replace(/:/g, '-')}.json`), json);
console.log(`\nwritten: ${out}`);
