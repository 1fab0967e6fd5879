// ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.
import { isIP } from 'node:net';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml } from '../../protocol/xml.ts';
import { intParam, xmlDate } from '../http-util.ts';
import type { BucketInfo } from '../../storage/backend.ts';
import { compareKeys } from '../../storage/key-order.ts';

/** AWS general-purpose bucket naming rules. */
export function isValidBucketName(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false;
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return false;
  if (isIP(name)) return false;
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return false;
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) return false;
  return true;
}

// ListBuckets pages (max-buckets, 1–10,000) in name order; the continuation token is the last name
// listed, base64url-encoded (AWS calls it opaque). Filters: prefix, bucket-region.
const MAX_BUCKETS = 10000;

function bucketAfterToken(token: string): string {
  const name = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!isValidBucketName(name))
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
      ArgumentName: 'continuation-token',
      ArgumentValue: token,
    });
  return name;
}

export async function listBuckets(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListBuckets';
  const prefix = ctx.param('prefix') ?? '';
  const region = ctx.param('bucket-region');
  const maxBuckets = intParam(ctx, 'max-buckets', MAX_BUCKETS, 1, MAX_BUCKETS, false);
  const token = ctx.param('continuation-token');
  const after = token ? bucketAfterToken(token) : undefined;
  const regionOf = (b: BucketInfo): string => b.config.location || 'us-east-1';
  const matching = (await ctx.backend.listBuckets())
    .filter(
      (b) =>
        b.name.startsWith(prefix) &&
        (region === undefined || regionOf(b) === region) &&
        (after === undefined || compareKeys(b.name, after) > 0),
    )
    .sort((a, b) => compareKeys(a.name, b.name));
  const page = matching.slice(0, maxBuckets);
  ctx.sendXml(200, 'ListAllMyBucketsResult', {
    Owner: ctx.owner,
    Buckets: { Bucket: page.map((b) => ({ Name: b.name, CreationDate: xmlDate(b.created), BucketRegion: regionOf(b) })) },
    ContinuationToken: matching.length > page.length ? Buffer.from(page[page.length - 1]!.name, 'utf8').toString('base64url') : undefined,
    Prefix: ctx.param('prefix'),
  });
}

export async function createBucket(ctx: RequestContext): Promise<void> {
  ctx.operation = 'CreateBucket';
  const name = ctx.bucketName;
  if (!isValidBucketName(name)) throw new S3Error('InvalidBucketName', undefined, { BucketName: name });
  if (ctx.header('x-amz-bucket-object-lock-enabled')?.toLowerCase() === 'true')
    throw new S3Error('NotImplemented', 'Object Lock is not implemented');
  const acl = ctx.header('x-amz-acl');
  if (acl !== undefined && acl !== 'private') throw new S3Error('NotImplemented', 'ACLs other than private are not implemented');
  const body = await ctx.readBody(64 * 1024);
  let location = '';
  if (body.length && body.toString('utf8').trim()) {
    const conf = parseXml(body, 'CreateBucketConfiguration');
    const constraint = conf['LocationConstraint'];
    if (constraint !== undefined && typeof constraint !== 'string') throw new S3Error('MalformedXML');
    location = constraint?.trim() ?? '';
    if (location === 'us-east-1') throw new S3Error('InvalidLocationConstraint', undefined, { LocationConstraint: location });
  }
  await ctx.backend.createBucket(name, { location });
  ctx.send(200, { location: `/${name}` });
}

export async function headBucket(ctx: RequestContext): Promise<void> {
  ctx.operation = 'HeadBucket';
  const info = await ctx.backend.getBucket(ctx.bucketName);
  ctx.send(200, { 'x-amz-bucket-region': info.config.location || 'us-east-1' });
}

export async function deleteBucket(ctx: RequestContext): Promise<void> {
  ctx.operation = 'DeleteBucket';
  await ctx.backend.deleteBucket(ctx.bucketName);
  ctx.send(204);
}

export async function getBucketLocation(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetBucketLocation';
  const info = await ctx.backend.getBucket(ctx.bucketName);
  ctx.sendXml(200, 'LocationConstraint', info.config.location);
}
