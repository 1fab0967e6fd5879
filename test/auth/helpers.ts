// Test helpers: sign with the real AWS signer (@smithy/signature-v4) and turn the result into what the
// server sees on the wire.
import { Sha256 } from '@aws-crypto/sha256-js';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import type { IncomingHttpHeaders } from 'node:http';
import type { SignedRequest } from '../../src/sigv4/sigv4.ts';

export const AKID = 'AKIAIOSFODNN7EXAMPLE';
export const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
export const lookup = (id: string): string | undefined => (id === AKID ? SECRET : undefined);

export interface SignerOptions {
  secret?: string;
  region?: string;
  service?: string;
  accessKeyId?: string;
  applyChecksum?: boolean;
}

export function signer(opts: SignerOptions = {}): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: opts.accessKeyId ?? AKID, secretAccessKey: opts.secret ?? SECRET },
    region: opts.region ?? 'us-east-1',
    service: opts.service ?? 's3',
    sha256: Sha256,
    uriEscapePath: (opts.service ?? 's3') !== 's3',
    applyChecksum: opts.applyChecksum ?? true,
  });
}

// The wire encoding the AWS SDKs use for query strings (RFC 3986 unreserved kept).
export function encodeQueryComponent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export interface RequestSpec {
  method: string;
  path: string; // already percent-encoded, as it goes on the wire
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  host?: string;
}

function toHttpRequest(spec: RequestSpec) {
  const host = spec.host ?? 'examplebucket.s3.amazonaws.com';
  return {
    method: spec.method,
    protocol: 'https:',
    hostname: host,
    path: spec.path,
    query: spec.query ?? {},
    headers: { host, ...(spec.headers ?? {}) } as Record<string, string>,
    body: spec.body,
  };
}

export function toWire(req: {
  method: string;
  path: string;
  query?: Record<string, unknown>;
  headers: Record<string, string>;
}): SignedRequest {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(req.query ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) {
      parts.push(`${encodeQueryComponent(k)}=${encodeQueryComponent(String(one))}`);
    }
  }
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  return { method: req.method, rawPath: req.path, rawQuery: parts.join('&'), headers };
}

export async function signHeader(spec: RequestSpec, date: Date, opts: SignerOptions = {}): Promise<SignedRequest> {
  const signed = await signer(opts).sign(toHttpRequest(spec), { signingDate: date });
  return toWire(signed as never);
}

export async function presign(spec: RequestSpec, date: Date, expiresIn = 3600, opts: SignerOptions = {}): Promise<SignedRequest> {
  // The S3 presigner as getSignedUrl uses it: UNSIGNED-PAYLOAD in the query, x-amz-* headers hoisted.
  const presigner = new S3RequestPresigner({
    credentials: { accessKeyId: opts.accessKeyId ?? AKID, secretAccessKey: opts.secret ?? SECRET },
    region: opts.region ?? 'us-east-1',
    sha256: Sha256,
  });
  const signed = await presigner.presign(toHttpRequest(spec) as never, { signingDate: date, expiresIn });
  return toWire(signed as never);
}

/** What the S3 API (region us-east-1) and the KMS expect requests to be signed for. */
export const S3_SCOPE = { service: 's3', region: 'us-east-1' } as const;
export const KMS_SCOPE = { service: 'kms', region: 'us-east-1' } as const;
