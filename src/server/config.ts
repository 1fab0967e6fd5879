// Server configuration: data dir, listen addresses, credentials, TLS material, root key.
// Secrets generated on first start live in <data>/.kura/ with mode 0600.
import { mkdir, readFile, chmod } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generate } from 'selfsigned';
import { parseAddress, type ListenAddress } from '../protocol/address.ts';

export { formatAddress, parseAddress, type ListenAddress } from '../protocol/address.ts';
import { writeFileAtomic } from '../storage/fs/atomic.ts';
import type { S3BlobStoreOptions } from '../storage/blob/s3-blob-store.ts';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ServerOptions {
  dataDir?: string;
  /** HOST:PORT of the HTTP listener; 'off' disables it. */
  address?: string;
  /** HOST:PORT of the HTTPS listener; 'off' disables it. */
  tlsAddress?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Domain for virtual-host-style addressing: Host `<bucket>.<domain>`. */
  domain?: string;
  region?: string;
  /** Allow SSE-C over plain HTTP (refused by default, as AWS does). Used by the SSE part. */
  allowInsecureSsec?: boolean;
  /** Storage backend: 'fs' (default, the data dir) or 's3' (gateway to an S3-compatible store). Env KURA_BACKEND. */
  backend?: string;
  /** Gateway: upstream endpoint URL (env KURA_BACKEND_ENDPOINT); unset = AWS S3. */
  backendEndpoint?: string;
  /** Gateway: upstream bucket (env KURA_BACKEND_BUCKET). */
  backendBucket?: string;
  /** Gateway: key prefix in the upstream bucket (env KURA_BACKEND_PREFIX). */
  backendPrefix?: string;
  /** Gateway: upstream region (env KURA_BACKEND_REGION, then AWS_REGION; default us-east-1). */
  backendRegion?: string;
  /** Gateway: PEM CA bundle for an HTTPS upstream (env KURA_BACKEND_CA_BUNDLE). */
  backendCaBundle?: string;
  /** Metadata engine: 'lmdb' (default) or a postgres:// URL (env KURA_META_URL). */
  meta?: string;
}

/** The metadata engine: embedded (LMDB in the data dir), or PostgreSQL shared by several nodes. */
export type MetaConfig = { kind: 'lmdb' } | { kind: 'postgres'; url: string; poolSize?: number };

/** Where object bytes are stored (blobs). */
export type BackendConfig = { kind: 'fs' } | ({ kind: 's3' } & S3BlobStoreOptions);

export interface ServerConfig {
  dataDir: string;
  /** <data>/.kura: credentials, keys, certificates, tmp. */
  stateDir: string;
  http?: ListenAddress;
  https?: ListenAddress;
  domain: string;
  region: string;
  allowInsecureSsec: boolean;
  credentials: Credentials;
  /** Where blobs live. Unset = files in the data dir. */
  backend?: BackendConfig;
  /** The metadata engine (src/storage/open-backend.ts metaStoreFactory). Unset = embedded LMDB in <data>/.kura/meta. */
  meta?: MetaConfig;
  /** Where generated credentials are kept (undefined when taken from the environment). */
  credentialsPath?: string;
  credentialsGenerated: boolean;
  tls?: { cert: string; key: string; certPath: string; generated: boolean };
}

export const DEFAULT_HTTP = '127.0.0.1:9000';
export const DEFAULT_HTTPS = '127.0.0.1:9443';

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function ensureStateDir(dataDir: string): Promise<string> {
  const stateDir = join(dataDir, '.kura');
  await mkdir(join(stateDir, 'tmp'), { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  return stateDir;
}

/** Access key id: 20 upper-case alphanumerics like AWS's; secret: 40 base64-ish characters. */
function newCredentials(): Credentials {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = [...randomBytes(16)].map((b) => alphabet[b & 31]).join('');
  return { accessKeyId: `KURA${id}`, secretAccessKey: randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B') };
}

export async function loadCredentials(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ credentials: Credentials; path?: string; generated: boolean }> {
  const id = env.KURA_ACCESS_KEY_ID;
  const secret = env.KURA_SECRET_ACCESS_KEY;
  if (id || secret) {
    if (!id || !secret) throw new Error('set both KURA_ACCESS_KEY_ID and KURA_SECRET_ACCESS_KEY, or neither');
    return { credentials: { accessKeyId: id, secretAccessKey: secret }, generated: false };
  }
  const stateDir = await ensureStateDir(dataDir);
  const path = join(stateDir, 'credentials.json');
  const existing = await readIfExists(path);
  if (existing) {
    const c = JSON.parse(existing) as Credentials;
    if (!c.accessKeyId || !c.secretAccessKey) throw new Error(`malformed ${path}`);
    return { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, path, generated: false };
  }
  const credentials = newCredentials();
  await writeFileAtomic(path, JSON.stringify(credentials, null, 2) + '\n', join(stateDir, 'tmp'), 0o600);
  await chmod(path, 0o600);
  return { credentials, path, generated: true };
}

/** The self-signed certificate (generated on first start) or the given pair. */
export async function loadTls(
  dataDir: string,
  certFile?: string,
  keyFile?: string,
): Promise<{ cert: string; key: string; certPath: string; generated: boolean }> {
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error('--tls-cert and --tls-key go together');
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certPath: resolve(certFile), generated: false };
  }
  const stateDir = await ensureStateDir(dataDir);
  const certPath = join(stateDir, 'tls-cert.pem');
  const keyPath = join(stateDir, 'tls-key.pem');
  const cert = await readIfExists(certPath);
  const key = await readIfExists(keyPath);
  if (cert && key) return { cert, key, certPath, generated: false };
  const notBeforeDate = new Date(Date.now() - 24 * 3600 * 1000);
  const pems = await generate(
    [
      { name: 'commonName', value: 'localhost' },
      { name: 'organizationName', value: 'Kura (self-signed)' },
    ],
    {
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + 825 * 24 * 3600 * 1000),
      extensions: [
        // CA:TRUE so clients can use this very certificate as their trust anchor (AWS_CA_BUNDLE).
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 2, value: '*.localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    },
  );
  const tmp = join(stateDir, 'tmp');
  await writeFileAtomic(keyPath, pems.private, tmp, 0o600);
  await writeFileAtomic(certPath, pems.cert, tmp, 0o600);
  return { cert: pems.cert, key: pems.private, certPath, generated: true };
}

/** The 32-byte root key for encryption at rest: KURA_ROOT_KEY (base64) or <data>/.kura/root.key, generated 0600. */
export async function loadRootKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  if (env.KURA_ROOT_KEY) {
    const k = Buffer.from(env.KURA_ROOT_KEY, 'base64');
    if (k.length !== 32) throw new Error('KURA_ROOT_KEY must be 32 bytes, base64-encoded');
    return k;
  }
  const stateDir = await ensureStateDir(dataDir);
  const path = join(stateDir, 'root.key');
  const existing = await readIfExists(path);
  if (existing !== undefined) {
    const k = Buffer.from(existing.trim(), 'base64');
    if (k.length !== 32) throw new Error(`${path} does not hold a 32-byte base64 key`);
    return k;
  }
  const k = randomBytes(32);
  await writeFileAtomic(path, k.toString('base64') + '\n', join(stateDir, 'tmp'), 0o600);
  await chmod(path, 0o600);
  return k;
}

/**
 * The storage backend from options, else KURA_BACKEND* variables. Upstream credentials of the gateway:
 * KURA_BACKEND_ACCESS_KEY_ID / KURA_BACKEND_SECRET_ACCESS_KEY (+ KURA_BACKEND_SESSION_TOKEN), else the
 * AWS SDK's default chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, ~/.aws, instance roles).
 */
export function backendConfig(opts: ServerOptions, env: NodeJS.ProcessEnv = process.env): BackendConfig {
  const kind = opts.backend ?? env.KURA_BACKEND ?? 'fs';
  const endpoint = opts.backendEndpoint ?? env.KURA_BACKEND_ENDPOINT;
  const bucket = opts.backendBucket ?? env.KURA_BACKEND_BUCKET;
  const prefix = opts.backendPrefix ?? env.KURA_BACKEND_PREFIX;
  const region = opts.backendRegion ?? env.KURA_BACKEND_REGION ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const caBundle = opts.backendCaBundle ?? env.KURA_BACKEND_CA_BUNDLE;
  if (kind === 'fs') {
    if (endpoint || bucket || prefix || opts.backendRegion || caBundle) throw new Error('--backend-* options need --backend s3');
    return { kind: 'fs' };
  }
  if (kind !== 's3') throw new Error(`unknown backend '${kind}' (fs or s3)`);
  if (!bucket) throw new Error('--backend s3 needs --backend-bucket (or KURA_BACKEND_BUCKET)');
  if (endpoint) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`invalid --backend-endpoint '${endpoint}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`--backend-endpoint must be an http(s) URL, not '${endpoint}'`);
  }
  const config: BackendConfig = { kind: 's3', bucket, prefix: prefix ?? '', region: region ?? 'us-east-1' };
  if (endpoint) config.endpoint = endpoint;
  if (caBundle) config.caBundle = resolve(caBundle);
  const id = env.KURA_BACKEND_ACCESS_KEY_ID;
  const secret = env.KURA_BACKEND_SECRET_ACCESS_KEY;
  if (id || secret) {
    if (!id || !secret) throw new Error('set both KURA_BACKEND_ACCESS_KEY_ID and KURA_BACKEND_SECRET_ACCESS_KEY, or neither');
    config.credentials = {
      accessKeyId: id,
      secretAccessKey: secret,
      ...(env.KURA_BACKEND_SESSION_TOKEN ? { sessionToken: env.KURA_BACKEND_SESSION_TOKEN } : {}),
    };
  }
  return config;
}

/**
 * The metadata engine from --meta, else KURA_META_URL: 'lmdb' (default) or postgres://… / postgresql://….
 * PostgreSQL needs the S3 blob store: its point is several nodes serving the same buckets, and a blob
 * file in one node's data dir is invisible to the others (their reads would fail, and their clean-up
 * would drop the rows of blobs they cannot see).
 */
export function metaConfig(opts: ServerOptions, backend: BackendConfig, env: NodeJS.ProcessEnv = process.env): MetaConfig {
  const value = opts.meta ?? env.KURA_META_URL ?? 'lmdb';
  if (value === 'lmdb') return { kind: 'lmdb' };
  if (!/^postgres(ql)?:\/\//.test(value))
    throw new Error(`unknown --meta '${value.replace(/\/\/[^@/]*@/, '//…@')}' (lmdb, or a postgres:// URL)`);
  try {
    new URL(value);
  } catch {
    throw new Error('invalid --meta URL (expected postgres://user:password@host:port/database)');
  }
  if (backend.kind !== 's3')
    throw new Error(
      "--meta postgres needs --backend s3: nodes sharing the database must share the blobs too (a local blob dir is one node's only)",
    );
  const config: MetaConfig = { kind: 'postgres', url: value };
  const pool = env.KURA_META_POOL_SIZE;
  if (pool !== undefined) {
    const n = Number(pool);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error('KURA_META_POOL_SIZE must be an integer 1…1000');
    config.poolSize = n;
  }
  return config;
}

export async function loadConfig(opts: ServerOptions, env: NodeJS.ProcessEnv = process.env): Promise<ServerConfig> {
  const dataDir = resolve(opts.dataDir ?? './data');
  await mkdir(dataDir, { recursive: true });
  const stateDir = await ensureStateDir(dataDir);
  const backend = backendConfig(opts, env);
  const meta = metaConfig(opts, backend, env);
  const address = opts.address ?? DEFAULT_HTTP;
  const tlsAddress = opts.tlsAddress ?? DEFAULT_HTTPS;
  const creds = await loadCredentials(dataDir, env);
  const config: ServerConfig = {
    dataDir,
    stateDir,
    domain: (opts.domain ?? 'localhost').toLowerCase(),
    region: opts.region ?? 'us-east-1',
    allowInsecureSsec: opts.allowInsecureSsec ?? false,
    credentials: creds.credentials,
    credentialsGenerated: creds.generated,
    backend,
    meta,
  };
  if (creds.path) config.credentialsPath = creds.path;
  if (address !== 'off') config.http = parseAddress(address);
  if (tlsAddress !== 'off') {
    config.https = parseAddress(tlsAddress);
    config.tls = await loadTls(dataDir, opts.tlsCert, opts.tlsKey);
  }
  if (!config.http && !config.https) throw new Error('both listeners are off');
  return config;
}
