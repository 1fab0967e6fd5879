// The client-side encryption part of `npm run bench` (`--cse`, or `cse-<format>` names in `--modes`):
// `kura cp` upload and download of one file per size with each CSE format, against `aws s3 cp` of the same
// file unencrypted, all on the same `kura server` over loopback, one run each, or `--cse-rounds N` rounds
// (the table then gives medians). The aws baseline runs next to every format: see runCseBench. Every
// transfer is one command line timed wall-clock from spawn to exit (start-up included, as a user sees it),
// under /usr/bin/time for the process's peak RSS. Downloads are checked against the source's SHA-256.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { startKura, type KuraServer } from '../test/helpers/server.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KURA = join(ROOT, 'bin', 'kura.mjs');
const AWS = '/usr/bin/aws';
const TIME = '/usr/bin/time';
const MiB = 1024 * 1024;
// The SDK's Node-version notice is noise in the bench output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** A transfer tool: the command lines that upload `file` to `url` and download `url` to `file`. */
interface CseTool {
  name: string;
  upload(file: string, url: string, endpoint: string): string[];
  download(url: string, file: string, endpoint: string): string[];
}

// Run as users run it: the executable (its shebang sets the Node flags, see bin/kura.mjs).
const kura = (endpoint: string, ...args: string[]) => [KURA, ...args, '--endpoint-url', endpoint, '--quiet'];
/** Upload with the public key only, download with the private key only (as the ABCI guide). */
const cse = (format: string, extra: string[] = []): CseTool => ({
  name: format,
  upload: (file, url, e) => kura(e, 'cp', file, url, '--cse-format', format, '--cse-key', 'public_key.pem', ...extra),
  download: (url, file, e) => kura(e, 'cp', url, file, '--cse-key', 'private_key.pem', ...extra),
});
// AWS CLI v2.9 predates AWS_ENDPOINT_URL: the endpoint goes on the command line.
const aws = (endpoint: string, from: string, to: string) => [AWS, 's3', 'cp', '--only-show-errors', '--endpoint-url', endpoint, from, to];

// The baseline first; adding a format is one line.
export const CSE_TOOLS: CseTool[] = [
  { name: 'aws s3 cp', upload: (f, u, e) => aws(e, f, u), download: (u, f, e) => aws(e, u, f) },
  cse('esdk'),
  cse('s3ec'),
  cse('oss'),
  cse('kura'),
];
export const CSE_MODE_NAMES = CSE_TOOLS.slice(1).map((t) => `cse-${t.name}`);

export interface CseRun {
  tool: string;
  size: number;
  direction: 'upload' | 'download';
  seconds: number;
  bytesPerSec: number;
  peakRssBytes: number;
  /** User + system CPU seconds of the command: its cost, independent of what else the machine was doing. */
  cpuSeconds: number;
  /** 1-minute load average when the command ended (other jobs share the machine). */
  loadAvg: number;
  /** The `aws s3 cp` run just before this one (same size and direction): the ratio's denominator. */
  baselineBytesPerSec?: number;
}

/** Runs one command under /usr/bin/time; wall-clock seconds, the process's peak RSS and CPU time. */
async function measure(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ seconds: number; peakRssBytes: number; cpuSeconds: number }> {
  const rssFile = join(cwd, '.rss');
  const t0 = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%M %U %S', '-o', rssFile, ...argv], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${argv.slice(0, 4).join(' ')}… exited ${code}: ${stderr.trim().split('\n').at(-1)}`);
  const [kb, user, sys] = (await readFile(rssFile, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
  return { seconds, peakRssBytes: kb! * 1024, cpuSeconds: user! + sys! };
}

/** `size` random bytes written to `path` (4 MiB at a time); returns their SHA-256. */
async function makeFile(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < size;) {
      const b = randomBytes(Math.min(4 * MiB, size - done));
      h.update(b);
      await fh.write(b);
      done += b.length;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * Uploads and downloads a file of each size with each selected tool (the baseline always runs), one
 * server for all, `rounds` times over (default once). `log` gets a line per transfer.
 */
export async function runCseBench(o: { sizes: number[]; formats: string[]; rounds?: number; log: (s: string) => void }): Promise<CseRun[]> {
  const tools = CSE_TOOLS.filter((t, i) => i === 0 || o.formats.includes(t.name));
  const dir = await mkdtemp(join(tmpdir(), 'kura-bench-cse-'));
  let srv: KuraServer | undefined;
  const runs: CseRun[] = [];
  try {
    srv = await startKura();
    const s3 = srv.client();
    const Bucket = 'bench-cse';
    await s3.send(new CreateBucketCommand({ Bucket }));
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 3072,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    await writeFile(join(dir, 'public_key.pem'), publicKey, { mode: 0o600 });
    await writeFile(join(dir, 'private_key.pem'), privateKey, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...srv.env(),
      AWS_CONFIG_FILE: join(dir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
      AWS_PAGER: '',
    };
    const src = join(dir, 'src.bin'),
      out = join(dir, 'out.bin');
    // Warm-up (server JIT, page cache of the tools' own files), not recorded.
    await makeFile(src, 16 * MiB);
    for (const t of tools) {
      await measure(t.upload(src, `s3://${Bucket}/warm`, srv.endpoint), dir, env);
      await measure(t.download(`s3://${Bucket}/warm`, out, srv.endpoint), dir, env);
      await rm(out, { force: true });
    }
    // The machine is shared: its load drifts during a run. So each format's transfer follows an `aws s3 cp`
    // of the same file in the same direction, and its ratio is to that neighbouring baseline.
    const [base, ...formats] = tools;
    const transfer = async (t: CseTool, size: number, direction: CseRun['direction'], baseline?: CseRun): Promise<CseRun> => {
      const url = `s3://${Bucket}/obj-${t.name.replace(/\W+/g, '-')}`;
      // Every transfer starts with no dirty pages of the one before (whose write-back would otherwise land on it).
      execFileSync('sync');
      const m = await measure(direction === 'upload' ? t.upload(src, url, srv!.endpoint) : t.download(url, out, srv!.endpoint), dir, env);
      const r: CseRun = {
        tool: t.name,
        size,
        direction,
        seconds: m.seconds,
        bytesPerSec: size / m.seconds,
        peakRssBytes: m.peakRssBytes,
        cpuSeconds: m.cpuSeconds,
        loadAvg: loadavg()[0]!,
        ...(baseline ? { baselineBytesPerSec: baseline.bytesPerSec } : {}),
      };
      runs.push(r);
      o.log(
        `${t.name.padEnd(10)} ${direction.padEnd(8)} ${fmt(size).padStart(8)}: ${(r.bytesPerSec / MiB).toFixed(0).padStart(4)} MiB/s` +
          `${baseline ? ` (${(r.bytesPerSec / baseline.bytesPerSec).toFixed(2)}× aws)` : ''}, CPU ${r.cpuSeconds.toFixed(1)} s, peak RSS ${(r.peakRssBytes / MiB).toFixed(0)} MiB, load ${r.loadAvg.toFixed(1)}`,
      );
      return r;
    };
    const verify = async (t: CseTool, sum: string) => {
      if ((await sha256File(out)) !== sum) throw new Error(`${t.name}: the downloaded file differs from the source`);
      await rm(out, { force: true });
    };
    for (const size of o.sizes) {
      const sum = await makeFile(src, size);
      for (let round = 0; round < (o.rounds ?? 1); round++)
        for (const t of formats.length ? formats : [undefined]) {
          for (const direction of ['upload', 'download'] as const) {
            const b = await transfer(base!, size, direction);
            if (direction === 'download') await verify(base!, sum);
            if (!t) continue;
            await transfer(t, size, direction, b);
            if (direction === 'download') await verify(t, sum);
          }
          if (t) await s3.send(new DeleteObjectCommand({ Bucket, Key: `obj-${t.name.replace(/\W+/g, '-')}` }));
        }
    }
    s3.destroy();
  } finally {
    await srv?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return runs;
}

function fmt(n: number): string {
  return n >= 1024 * MiB ? `${+(n / 1024 / MiB).toFixed(2)} GiB` : `${+(n / MiB).toFixed(1)} MiB`;
}

/** Throughput at the largest size with the ratio to the neighbouring baseline, CPU time, and peak RSS at every size. */
export function cseTable(runs: CseRun[]): string {
  const sizes = [...new Set(runs.map((r) => r.size))].sort((a, b) => a - b);
  const big = sizes.at(-1)!;
  const tools = [...new Set(runs.map((r) => r.tool))];
  const base = tools[0]!;
  const all = (tool: string, size: number, d: CseRun['direction']) =>
    runs.filter((r) => r.tool === tool && r.size === size && r.direction === d);
  const median = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    return s[(s.length - 1) >> 1]!;
  };
  // The baseline ran once per format: its row shows the median (and the range) of those runs.
  const rate = (tool: string, d: CseRun['direction']) => {
    const rs = all(tool, big, d);
    if (!rs.length) return '-';
    const mbs = (v: number) => (v / MiB).toFixed(0);
    if (tool === base) {
      const v = rs.map((r) => r.bytesPerSec);
      return rs.length > 1 ? `${mbs(median(v))} (${mbs(Math.min(...v))}–${mbs(Math.max(...v))})` : mbs(v[0]!);
    }
    // Several rounds: the medians, and the range of the ratios.
    const ratios = rs.filter((r) => r.baselineBytesPerSec).map((r) => r.bytesPerSec / r.baselineBytesPerSec!);
    const range = ratios.length > 1 ? `, ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` : '';
    return `${mbs(median(rs.map((r) => r.bytesPerSec)))}${ratios.length ? ` (${median(ratios).toFixed(2)}×${range})` : ''}`;
  };
  const cpu = (tool: string, d: CseRun['direction']) => {
    const rs = all(tool, big, d);
    return rs.length ? median(rs.map((r) => r.cpuSeconds)).toFixed(1) : '-';
  };
  const rss = (tool: string, d: CseRun['direction']) =>
    sizes
      .map((s) => {
        const rs = all(tool, s, d);
        return rs.length ? (Math.max(...rs.map((r) => r.peakRssBytes)) / MiB).toFixed(0) : '-';
      })
      .join(' / ');
  const sizeList = sizes.map(fmt).join(' / ');
  const head = [
    'tool / format',
    `upload ${fmt(big)} MiB/s (× aws)`,
    `download ${fmt(big)} MiB/s (× aws)`,
    'CPU s up / down',
    `upload peak RSS MiB (${sizeList})`,
    `download peak RSS MiB (${sizeList})`,
  ];
  const body = tools.map((t) => [
    t === base ? t : `kura cp --cse-format ${t}`,
    rate(t, 'upload'),
    rate(t, 'download'),
    `${cpu(t, 'upload')} / ${cpu(t, 'download')}`,
    rss(t, 'upload'),
    rss(t, 'download'),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** Versions of the tools, for the report. */
export function cseToolVersions(): Record<string, string> {
  const v = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return { aws: v(AWS, ['--version']), node: process.version };
}
