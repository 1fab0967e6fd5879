// GetObject and HeadObject: conditions, single ranges, partNumber, response-* overrides.
import type { ObjectRecord } from '../../storage/backend.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { checkReadConditions, checksumHeaders, httpDate, objectHeaders, parseRange } from '../http-util.ts';
import { NULL_VERSION } from '../../storage/version-id.ts';
import { reportsVersion, versionIdParam } from './versioning.ts';

const OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

interface Selection {
  status: number;
  range?: { start: number; end: number };
  headers: Record<string, string | number>;
}

/** Which bytes a GET/HEAD returns: whole object, one Range, or one part (partNumber). */
function select(ctx: RequestContext, rec: ObjectRecord): Selection {
  const partParam = ctx.param('partNumber');
  const rangeHeader = ctx.header('range');
  if (partParam !== undefined) {
    if (rangeHeader) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
    if (!/^\d+$/.test(partParam) || Number(partParam) < 1 || Number(partParam) > 10000) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
        ArgumentName: 'partNumber',
        ArgumentValue: partParam,
      });
    }
    const n = Number(partParam);
    if (n > rec.parts.length)
      throw new S3Error('InvalidPartNumber', undefined, { PartNumberRequested: partParam, ActualPartCount: String(rec.parts.length) });
    let start = 0;
    for (let i = 0; i < n - 1; i++) start += rec.parts[i]!.size;
    const size = rec.parts[n - 1]!.size;
    const headers: Record<string, string | number> = { 'content-length': size, 'x-amz-mp-parts-count': rec.parts.length };
    if (size === 0) return { status: 206, headers };
    headers['content-range'] = `bytes ${start}-${start + size - 1}/${rec.size}`;
    return { status: 206, range: { start, end: start + size - 1 }, headers };
  }
  const range = parseRange(rangeHeader, rec.size);
  if (range) {
    return {
      status: 206,
      range,
      headers: { 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${rec.size}` },
    };
  }
  return { status: 200, headers: { 'content-length': rec.size } };
}

interface Found {
  rec: ObjectRecord;
  /** Name the null version in x-amz-version-id (S3 does once the bucket has a versioning state). */
  namesNull: boolean;
}

async function lookup(ctx: RequestContext): Promise<Found> {
  const versionId = versionIdParam(ctx);
  const info = await ctx.backend.getBucket(ctx.bucketName);
  const rec = await ctx.backend.headObject(ctx.bucketName, ctx.objectKey, versionId);
  if (rec.deleteMarker) {
    // Addressing a delete marker by version: 405 as S3, which also tells when it was created.
    throw new S3Error(
      'MethodNotAllowed',
      undefined,
      { Method: ctx.method, ResourceType: 'DeleteMarker' },
      {
        'x-amz-delete-marker': 'true',
        'x-amz-version-id': rec.versionId,
        'last-modified': httpDate(rec.lastModified),
        allow: 'DELETE',
      },
    );
  }
  await ctx.services.objectIo.checkRead(ctx, rec, 'read');
  return { rec, namesNull: rec.versionId === NULL_VERSION && reportsVersion(info, rec.versionId, versionId !== undefined) };
}

function responseHeaders(ctx: RequestContext, { rec, namesNull }: Found, sel: Selection): Record<string, string | number> {
  const h: Record<string, string | number> = { ...objectHeaders(ctx, rec), ...sel.headers };
  if (namesNull) h['x-amz-version-id'] = NULL_VERSION;
  if (ctx.header('x-amz-checksum-mode')?.toUpperCase() === 'ENABLED' && sel.status === 200) Object.assign(h, checksumHeaders(rec));
  for (const [param, header] of Object.entries(OVERRIDES)) {
    const v = ctx.param(param);
    if (v === undefined) continue;
    // What cannot go out as a header value (control characters, beyond ISO-8859-1) is refused as S3 does.
    if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(v))
      throw new S3Error('InvalidArgument', 'Header value cannot be represented using ISO-8859-1.', {
        ArgumentName: param,
        ArgumentValue: v,
      });
    h[header] = v;
  }
  return h;
}

export async function getObject(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetObject';
  const found = await lookup(ctx);
  const { rec } = found;
  checkReadConditions(ctx, rec);
  const sel = select(ctx, rec);
  const headers = responseHeaders(ctx, found, sel);
  if (rec.size === 0 || (sel.status === 206 && !sel.range)) {
    ctx.send(sel.status, headers);
    return;
  }
  const stream = await ctx.services.objectIo.read(ctx, ctx.bucketName, rec, sel.range);
  await ctx.sendStream(sel.status, headers, stream);
}

export async function headObject(ctx: RequestContext): Promise<void> {
  ctx.operation = 'HeadObject';
  const found = await lookup(ctx);
  checkReadConditions(ctx, found.rec);
  const sel = select(ctx, found.rec);
  ctx.send(sel.status, responseHeaders(ctx, found, sel));
}
