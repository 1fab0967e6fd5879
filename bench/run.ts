// `npm run bench`: throughput and memory of a real `kura server` over loopback, driven by the AWS SDK v3.
//
//   npm run bench                                   # every mode, one 1 GiB object
//   npm run bench -- --size 64MiB --modes plain,sse-c   (or BENCH_SIZE=64MiB BENCH_MODES=plain,sse-c)
//   options: --size, --modes, --small-count (4 KiB objects, default 2000), --concurrency (default 16),
//            --repeat (rounds per mode, default 3; the median is reported), --out FILE,
//            --kms-ops (KMS GenerateDataKey calls timed on their own, default 4000; 0 = skip)
//   npm run bench -- --cse                          # client-side encryption: `kura cp` per CSE format vs `aws s3 cp`
//   npm run bench -- --modes plain,cse-kura --cse-sizes 64MiB   (cse-<format> names select formats; see bench/cse.ts)
//
// Each mode gets a server of its own (all started up front; the data dirs need about 2 × size each). A round
// is: PUT of one large object as a single streamed PutObject, the same through lib-storage's multipart
// Upload, GET of it streamed to nowhere, PUT and GET of many 4 KiB objects with some concurrency; each of
// these steps runs for every mode in turn before the next step (load from elsewhere hits the modes alike).
// The median over the rounds is reported, with each server's peak RSS (VmHWM) and, for the large object,
// the CPU seconds per GiB of the server and of the client (steadier than wall-clock on a busy machine).
// Bodies are generated on the fly (never held whole in memory).
// Results: a table on stdout, JSON in bench/results/latest.json and a dated copy.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startKura } from '../test/helpers/server.ts';
import { CSE_MODE_NAMES, cseTable, cseToolVersions, runCseBench, type CseRun } from './cse.ts';

/** Extra S3 parameters (the SDK turns them into headers) for PUTs, and for GETs where the mode needs them. */
type Params = Record<string, string | boolean>;
interface Mode {
  name: string;
  put?: Params;
  get?: Params;
  serverArgs?: string[];
  serverEnv?: Record<string, string>;
  https?: boolean;
}

const SSEC_KEY = randomBytes(32);
const SSEC: Params = {
  SSECustomerAlgorithm: 'AES256',
  SSECustomerKey: SSEC_KEY.toString('base64'),
  SSECustomerKeyMD5: createHash('md5').update(SSEC_KEY).digest('base64'),
};

// The benchmark-only server switch to store plaintext: a hidden flag that works only with its environment variable.
const PLAINTEXT_BASELINE = { serverArgs: ['--bench-plaintext-baseline'], serverEnv: { KURA_BENCH_PLAINTEXT_BASELINE: '1' } };

// Adding a mode is one line. 'plain' stores plaintext (a benchmark-only server switch): the baseline every ratio is against.
const MODES: Mode[] = [
  { name: 'plain', ...PLAINTEXT_BASELINE }, // unencrypted at rest: the baseline (Kura encrypts everything otherwise)
  { name: 'default', put: {} }, // no SSE headers: SSE-S3, as AWS
  { name: 'sse-s3', put: { ServerSideEncryption: 'AES256' } },
  // SSE-KMS requests must come over TLS (as AWS): compared with sse-s3-https.
  { name: 'sse-s3-https', https: true, put: { ServerSideEncryption: 'AES256' } },
  { name: 'sse-kms', https: true, put: { ServerSideEncryption: 'aws:kms' } },
  { name: 'sse-kms-bk', https: true, put: { ServerSideEncryption: 'aws:kms', BucketKeyEnabled: true } }, // S3 Bucket Key: ~no KMS call per object
  { name: 'sse-c', put: SSEC, get: SSEC, serverArgs: ['--allow-insecure-ssec'] },
  { name: 'plain-https', https: true, ...PLAINTEXT_BASELINE },
];

const MiB = 1024 * 1024;

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size: ${s} (e.g. 1GiB, 64MiB)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  return Math.round(Number(m[1]) * ({ b: 1, k: 1024, m: MiB, g: 1024 * MiB } as Record<string, number>)[unit]!);
}

const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: process.env.BENCH_SIZE ?? '1GiB' },
    modes: { type: 'string', default: process.env.BENCH_MODES ?? MODES.map((m) => m.name).join(',') },
    'small-count': { type: 'string', default: process.env.BENCH_SMALL_COUNT ?? '2000' },
    concurrency: { type: 'string', default: process.env.BENCH_CONCURRENCY ?? '16' },
    repeat: { type: 'string', default: process.env.BENCH_REPEAT ?? '3' },
    out: { type: 'string' },
    'kms-ops': { type: 'string', default: process.env.BENCH_KMS_OPS ?? '4000' },
    cse: { type: 'boolean', default: !!process.env.BENCH_CSE },
    'cse-sizes': { type: 'string', default: process.env.BENCH_CSE_SIZES ?? '256MiB,1GiB' },
    'cse-rounds': { type: 'string', default: process.env.BENCH_CSE_ROUNDS ?? '1' },
  },
});
const SIZE = parseSize(opts.size!);
const GiBs = SIZE / (1024 * MiB); // the large object in GiB, for CPU seconds per GiB
const SMALL_COUNT = Number(opts['small-count']);
const CONCURRENCY = Number(opts.concurrency);
const REPEAT = Math.max(1, Number(opts.repeat));
// `--cse` alone runs only the client-side table; `--modes` may mix server-side modes and cse-<format> names.
const modeNames = (
  opts.cse && !process.argv.some((a) => a === '--modes' || a.startsWith('--modes=')) && !process.env.BENCH_MODES
    ? []
    : opts.modes!.split(',')
).map((n) => n.trim());
const cseFormats = opts.cse ? CSE_MODE_NAMES : modeNames.filter((n) => CSE_MODE_NAMES.includes(n));
const selected = modeNames
  .filter((n) => !CSE_MODE_NAMES.includes(n))
  .map((n) => {
    const mode = MODES.find((m) => m.name === n);
    if (!mode) throw new Error(`unknown mode ${n}; modes: ${[...MODES.map((m) => m.name), ...CSE_MODE_NAMES].join(', ')}`);
    return mode;
  });

/** `size` bytes of incompressible data, produced piece by piece from a 4 MiB random pattern. */
function generated(size: number): Readable {
  const pattern = randomBytes(4 * MiB);
  let sent = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(MiB, size - sent);
      const off = sent % pattern.length;
      this.push(pattern.subarray(off, off + n));
      sent += n;
    },
  });
}

async function drain(body: unknown): Promise<number> {
  let n = 0;
  for await (const c of body as AsyncIterable<Uint8Array>) n += c.length;
  return n;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system, all threads) a process has used so far. */
function processCpuSecs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Wall seconds, and CPU seconds of the server and of this (client) process, for one operation.
 * CPU time barely depends on what else the machine runs, so it shows the cost of encryption even when
 * other jobs make wall-clock figures jump.
 */
async function measured(serverPid: number, fn: () => Promise<void>): Promise<{ secs: number; serverCpu: number; clientCpu: number }> {
  const s0 = processCpuSecs(serverPid);
  const c0 = process.cpuUsage();
  const secs = await timed(fn);
  const c = process.cpuUsage(c0);
  return { secs, serverCpu: processCpuSecs(serverPid) - s0, clientCpu: (c.user + c.system) / 1e6 };
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : NaN;
}

/** AES-256-GCM throughput of one core on 16 KiB blocks (bytes/s), as `openssl speed` measures it. */
function opensslGcmLimit(): number | null {
  try {
    const out = execFileSync('openssl', ['speed', '-evp', 'aes-256-gcm', '-seconds', '1', '-bytes', '16384'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const kb = /^aes-256-gcm\s+([\d.]+)k/im.exec(out)?.[1];
    return kb ? Number(kb) * 1000 : null;
  } catch {
    return null;
  }
}

interface ModeResult {
  mode: string;
  putBytesPerSec: number;
  multipartPutBytesPerSec: number;
  getBytesPerSec: number;
  smallPutOpsPerSec: number;
  smallGetOpsPerSec: number;
  /** CPU seconds per GiB of the large object, server and client process. */
  putServerCpuPerGiB: number;
  putClientCpuPerGiB: number;
  multipartPutServerCpuPerGiB: number;
  multipartPutClientCpuPerGiB: number;
  getServerCpuPerGiB: number;
  getClientCpuPerGiB: number;
  peakRssBytes: number;
}

type Sample = Omit<ModeResult, 'mode' | 'peakRssBytes'>;

/** One mode's server and client, warmed up; run() times one round of every measurement. */
async function openMode(mode: Mode) {
  const srv = await startKura({ args: mode.serverArgs ?? [], env: mode.serverEnv ?? {} });
  try {
    const s3: S3Client = srv.client({ https: mode.https });
    const Bucket = 'bench';
    await s3.send(new CreateBucketCommand({ Bucket }));
    // Warm-up (JIT, connections, key caches), not timed.
    await s3.send(new PutObjectCommand({ Bucket, Key: 'warm', Body: generated(8 * MiB), ContentLength: 8 * MiB, ...mode.put }));
    await drain((await s3.send(new GetObjectCommand({ Bucket, Key: 'warm', ...mode.get }))).Body);
    await pool(
      Array.from({ length: 64 }, (_, i) => `warm/${i}`),
      CONCURRENCY,
      async (Key) => {
        await s3.send(new PutObjectCommand({ Bucket, Key, Body: randomBytes(4096), ...mode.put }));
        await drain((await s3.send(new GetObjectCommand({ Bucket, Key, ...mode.get }))).Body);
      },
    );
    const small = randomBytes(4096);
    const keys = Array.from({ length: SMALL_COUNT }, (_, i) => `small/${String(i).padStart(6, '0')}`);
    const samples: Sample[] = [];

    // One round = these steps in order; the main loop runs each step for every mode before the next step,
    // so the modes' figures for one operation are taken within seconds of each other.
    const pid = srv.process.pid!;
    let current: Partial<Sample> = {};
    const steps: Array<() => Promise<void>> = [
      async () => {
        const put = await measured(pid, async () => {
          await s3.send(new PutObjectCommand({ Bucket, Key: 'large', Body: generated(SIZE), ContentLength: SIZE, ...mode.put }));
        });
        current.putBytesPerSec = SIZE / put.secs;
        current.putServerCpuPerGiB = put.serverCpu / GiBs;
        current.putClientCpuPerGiB = put.clientCpu / GiBs;
      },
      async () => {
        const mpu = await measured(pid, async () => {
          const up = new Upload({
            client: s3,
            params: { Bucket, Key: 'large-mpu', Body: generated(SIZE), ...mode.put },
            partSize: 16 * MiB,
            queueSize: 4,
          });
          await up.done();
        });
        current.multipartPutBytesPerSec = SIZE / mpu.secs;
        current.multipartPutServerCpuPerGiB = mpu.serverCpu / GiBs;
        current.multipartPutClientCpuPerGiB = mpu.clientCpu / GiBs;
      },
      async () => {
        let got = 0;
        const get = await measured(pid, async () => {
          const res = await s3.send(new GetObjectCommand({ Bucket, Key: 'large', ...mode.get }));
          got = await drain(res.Body);
        });
        if (got !== SIZE) throw new Error(`${mode.name}: GET returned ${got} bytes, expected ${SIZE}`);
        current.getBytesPerSec = SIZE / get.secs;
        current.getServerCpuPerGiB = get.serverCpu / GiBs;
        current.getClientCpuPerGiB = get.clientCpu / GiBs;
      },
      async () => {
        current.smallPutOpsPerSec =
          SMALL_COUNT /
          (await timed(() =>
            pool(keys, CONCURRENCY, async (Key) => {
              await s3.send(new PutObjectCommand({ Bucket, Key, Body: small, ...mode.put }));
            }),
          ));
      },
      async () => {
        current.smallGetOpsPerSec =
          SMALL_COUNT /
          (await timed(() =>
            pool(keys, CONCURRENCY, async (Key) => {
              const res = await s3.send(new GetObjectCommand({ Bucket, Key, ...mode.get }));
              if ((await drain(res.Body)) !== small.length) throw new Error(`${mode.name}: short GET of ${Key}`);
            }),
          ));
      },
    ];
    /** Closes the round: its figures become one sample. */
    const endRound = (): Sample => {
      samples.push(current as Sample);
      current = {};
      return samples.at(-1)!;
    };

    const finish = async (): Promise<ModeResult> => {
      const median = (k: keyof Sample) => {
        const v = samples.map((x) => x[k]).sort((a, b) => a - b);
        return v[(v.length - 1) >> 1]!;
      };
      const out = { mode: mode.name } as ModeResult;
      for (const k of Object.keys(samples[0]!) as (keyof Sample)[]) out[k] = median(k);
      out.peakRssBytes = await peakRssBytes(srv.process.pid!);
      return out;
    };

    const close = async () => {
      s3.destroy();
      await srv.stop();
    };
    return { mode, samples, steps, endRound, finish, close };
  } catch (e) {
    await srv.stop();
    throw e;
  }
}

/** GenerateDataKey calls per second against the server's KMS API (each one audited), at the bench concurrency. */
async function benchKmsGenerateDataKey(n: number): Promise<number> {
  const { KMSClient, CreateKeyCommand, GenerateDataKeyCommand } = await import('@aws-sdk/client-kms');
  const { Agent } = await import('node:http');
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const srv = await startKura();
  const kms = new KMSClient({
    endpoint: srv.endpoint,
    region: 'us-east-1',
    credentials: { ...srv.credentials },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) }),
  });
  try {
    const KeyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const ctx = { 'aws:s3:arn': 'arn:aws:s3:::bench/key' };
    await pool(
      Array.from({ length: 200 }, (_, i) => i),
      CONCURRENCY,
      async () => void (await kms.send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256', EncryptionContext: ctx }))),
    );
    const secs = await timed(() =>
      pool(
        Array.from({ length: n }, (_, i) => i),
        CONCURRENCY,
        async () => {
          await kms.send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256', EncryptionContext: ctx }));
        },
      ),
    );
    return n / secs;
  } finally {
    kms.destroy();
    await srv.stop();
  }
}

function fmtSize(n: number): string {
  return n >= 1024 * MiB ? `${+(n / 1024 / MiB).toFixed(2)} GiB` : n >= MiB ? `${+(n / MiB).toFixed(1)} MiB` : `${n} B`;
}

function markdown(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

function table(rows: ModeResult[]): string {
  const base = rows.find((r) => r.mode === 'plain');
  const ratio = (v: number, b: number | undefined) => (base && b ? ` (${(v / b).toFixed(2)}×)` : '');
  const mbs = (v: number) => (v / MiB).toFixed(0);
  const head = [
    'mode',
    `PUT ${fmtSize(SIZE)} MiB/s`,
    'multipart PUT MiB/s',
    `GET MiB/s`,
    'PUT 4 KiB ops/s',
    'GET 4 KiB ops/s',
    'server peak RSS',
  ];
  const body = rows.map((r) => [
    r.mode,
    mbs(r.putBytesPerSec) + ratio(r.putBytesPerSec, base?.putBytesPerSec),
    mbs(r.multipartPutBytesPerSec) + ratio(r.multipartPutBytesPerSec, base?.multipartPutBytesPerSec),
    mbs(r.getBytesPerSec) + ratio(r.getBytesPerSec, base?.getBytesPerSec),
    r.smallPutOpsPerSec.toFixed(0) + ratio(r.smallPutOpsPerSec, base?.smallPutOpsPerSec),
    r.smallGetOpsPerSec.toFixed(0) + ratio(r.smallGetOpsPerSec, base?.smallGetOpsPerSec),
    `${(r.peakRssBytes / MiB).toFixed(0)} MiB`,
  ]);
  return markdown(head, body);
}

/** CPU seconds per GiB of the large PUT, multipart PUT and GET: server + client, and the total's ratio to plain's. */
function cpuTable(rows: ModeResult[]): string {
  const base = rows.find((r) => r.mode === 'plain');
  const cell = (r: ModeResult, server: keyof ModeResult, client: keyof ModeResult) => {
    const total = (x: ModeResult) => (x[server] as number) + (x[client] as number);
    const ratio = base ? ` (${(total(base) / total(r)).toFixed(2)}×)` : '';
    return `${(r[server] as number).toFixed(2)} + ${(r[client] as number).toFixed(2)}${ratio}`;
  };
  const head = ['mode', 'PUT CPU s/GiB server + client', 'multipart PUT CPU s/GiB', 'GET CPU s/GiB'];
  const body = rows.map((r) => [
    r.mode,
    cell(r, 'putServerCpuPerGiB', 'putClientCpuPerGiB'),
    cell(r, 'multipartPutServerCpuPerGiB', 'multipartPutClientCpuPerGiB'),
    cell(r, 'getServerCpuPerGiB', 'getClientCpuPerGiB'),
  ]);
  return markdown(head, body);
}

async function serverSideBench() {
  const gcm = opensslGcmLimit();
  console.log(
    `kura bench: ${fmtSize(SIZE)} object, ${SMALL_COUNT} × 4 KiB objects at concurrency ${CONCURRENCY}, median of ${REPEAT}; ` +
      `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 / MiB).toFixed(0)} GiB RAM, Node ${process.version}`,
  );
  if (gcm) console.log(`cipher limit (openssl speed -evp aes-256-gcm, 16 KiB blocks, one core): ${(gcm / MiB).toFixed(0)} MiB/s`);
  const results: ModeResult[] = [];
  const failures: { mode: string; error: string }[] = [];
  const failed = (mode: Mode, e: unknown) => {
    // A mode the server does not support is reported, not fatal to the others.
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    failures.push({ mode: mode.name, error });
    console.log(`${mode.name} failed (${error.split('\n')[0]})`);
  };
  // Every mode's server runs from the start and each step goes mode after mode, so a burst of load
  // elsewhere on the machine falls on all modes alike rather than on one.
  let open: Awaited<ReturnType<typeof openMode>>[] = [];
  // Interrupted: stop the servers so their data dirs (~2 × size each) are removed.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`\n${signal}: stopping the servers`);
      void Promise.allSettled(open.map((m) => m.close())).then(() => process.exit(130));
    });
  }
  for (const mode of selected) {
    try {
      open.push(await openMode(mode));
    } catch (e) {
      failed(mode, e);
    }
  }
  const STEPS = ['PUT', 'multipart PUT', 'GET', '4 KiB PUTs', '4 KiB GETs'];
  for (let round = 1; round <= REPEAT; round++) {
    for (const [i, step] of STEPS.entries()) {
      process.stdout.write(`round ${round}/${REPEAT} ${step}:`);
      for (const m of [...open]) {
        process.stdout.write(` ${m.mode.name}`);
        try {
          await m.steps[i]!();
        } catch (e) {
          console.log();
          failed(m.mode, e);
          open = open.filter((o) => o !== m);
          await m.close();
        }
      }
      console.log();
    }
    for (const m of open) {
      const s = m.endRound();
      console.log(
        `round ${round}/${REPEAT} ${m.mode.name}: PUT ${(s.putBytesPerSec / MiB).toFixed(0)} MiB/s, multipart ${(s.multipartPutBytesPerSec / MiB).toFixed(0)} MiB/s, ` +
          `GET ${(s.getBytesPerSec / MiB).toFixed(0)} MiB/s, 4 KiB PUT ${s.smallPutOpsPerSec.toFixed(0)}/s GET ${s.smallGetOpsPerSec.toFixed(0)}/s`,
      );
    }
  }
  for (const m of open) {
    results.push(await m.finish());
    await m.close();
  }
  console.log(`\n${table(results)}\n\n${cpuTable(results)}`);
  const ratioTo = (mode: string, base: string, k: 'smallPutOpsPerSec' | 'putBytesPerSec' | 'getBytesPerSec') => {
    const a = results.find((r) => r.mode === mode);
    const b = results.find((r) => r.mode === base);
    return a && b ? (a[k] / b[k]).toFixed(2) : undefined;
  };
  for (const m of ['sse-kms', 'sse-kms-bk']) {
    const put = ratioTo(m, 'sse-s3-https', 'smallPutOpsPerSec');
    if (put)
      console.log(
        `${m} vs sse-s3-https: PUT 4 KiB ops/s ${put}×, PUT ${fmtSize(SIZE)} ${ratioTo(m, 'sse-s3-https', 'putBytesPerSec')}×, GET ${ratioTo(m, 'sse-s3-https', 'getBytesPerSec')}×`,
      );
  }
  const KMS_OPS = Number(opts['kms-ops']);
  const kmsGenerateDataKeyOpsPerSec = KMS_OPS > 0 ? await benchKmsGenerateDataKey(KMS_OPS) : undefined;
  if (kmsGenerateDataKeyOpsPerSec)
    console.log(`KMS GenerateDataKey (client-kms over HTTP, concurrency ${CONCURRENCY}): ${kmsGenerateDataKeyOpsPerSec.toFixed(0)} ops/s`);
  for (const f of failures) console.log(`${f.mode}: failed: ${f.error.split('\n')[0]}`);
  if (!results.some((r) => r.mode === 'plain')) console.log('(no ratios: the plain mode was not run)');

  return {
    date: new Date().toISOString(),
    objectSize: SIZE,
    smallObjectSize: 4096,
    smallCount: SMALL_COUNT,
    concurrency: CONCURRENCY,
    repeat: REPEAT,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemBytes: totalmem(), node: process.version },
    opensslAes256GcmBytesPerSec16KiB: gcm,
    results,
    kmsGenerateDataKeyOpsPerSec,
    failures,
  };
}

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
await mkdir(dir, { recursive: true });

/** Writes a report as `<name>.json` and a dated copy (or to --out). */
async function writeReport(name: string, report: { date: string } & Record<string, unknown>): Promise<void> {
  const json = `${JSON.stringify(report, null, 2)}\n`;
  // Both sections with --out: the client-side report goes beside it as <out>-cse.json.
  const out = opts.out
    ? name === 'latest' || !selected.length
      ? opts.out
      : opts.out.replace(/(\.json)?$/, '-cse.json')
    : join(dir, `${name}.json`);
  await writeFile(out, json);
  if (!opts.out)
    await writeFile(join(dir, `${name === 'latest' ? '' : `${name}-`}${report.date.slice(0, 19).replace(/:/g, '-')}.json`), json);
  console.log(`\nwritten: ${out}`);
}

if (selected.length) {
  const report = await serverSideBench();
  await writeReport('latest', report);
  if (report.failures.length) process.exitCode = 1;
}

if (cseFormats.length) {
  const sizes = opts['cse-sizes']!.split(',')
    .map(parseSize)
    .sort((a, b) => a - b);
  const formats = cseFormats.map((n) => n.slice('cse-'.length));
  const rounds = Math.max(1, Number(opts['cse-rounds']));
  console.log(
    `\nkura bench, client-side encryption: kura cp (${formats.join(', ')}) vs aws s3 cp, ${sizes.map(fmtSize).join(' and ')}, ${rounds === 1 ? 'one run' : `${rounds} rounds`} each, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average before: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  const runs: CseRun[] = await runCseBench({ sizes, formats, rounds, log: (l) => console.log(l) });
  console.log(`\n${cseTable(runs)}`);
  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await writeReport('cse-latest', {
    date: new Date().toISOString(),
    sizes,
    rounds,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemBytes: totalmem(), node: process.version },
    tools: cseToolVersions(),
    runs,
  });
}
