// Helpers for the SSE integration tests: customer keys, signed raw requests over HTTPS (the server's
// self-signed CA), and the stored files of a data dir.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KuraServer, RawResponse } from '../helpers/server.ts';
import { blobPath, storedRecord } from '../helpers/meta.ts';

export interface TestKey {
  raw: Buffer;
  b64: string;
  md5: string;
}

export function newKey(raw: Buffer = randomBytes(32)): TestKey {
  return { raw, b64: raw.toString('base64'), md5: createHash('md5').update(raw).digest('base64') };
}

/** SSE-C request headers for a key (copy: the copy-source variants). */
export function ssecHeaders(k: TestKey, copy = false): Record<string, string> {
  const p = copy ? 'x-amz-copy-source-server-side-encryption-customer-' : 'x-amz-server-side-encryption-customer-';
  return { [`${p}algorithm`]: 'AES256', [`${p}key`]: k.b64, [`${p}key-md5`]: k.md5 };
}

/** SDK parameters for a key. */
export function ssecParams(k: TestKey): { SSECustomerAlgorithm: string; SSECustomerKey: string; SSECustomerKeyMD5: string } {
  return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: k.b64, SSECustomerKeyMD5: k.md5 };
}

/** A SigV4-signed request over HTTPS (or HTTP with https: false) with full control of the headers. */
export async function raw(
  srv: KuraServer,
  method: string,
  path: string,
  opts: { query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | string; https?: boolean } = {},
): Promise<RawResponse> {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const https = opts.https ?? true;
  const url = new URL(https ? srv.httpsEndpoint : srv.endpoint);
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers: Record<string, string> = { host: url.host, ...(opts.headers ?? {}) };
  if (body) headers['content-length'] = String(body.length);
  const signer = new SignatureV4({
    service: 's3',
    region: 'us-east-1',
    credentials: srv.credentials,
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path,
    query: opts.query ?? {},
    headers,
    body,
  });
  const qs = new URLSearchParams(opts.query ?? {}).toString();
  const ca = https ? await readFile(srv.caPath) : undefined;
  return sendRaw(
    https,
    {
      method,
      host: url.hostname,
      port: url.port,
      path: `${path}${qs ? `?${qs}` : ''}`,
      headers: signed.headers as Record<string, string>,
      ca,
    },
    body,
  );
}

/** Every regular file under dir (recursively). */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The stored record of an object (latest version), from the metadata store. */
export { storedRecord } from '../helpers/meta.ts';

/** Paths of an object's stored blobs (one per part), in order. */
export async function blobPaths(dataDir: string, bucket: string, key: string): Promise<string[]> {
  const rec = await storedRecord(dataDir, bucket, key);
  return rec.parts.map((p) => blobPath(dataDir, p.ref));
}

/**
 * A browser-form POST object: a SigV4 policy covering every given field (eq conditions, plus
 * `extraConditions`), signed with the server's credentials, the file part last.
 */
export async function postForm(
  srv: KuraServer,
  bucket: string,
  fields: Record<string, string>,
  file: Buffer,
  opts: { https?: boolean; extraConditions?: unknown[]; filename?: string } = {},
): Promise<RawResponse> {
  const { deriveSigningKey, hmac, formatAmzDate } = await import('../../src/sigv4/sigv4.ts');
  const now = new Date();
  const amzDate = formatAmzDate(now);
  const date = amzDate.slice(0, 8);
  const all: Record<string, string> = {
    ...fields,
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': `${srv.credentials.accessKeyId}/${date}/us-east-1/s3/aws4_request`,
    'x-amz-date': amzDate,
  };
  const conditions: unknown[] = [
    { bucket },
    ...Object.entries(all).map(([k, v]) => (k === 'key' ? ['starts-with', '$key', ''] : { [k]: v })),
    ...(opts.extraConditions ?? []),
  ];
  const policy = Buffer.from(JSON.stringify({ expiration: new Date(now.getTime() + 600_000).toISOString(), conditions })).toString(
    'base64',
  );
  all['policy'] = policy;
  all['x-amz-signature'] = hmac(deriveSigningKey(srv.credentials.secretAccessKey, date, 'us-east-1', 's3'), policy).toString('hex');
  const boundary = `----kura${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(all))
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${opts.filename ?? 'upload.bin'}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  const body = Buffer.concat(parts);
  const https = opts.https ?? true;
  const url = new URL(`${https ? srv.httpsEndpoint : srv.endpoint}/${bucket}`);
  const ca = https ? await readFile(srv.caPath) : undefined;
  return sendRaw(
    https,
    {
      protocol: url.protocol,
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      ca,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) },
    },
    body,
  );
}

/** Sends one request and collects the whole answer (test bodies are small). */
function sendRaw(https: boolean, options: RequestOptions, body?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers: h, body: b, text: b.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
