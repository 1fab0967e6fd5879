// Running the stock S3 clients (Debian's AWS CLI v2, python3-boto3, s3cmd, curl) against a test server.
// They are called by absolute path so a pyenv/pip copy earlier on PATH cannot stand in for them, and with
// an environment of their own (empty config files, a temp HOME) so the machine's settings do not leak in:
// only the endpoint (and, over HTTPS, the CA bundle) differs from what a user would run against AWS.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KuraServer } from '../helpers/server.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

export const AWS = '/usr/bin/aws';
export const PYTHON = '/usr/bin/python3';
export const S3CMD = '/usr/bin/s3cmd';
export const CURL = '/usr/bin/curl';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (asynchronously, so other tests keep going); never rejects on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; input?: string | Buffer; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A one-line description of a run for assertion messages. */
export function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

/**
 * AWS CLI command lines run by one long-lived python (aws_runner.py): the same CLI code as /usr/bin/aws with
 * a fresh driver, environment and working directory per command, without paying Python's start-up and
 * the CLI's imports each time. Commands run one after the other, in the order given.
 */
class AwsRunner {
  private child: ChildProcessWithoutNullStreams | undefined;
  private waiting: ((r: RunResult) => void)[] = [];
  private buf = '';

  run(args: string[], env: Record<string, string>, cwd: string): Promise<RunResult> {
    if (!this.child) {
      const child = spawn(PYTHON, [join(HERE, 'aws_runner.py')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        this.buf += d;
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, nl);
          this.buf = this.buf.slice(nl + 1);
          this.waiting.shift()?.(JSON.parse(line) as RunResult);
        }
      });
      child.on('close', (code) => {
        // The runner itself died: fail whatever was still waiting, visibly.
        for (const w of this.waiting.splice(0)) w({ code: null, stdout: '', stderr: `aws_runner.py exited with ${code}\n${stderr}` });
        this.child = undefined;
      });
      this.child = child;
    }
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child!.stdin.write(`${JSON.stringify({ args, env, cwd })}\n`);
    });
  }

  close(): void {
    this.child?.stdin.end();
  }
}

export interface ToolBox {
  /** Scratch directory (also HOME for the tools); removed by cleanup(). */
  dir: string;
  env: Record<string, string>;
  endpoint: string;
  https: boolean;
  /** `aws --endpoint-url <endpoint> ...args`, through the in-process runner (see AwsRunner). */
  aws(...args: string[]): Promise<RunResult>;
  /** The same as a process of its own: /usr/bin/aws itself. */
  awsProcess(...args: string[]): Promise<RunResult>;
  /** /usr/bin/aws with `input` on its stdin. */
  awsWithInput(input: Buffer, ...args: string[]): Promise<RunResult>;
  /** `aws ... --output json` that must succeed; parsed stdout ({} when empty). */
  awsJson(...args: string[]): Promise<any>;
  curl(...args: string[]): Promise<RunResult>;
  cleanup(): Promise<void>;
}

export async function toolBox(srv: KuraServer, https: boolean): Promise<ToolBox> {
  const dir = await mkdtemp(join(tmpdir(), `kura-tools-${https ? 'https' : 'http'}-`));
  const config = join(dir, 'aws-config');
  const credentials = join(dir, 'aws-credentials');
  await writeFile(config, '');
  await writeFile(credentials, '');
  const base = srv.env({ https });
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    HOME: dir,
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    AWS_ACCESS_KEY_ID: base.AWS_ACCESS_KEY_ID!,
    AWS_SECRET_ACCESS_KEY: base.AWS_SECRET_ACCESS_KEY!,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...(https ? { AWS_CA_BUNDLE: srv.caPath } : {}),
  };
  const endpoint = https ? srv.httpsEndpoint : srv.endpoint;
  const runner = new AwsRunner();
  const box: ToolBox = {
    dir,
    env,
    endpoint,
    https,
    aws: (...args) => runner.run(['--endpoint-url', endpoint, ...args], { ...env }, dir),
    awsProcess: (...args) => run(AWS, ['--endpoint-url', endpoint, ...args], { env, cwd: dir }),
    awsWithInput: (input, ...args) => run(AWS, ['--endpoint-url', endpoint, ...args], { env, cwd: dir, input }),
    async awsJson(...args) {
      const r = await box.aws(...args, '--output', 'json');
      if (r.code !== 0) throw new Error(`aws ${args.join(' ')} failed: ${show(r)}`);
      return r.stdout.trim() ? JSON.parse(r.stdout) : {};
    },
    curl: (...args) => run(CURL, ['-sS', ...(https ? ['--cacert', srv.caPath] : []), ...args], { env, cwd: dir }),
    async cleanup() {
      runner.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return box;
}

/** Writes `size` random bytes to `path` in 1 MiB pieces; returns the SHA-256 (hex). */
export async function randomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0;) {
    const piece = randomBytes(Math.min(left, 1 << 20));
    hash.update(piece);
    if (!out.write(piece)) await once(out, 'drain');
    left -= piece.length;
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of createReadStream(path)) hash.update(c as Buffer);
  return hash.digest('hex');
}

/**
 * Number of `request` log lines of the server for operation `op` (on `bucket`) so far. The server logs a
 * request when it has answered it, and the line reaches us through a pipe: a client can exit before it
 * arrives, so use settledCount() and requestsAfter() around a client run.
 */
export function countRequests(srv: KuraServer, op: string, bucket?: string): number {
  let n = 0;
  for (const line of srv.stdout) {
    if (!line.includes('"msg":"request"')) continue;
    try {
      const j = JSON.parse(line) as { op?: string; bucket?: string };
      if (j.op === op && (bucket === undefined || j.bucket === bucket)) n++;
    } catch {
      /* not JSON */
    }
  }
  return n;
}

/**
 * Returns once every request the server answered before this call is in srv.stdout: sends a request of
 * its own (anonymous, refused) and waits for the log line with its request id, which comes after theirs.
 */
export async function logBarrier(srv: KuraServer): Promise<void> {
  const res = await fetch(`${srv.endpoint}/log-barrier`);
  await res.arrayBuffer();
  const id = res.headers.get('x-amz-request-id');
  if (!id) throw new Error('no x-amz-request-id on the barrier request');
  const mark = `"reqId":"${id}"`;
  const deadline = Date.now() + 10_000;
  while (!srv.stdout.some((l) => l.includes(mark))) {
    if (Date.now() > deadline) throw new Error('the server never logged the barrier request');
    await sleep(10);
  }
}

/** countRequests() once the log lines of the requests already answered have arrived. */
export async function settledCount(srv: KuraServer, op: string, bucket: string): Promise<number> {
  await logBarrier(srv);
  return countRequests(srv, op, bucket);
}

/** The number of `op` requests (on `bucket`) logged since `before`, a settledCount() value. */
export async function requestsAfter(srv: KuraServer, op: string, bucket: string, before: number): Promise<number> {
  await logBarrier(srv);
  return countRequests(srv, op, bucket) - before;
}
