// ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.
import { isIP } from 'node:net';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, xmlText } from '../xml.ts';
import { xmlDate } from '../http-util.ts';

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

export async function listBuckets(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListBuckets';
  const prefix = ctx.param('prefix') ?? '';
  const buckets = (await ctx.backend.listBuckets()).filter((b) => b.name.startsWith(prefix));
  ctx.sendXml(200, 'ListAllMyBucketsResult', {
    Owner: ctx.owner,
    Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: xmlDate(b.created), BucketRegion: b.config.location || 'us-east-1' })) },
    Prefix: ctx.param('prefix'),
  });
}

export async function createBucket(ctx: RequestContext): Promise<void> {
  ctx.operation = 'CreateBucket';
  const name = ctx.bucketName;
  if (!isValidBucketName(name)) throw new S3Error('InvalidBucketName', undefined, { BucketName: name });
  if (ctx.header('x-amz-bucket-object-lock-enabled')?.toLowerCase() === 'true') throw new S3Error('NotImplemented', 'Object Lock is not implemented');
  const acl = ctx.header('x-amz-acl');
  if (acl !== undefined && acl !== 'private') throw new S3Error('NotImplemented', 'ACLs other than private are not implemented');
  const body = await ctx.readBody(64 * 1024);
  let location = '';
  if (body.length && body.toString('utf8').trim()) {
    const conf = parseXml(body, 'CreateBucketConfiguration');
    location = xmlText(conf['LocationConstraint'])?.trim() ?? '';
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
