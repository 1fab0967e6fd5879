// Helpers shared by the operation handlers: metadata headers, ETags, dates, ranges, conditions.
import type { ObjectRecord, ObjectMeta } from '../storage/backend.ts';
import { S3Error } from './errors.ts';
import type { RequestContext } from './context.ts';
import { createHash } from 'node:crypto';
import { checksumHeader, newChecksum, requestedChecksum } from '../hashing/checksums.ts';

export const MAX_PUT_SIZE = 5 * 1024 ** 3; // 5 GiB, single PUT / part / copy source
export const MIN_PART_SIZE = 5 * 1024 ** 2;
export const MAX_KEY_BYTES = 1024;
const MAX_USER_METADATA = 2 * 1024;

/** System metadata S3 keeps and returns as headers. */
export const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;

export function httpDate(iso: string): string {
  return new Date(iso).toUTCString();
}

/** S3's XML timestamp: milliseconds, Z. */
export function xmlDate(iso: string): string {
  return new Date(iso).toISOString();
}

export function quoteEtag(etag: string): string {
  return `"${etag}"`;
}

export function unquoteEtag(etag: string): string {
  let e = etag.trim();
  if (e.startsWith('W/')) e = e.slice(2);
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1);
  return e;
}

export function checkKey(key: string): void {
  if (key.length === 0) throw new S3Error('InvalidArgument', 'Object key must not be empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    throw new S3Error('KeyTooLongError', undefined, {
      MaxSizeAllowed: String(MAX_KEY_BYTES),
      Size: String(Buffer.byteLength(key, 'utf8')),
    });
}

/** Content-Type, user metadata and stored system headers of a write request. */
export function metadataFromRequest(ctx: RequestContext): Pick<ObjectMeta, 'contentType' | 'userMetadata' | 'headers'> {
  const userMetadata: Record<string, string> = {};
  let metaSize = 0;
  for (const [name, value] of Object.entries(ctx.req.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const k = name.slice('x-amz-meta-'.length);
    const v = Array.isArray(value) ? value.join(',') : value;
    userMetadata[k] = v;
    metaSize += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (metaSize > MAX_USER_METADATA)
    throw new S3Error('MetadataTooLarge', undefined, { Size: String(metaSize), MaxSizeAllowed: String(MAX_USER_METADATA) });
  const headers: Record<string, string> = {};
  for (const h of STORED_HEADERS) {
    const v = ctx.header(h);
    if (v !== undefined) headers[h] = v;
  }
  return { contentType: ctx.header('content-type') ?? 'binary/octet-stream', userMetadata, headers };
}

const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'GLACIER_IR',
  'SNOW',
  'EXPRESS_ONEZONE',
];

export function storageClassFromRequest(ctx: RequestContext): string | undefined {
  const sc = ctx.header('x-amz-storage-class');
  if (sc === undefined || sc === 'STANDARD') return undefined;
  if (!STORAGE_CLASSES.includes(sc)) throw new S3Error('InvalidStorageClass', undefined, { StorageClassRequested: sc });
  return sc;
}

/** Headers Kura does not implement; refusing beats a silent wrong success. */
export function refuseUnsupportedWriteHeaders(ctx: RequestContext): void {
  const acl = ctx.header('x-amz-acl');
  if (acl !== undefined && acl !== 'private' && acl !== 'bucket-owner-full-control')
    throw new S3Error('NotImplemented', 'ACLs other than private are not implemented');
  for (const h of [
    'x-amz-grant-read',
    'x-amz-grant-write',
    'x-amz-grant-read-acp',
    'x-amz-grant-write-acp',
    'x-amz-grant-full-control',
    'x-amz-tagging',
    'x-amz-object-lock-mode',
    'x-amz-object-lock-retain-until-date',
    'x-amz-object-lock-legal-hold',
    'x-amz-website-redirect-location',
  ]) {
    if (ctx.header(h) !== undefined) throw new S3Error('NotImplemented', `${h} is not implemented`);
  }
}

/** Response headers describing an object (GET/HEAD). */
export function objectHeaders(ctx: RequestContext, rec: ObjectRecord): Record<string, string> {
  const h: Record<string, string> = {
    'last-modified': httpDate(rec.lastModified),
    etag: quoteEtag(rec.etag),
    'content-type': rec.contentType || 'binary/octet-stream',
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(rec.headers)) h[k] = v;
  for (const [k, v] of Object.entries(rec.userMetadata)) h[`x-amz-meta-${k}`] = v;
  if (rec.versionId !== 'null') h['x-amz-version-id'] = rec.versionId;
  if (rec.storageClass) h['x-amz-storage-class'] = rec.storageClass;
  Object.assign(h, ctx.services.objectIo.responseHeaders(ctx, rec));
  return h;
}

export function checksumHeaders(rec: Pick<ObjectRecord, 'checksum'>): Record<string, string> {
  if (!rec.checksum) return {};
  return { [checksumHeader(rec.checksum.algorithm)]: rec.checksum.value, 'x-amz-checksum-type': rec.checksum.type };
}

/** A single byte range `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined when absent or not parseable (S3 then ignores it). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const unsatisfiable = (): never => {
    throw new S3Error('InvalidRange', undefined, { RangeRequested: header, ActualObjectSize: String(size) });
  };
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) unsatisfiable();
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) unsatisfiable();
  return { start, end };
}

function etagMatches(list: string, etag: string): boolean {
  return list.split(',').some((e) => {
    const t = e.trim();
    return t === '*' || unquoteEtag(t) === etag;
  });
}

function parseDate(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** If-Match / If-None-Match / If-(Un)Modified-Since for GET and HEAD: 412 or 304 as S3 (RFC 7232 order). */
export function checkReadConditions(ctx: RequestContext, rec: ObjectRecord): void {
  const lastModified = Math.floor(Date.parse(rec.lastModified) / 1000) * 1000;
  const ifMatch = ctx.header('if-match');
  const ifNoneMatch = ctx.header('if-none-match');
  const ifModifiedSince = parseDate(ctx.header('if-modified-since'));
  const ifUnmodifiedSince = parseDate(ctx.header('if-unmodified-since'));
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, rec.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' });
  } else if (ifUnmodifiedSince !== undefined && lastModified > ifUnmodifiedSince) {
    throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Unmodified-Since' });
  }
  const notModified = new S3Error('NotModified', undefined, {}, { etag: quoteEtag(rec.etag), 'last-modified': httpDate(rec.lastModified) });
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, rec.etag)) throw notModified;
  } else if (ifModifiedSince !== undefined && lastModified <= ifModifiedSince) {
    throw notModified;
  }
}

/** x-amz-copy-source-if-*: every failure is 412 PreconditionFailed. */
export function checkCopySourceConditions(ctx: RequestContext, rec: ObjectRecord): void {
  const lastModified = Math.floor(Date.parse(rec.lastModified) / 1000) * 1000;
  const ifMatch = ctx.header('x-amz-copy-source-if-match');
  const ifNoneMatch = ctx.header('x-amz-copy-source-if-none-match');
  const ifModifiedSince = parseDate(ctx.header('x-amz-copy-source-if-modified-since'));
  const ifUnmodifiedSince = parseDate(ctx.header('x-amz-copy-source-if-unmodified-since'));
  const fail = (c: string): never => {
    throw new S3Error('PreconditionFailed', undefined, { Condition: c });
  };
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, rec.etag)) fail('x-amz-copy-source-If-Match');
  } else if (ifUnmodifiedSince !== undefined && lastModified > ifUnmodifiedSince) fail('x-amz-copy-source-If-Unmodified-Since');
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, rec.etag)) fail('x-amz-copy-source-If-None-Match');
  } else if (ifModifiedSince !== undefined && lastModified <= ifModifiedSince) fail('x-amz-copy-source-If-Modified-Since');
}

/** Conditional writes (If-None-Match: * / If-Match on PUT and CompleteMultipartUpload). */
export function writeConditions(ctx: RequestContext): { ifMatch?: string; ifNoneMatch?: string } | undefined {
  const ifMatch = ctx.header('if-match');
  const ifNoneMatch = ctx.header('if-none-match');
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*')
    throw new S3Error('NotImplemented', 'If-None-Match on writes supports only *');
  const o: { ifMatch?: string; ifNoneMatch?: string } = {};
  if (ifMatch !== undefined) o.ifMatch = ifMatch.trim() === '*' ? '*' : unquoteEtag(ifMatch);
  if (ifNoneMatch !== undefined) o.ifNoneMatch = '*';
  return o;
}

/** Integer query parameter in [min, max]; InvalidArgument otherwise. */
export function intParam(ctx: RequestContext, name: string, dflt: number, min: number, max: number, clamp = true): number {
  const v = ctx.param(name);
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  // Beyond a signed 32-bit integer S3 answers as for a non-number.
  if (!/^-?\d+$/.test(v) || n > 2147483647 || n < -2147483648)
    throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, {
      ArgumentName: name,
      ArgumentValue: v,
    });
  if (n < min)
    throw new S3Error('InvalidArgument', `Argument ${name} must be an integer between ${min} and ${max}`, {
      ArgumentName: name,
      ArgumentValue: v,
    });
  if (n > max) {
    if (clamp) return max;
    throw new S3Error('InvalidArgument', `Argument ${name} must be an integer between ${min} and ${max}`, {
      ArgumentName: name,
      ArgumentValue: v,
    });
  }
  return n;
}

/** encoding-type=url: S3 percent-encodes keys like a form (space as '+'), leaving '/'. */
export function encodingType(ctx: RequestContext): (s: string) => string {
  const e = ctx.param('encoding-type');
  if (e === undefined) return (s) => s;
  if (e.toLowerCase() !== 'url')
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', {
      ArgumentName: 'encoding-type',
      ArgumentValue: e,
    });
  return (s) =>
    encodeURIComponent(s)
      .replace(/%2F/g, '/')
      .replace(/%20/g, '+')
      .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Declared body length: x-amz-decoded-content-length for aws-chunked, else Content-Length. */
export function declaredLength(ctx: RequestContext): number | undefined {
  const decoded = ctx.header('x-amz-decoded-content-length');
  const v = decoded ?? ctx.header('content-length');
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new S3Error('InvalidArgument', 'Invalid content length');
  return Number(v);
}

/** Content-MD5 as hex, validated (InvalidDigest). */
export function contentMd5(ctx: RequestContext): string | undefined {
  const v = ctx.header('content-md5');
  if (v === undefined) return undefined;
  const b = Buffer.from(v, 'base64');
  if (b.length !== 16 || !/^[A-Za-z0-9+/]+=*$/.test(v.trim())) throw new S3Error('InvalidDigest', undefined, { 'Content-MD5': v });
  return b.toString('hex');
}

/** Reads a small request document (XML configurations) and verifies Content-MD5 and any x-amz-checksum-* (BadDigest). */
export async function readCheckedBody(ctx: RequestContext, limit = 2 * 1024 * 1024): Promise<Buffer> {
  const md5 = contentMd5(ctx);
  const requested = requestedChecksum(ctx.req.headers);
  const body = await ctx.readBody(limit);
  if (md5 !== undefined && createHash('md5').update(body).digest('hex') !== md5) throw new S3Error('BadDigest');
  if (requested.algorithm) {
    const expected = requested.inTrailer ? ctx.trailers()[checksumHeader(requested.algorithm)] : requested.value;
    const h = newChecksum(requested.algorithm);
    h.update(body);
    if (expected !== undefined && expected !== h.digest().toString('base64'))
      throw new S3Error('BadDigest', `The ${requested.algorithm} you specified did not match the calculated checksum.`);
  }
  return body;
}
