// Test helper: runs a real `node bin/kura.mjs server` child process on 127.0.0.1 with port 0 and a
// temporary data dir, and hands back what a client needs.
//
//   const srv = await startKura();            // or startKura({ dataDir, env, args })
//   const s3 = srv.client();                  // @aws-sdk/client-s3 over HTTP (srv.client({ https: true }) for TLS)
//   ... srv.endpoint / srv.httpsEndpoint / srv.caPath / srv.credentials / srv.dataDir
//   await srv.stop();                         // SIGTERM, waits for exit 0; removes the data dir unless keepData
//   await srv.kill9();                        // SIGKILL (crash tests); restart with startKura({ dataDir: srv.dataDir })
//
// For other clients (AWS CLI, boto3, s3cmd): srv.env() gives AWS_* variables (AWS_CA_BUNDLE included).
//
// Gateway: startKura({ backend: 's3' }) first starts an upstream Kura (srv.upstream, bucket srv.upstreamBucket),
// then the server under test with `--backend s3` in front of it; stop() stops both. Pass `upstream` to reuse
// one (restarts). KURA_TEST_BACKEND=s3 makes that the default, to run a whole test file against the gateway.
//
// PostgreSQL metadata (scale-out): startKura({ meta: url, backend: 's3', upstream, upstreamBucket, upstreamPrefix })
// runs `--meta URL --backend s3`; several such nodes on one database and one upstream bucket/prefix serve the
// same buckets (give them the same KURA_ROOT_KEY and KURA_ACCESS_KEY_ID/SECRET in env). KURA_TEST_META=postgres
// makes it the default for servers started without an explicit backend: each gets a fresh database on a
// PostgreSQL this test process starts (test/helpers/postgres.ts) and its own upstream; a restart with the same
// data dir gets the same database and upstream back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent as HttpsAgent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import assert from 'node:assert/strict';
import { S3Client, S3ServiceException, type S3ClientConfig } from '@aws-sdk/client-s3';
import { startPostgres, type PostgresServer } from './postgres.ts';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface KuraCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface KuraServer {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** https://localhost:PORT (the certificate names localhost and 127.0.0.1) */
  httpsEndpoint: string;
  /** The server's self-signed certificate (trust anchor for HTTPS clients). */
  caPath: string;
  credentials: KuraCredentials;
  dataDir: string;
  process: ChildProcess;
  /** Every stdout line (pino JSON) and stderr text so far, for assertions and debugging. */
  stdout: string[];
  stderr: () => string;
  /** An S3 client for this server (path-style, us-east-1). */
  client(opts?: { https?: boolean } & Partial<S3ClientConfig>): S3Client;
  /** Environment for CLI tools: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_CA_BUNDLE, AWS_ENDPOINT_URL. */
  env(opts?: { https?: boolean }): Record<string, string>;
  /** SIGTERM and wait; resolves with the exit code. Removes the data dir unless keepData (or it was given). */
  stop(opts?: { keepData?: boolean }): Promise<number | null>;
  /** SIGKILL and wait (data dir kept). */
  kill9(): Promise<void>;
  /** With backend 's3': the upstream store and the upstream bucket holding everything. */
  upstream?: KuraServer;
  upstreamBucket?: string;
  /** With PostgreSQL metadata: the database URL. */
  metaUrl?: string;
}

export interface StartKuraOptions {
  /** Reuse a data dir (restarts); by default a fresh temp dir, removed by stop(). */
  dataDir?: string;
  /** Extra environment (e.g. KURA_ACCESS_KEY_ID / KURA_SECRET_ACCESS_KEY / KURA_ROOT_KEY). */
  env?: Record<string, string>;
  /** Extra `kura server` arguments. */
  args?: string[];
  /** Default 30 s. */
  startTimeoutMs?: number;
  /** 's3': run as a gateway in front of another Kura (default: KURA_TEST_BACKEND, else 'fs'). */
  backend?: 'fs' | 's3';
  /** Gateway: reuse this upstream (not stopped by stop()); by default one is started. */
  upstream?: KuraServer;
  /** Gateway: upstream bucket (created when missing; default 'kura-upstream') and prefix (default 'gw/'). */
  upstreamBucket?: string;
  upstreamPrefix?: string;
  /** A postgres:// URL: metadata in that database (implies the gateway backend). Default: KURA_TEST_META=postgres gives a fresh one. */
  meta?: string;
}

let testPostgres: Promise<PostgresServer> | undefined;
/** Node data dir → its metadata database (KURA_TEST_META=postgres), for restarts. */
const metaDbs = new Map<string, string>();

/** The metadata URL a server gets: explicit, remembered for its data dir, or a fresh database under KURA_TEST_META=postgres. */
async function metaFor(opts: StartKuraOptions): Promise<string | undefined> {
  if (opts.meta) return opts.meta;
  if (opts.backend !== undefined || process.env.KURA_TEST_META !== 'postgres') return undefined;
  const known = opts.dataDir ? metaDbs.get(opts.dataDir) : undefined;
  if (known) return known;
  testPostgres ??= startPostgres();
  return (await testPostgres).createDatabase();
}

/** Gateway data dir → data dir of its upstream, kept while the gateway is down (stop({ keepData }), kill9()) for restarts. */
const stoppedUpstreams = new Map<string, string>();
// Upstream data kept for a restart that never came goes with the test process.
process.once('exit', () => {
  for (const dir of stoppedUpstreams.values()) rmSync(dir, { recursive: true, force: true });
});

async function startGateway(opts: StartKuraOptions, metaUrl?: string): Promise<KuraServer> {
  const remembered = !opts.upstream && opts.dataDir ? stoppedUpstreams.get(opts.dataDir) : undefined;
  if (opts.dataDir) stoppedUpstreams.delete(opts.dataDir);
  const ownUpstream = !opts.upstream;
  const upstream = opts.upstream ?? (await startKura({ backend: 'fs', ...(remembered ? { dataDir: remembered } : {}) }));
  const upstreamBucket = opts.upstreamBucket ?? 'kura-upstream';
  /** Stops an upstream this helper started: its data is kept for a restart of the gateway, or removed. */
  const stopUpstream = async (gatewayDir: string, keep: boolean): Promise<void> => {
    if (!ownUpstream) return;
    await upstream.stop({ keepData: keep });
    if (keep) stoppedUpstreams.set(gatewayDir, upstream.dataDir);
    else if (remembered) await rm(remembered, { recursive: true, force: true });
  };
  try {
    const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
    await upstream
      .client()
      .send(new CreateBucketCommand({ Bucket: upstreamBucket }))
      .catch((e: { name?: string }) => {
        if (e.name !== 'BucketAlreadyOwnedByYou') throw e;
      });
    const { meta: _meta, ...nodeOpts } = opts;
    const gw = await startKura({
      ...nodeOpts,
      backend: 'fs',
      args: [
        '--backend',
        's3',
        '--backend-endpoint',
        upstream.endpoint,
        '--backend-bucket',
        upstreamBucket,
        '--backend-prefix',
        opts.upstreamPrefix ?? 'gw/',
        ...(metaUrl ? ['--meta', metaUrl] : []),
        ...(opts.args ?? []),
      ],
      env: {
        KURA_BACKEND_ACCESS_KEY_ID: upstream.credentials.accessKeyId,
        KURA_BACKEND_SECRET_ACCESS_KEY: upstream.credentials.secretAccessKey,
        ...opts.env,
      },
    });
    if (metaUrl) metaDbs.set(gw.dataDir, metaUrl);
    const stopGateway = gw.stop.bind(gw);
    const kill9 = gw.kill9.bind(gw);
    // The upstream's data is kept when the gateway's is (a data dir the caller gave is never removed), unless
    // stop({ keepData: false }) says otherwise.
    const keeps = (o: { keepData?: boolean }): boolean => o.keepData ?? !!opts.dataDir;
    return Object.assign(gw, {
      upstream,
      upstreamBucket,
      ...(metaUrl ? { metaUrl } : {}),
      async stop(o: { keepData?: boolean } = {}) {
        const code = await stopGateway(o);
        await stopUpstream(gw.dataDir, keeps(o));
        return code;
      },
      async kill9() {
        await kill9();
        await stopUpstream(gw.dataDir, true);
      },
    });
  } catch (e) {
    if (ownUpstream) await upstream.stop();
    throw e;
  }
}

export async function startKura(opts: StartKuraOptions = {}): Promise<KuraServer> {
  const metaUrl = await metaFor(opts);
  if (metaUrl) return startGateway({ ...opts, backend: 's3' }, metaUrl);
  if ((opts.backend ?? process.env.KURA_TEST_BACKEND) === 's3') return startGateway(opts);
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'kura-test-')));
  const env: NodeJS.ProcessEnv = { ...process.env, KURA_LOG_LEVEL: process.env.KURA_LOG_LEVEL ?? 'info', ...opts.env };
  if (!opts.env?.KURA_ACCESS_KEY_ID) {
    delete env.KURA_ACCESS_KEY_ID;
    delete env.KURA_SECRET_ACCESS_KEY;
  }
  const child = spawn(
    process.execPath,
    [
      '--no-incremental-marking',
      join(ROOT, 'bin', 'kura.mjs'),
      'server',
      '--data',
      dataDir,
      '--address',
      '127.0.0.1:0',
      '--tls-address',
      '127.0.0.1:0',
      ...(opts.args ?? []),
    ],
    {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stdout: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`kura server did not start in time\n${stderr}`)), opts.startTimeoutMs ?? 30_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        stdout.push(line);
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          if (j.msg === 'listening') {
            clearTimeout(timer);
            resolve(j);
          }
        } catch {
          /* not JSON */
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kura server exited with ${code} before listening\n${stderr}`));
    });
  });
  const httpPort = String(listening.http).split(':').pop();
  const httpsPort = String(listening.https).split(':').pop();
  const caPath = String(listening.caPath);
  const credentials: KuraCredentials = opts.env?.KURA_ACCESS_KEY_ID
    ? { accessKeyId: opts.env.KURA_ACCESS_KEY_ID, secretAccessKey: opts.env.KURA_SECRET_ACCESS_KEY ?? '' }
    : (JSON.parse(await readFile(join(dataDir, '.kura', 'credentials.json'), 'utf8')) as KuraCredentials);
  const ca = await readFile(caPath, 'utf8');
  const endpoint = `http://127.0.0.1:${httpPort}`;
  const httpsEndpoint = `https://localhost:${httpsPort}`;
  let stopped = false;
  return {
    endpoint,
    httpsEndpoint,
    caPath,
    credentials,
    dataDir,
    process: child,
    stdout,
    stderr: () => stderr,
    client(o = {}) {
      const { https, ...rest } = o;
      return new S3Client({
        endpoint: https ? httpsEndpoint : endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        // A copy: the SDK annotates the object it is given.
        credentials: { ...credentials },
        requestHandler: new NodeHttpHandler({
          httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
          httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50, ca }),
        }),
        ...rest,
      });
    },
    env(o = {}) {
      return {
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_REGION: 'us-east-1',
        AWS_CA_BUNDLE: caPath,
        AWS_ENDPOINT_URL: o.https ? httpsEndpoint : endpoint,
      };
    },
    async stop(o = {}) {
      if (stopped) return child.exitCode;
      stopped = true;
      child.kill('SIGTERM');
      const code = await exited;
      if (ownDir && !o.keepData) await rm(dataDir, { recursive: true, force: true });
      return code;
    },
    async kill9() {
      stopped = true;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
}

/**
 * A SigV4-signed request with full control over method, path (already percent-encoded), query,
 * headers and body — for checking exact status codes, headers and XML bodies.
 * `sign: false` sends it unsigned; `credentials` overrides the signing keys.
 */
export async function rawRequest(
  srv: Pick<KuraServer, 'endpoint' | 'credentials'>,
  method: string,
  path: string,
  opts: {
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: string | Buffer;
    sign?: boolean;
    credentials?: KuraCredentials;
    unsignedPayload?: boolean;
  } = {},
): Promise<RawResponse> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const url = new URL(srv.endpoint);
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers: Record<string, string> = { host: url.host, ...(opts.headers ?? {}) };
  if (body) headers['content-length'] = String(body.length);
  if (opts.unsignedPayload) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  let signed = { headers, query: opts.query ?? {} } as { headers: Record<string, string>; query: Record<string, string | string[] | null> };
  if (opts.sign !== false) {
    const signer = new SignatureV4({
      service: 's3',
      region: 'us-east-1',
      credentials: opts.credentials ?? srv.credentials,
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: true,
    });
    const req = await signer.sign({
      method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: opts.query ?? {},
      headers,
      body,
    });
    signed = { headers: req.headers as Record<string, string>, query: (req.query ?? {}) as Record<string, string> };
  }
  const qs = Object.entries(opts.query ?? {})
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  const res = await fetch(`${srv.endpoint}${path}${qs ? `?${qs}` : ''}`, {
    method,
    headers: Object.fromEntries(Object.entries(signed.headers).filter(([k]) => k !== 'host' && k !== 'content-length')),
    body: body && method !== 'GET' && method !== 'HEAD' ? new Uint8Array(body) : null,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: buf, text: buf.toString('utf8') };
}

/** The S3 error a request fails with (fails the test when it succeeds, rethrows any other error). */
export async function s3Error(p: Promise<unknown>): Promise<S3ServiceException> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return e;
    throw e;
  }
  assert.fail('expected an S3 error');
}

/** Collects an SDK body (or any async iterable of bytes) into a Buffer. */
export async function collect(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Value of an XML element in a small document (tests only). */
export function xmlValue(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m?.[1];
}
