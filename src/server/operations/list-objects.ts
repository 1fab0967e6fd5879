// ListObjects (v1), ListObjectsV2, ListObjectVersions.
import type { ListedObject } from '../../storage/backend.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { toXmlOrdered, type XmlObject, type XmlValue } from '../../protocol/xml.ts';
import { checkVersionId } from './versioning.ts';
import { encodingType, intParam, quoteEtag, xmlDate } from '../http-util.ts';

function contents(ctx: RequestContext, rec: ListedObject, enc: (s: string) => string, withOwner: boolean): XmlObject {
  const o: XmlObject = {
    Key: enc(rec.key),
    LastModified: xmlDate(rec.lastModified),
    ETag: quoteEtag(rec.etag),
    Size: rec.size,
    StorageClass: rec.storageClass ?? 'STANDARD',
  };
  if (rec.checksum) {
    o['ChecksumAlgorithm'] = rec.checksum.algorithm;
    o['ChecksumType'] = rec.checksum.type;
  }
  if (withOwner) o['Owner'] = ctx.owner;
  return o;
}

const TOKEN_PREFIX = 'kura1:';

function encodeToken(lastEntry: string): string {
  return Buffer.from(TOKEN_PREFIX + lastEntry, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  const s = Buffer.from(token, 'base64url').toString('utf8');
  if (!token || !s.startsWith(TOKEN_PREFIX))
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
      ArgumentName: 'continuation-token',
      ArgumentValue: token,
    });
  return s.slice(TOKEN_PREFIX.length);
}

export async function listObjectsV2(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListObjectsV2';
  const bucket = ctx.bucketName;
  const enc = encodingType(ctx);
  const maxKeys = intParam(ctx, 'max-keys', 1000, 0, 1000);
  const prefix = ctx.param('prefix') ?? '';
  const delimiter = ctx.param('delimiter') ?? '';
  const token = ctx.param('continuation-token');
  const startAfter = ctx.param('start-after');
  const fetchOwner = ctx.param('fetch-owner') === 'true';
  await ctx.backend.getBucket(bucket);
  const after = token !== undefined ? decodeToken(token) : (startAfter ?? '');
  const r = await ctx.backend.listObjects(bucket, { prefix, delimiter, startAfter: after, maxKeys });
  ctx.sendXml(200, 'ListBucketResult', {
    Name: bucket,
    Prefix: enc(prefix),
    Delimiter: delimiter ? enc(delimiter) : undefined,
    MaxKeys: maxKeys,
    EncodingType: ctx.param('encoding-type') !== undefined ? 'url' : undefined,
    KeyCount: r.objects.length + r.commonPrefixes.length,
    IsTruncated: r.isTruncated,
    ContinuationToken: token,
    NextContinuationToken: r.isTruncated && r.lastEntry !== undefined ? encodeToken(r.lastEntry) : undefined,
    StartAfter: startAfter !== undefined ? enc(startAfter) : undefined,
    Contents: r.objects.map((o) => contents(ctx, o, enc, fetchOwner)),
    CommonPrefixes: r.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
  });
}

export async function listObjectsV1(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListObjects';
  const bucket = ctx.bucketName;
  const enc = encodingType(ctx);
  const maxKeys = intParam(ctx, 'max-keys', 1000, 0, 1000);
  const prefix = ctx.param('prefix') ?? '';
  const delimiter = ctx.param('delimiter') ?? '';
  const marker = ctx.param('marker') ?? '';
  await ctx.backend.getBucket(bucket);
  const r = await ctx.backend.listObjects(bucket, { prefix, delimiter, startAfter: marker, maxKeys });
  ctx.sendXml(200, 'ListBucketResult', {
    Name: bucket,
    Prefix: enc(prefix),
    Marker: enc(marker),
    // S3 sends NextMarker only with a delimiter; without one, clients continue from the last key.
    NextMarker: r.isTruncated && delimiter && r.lastEntry !== undefined ? enc(r.lastEntry) : undefined,
    MaxKeys: maxKeys,
    Delimiter: delimiter ? enc(delimiter) : undefined,
    EncodingType: ctx.param('encoding-type') !== undefined ? 'url' : undefined,
    IsTruncated: r.isTruncated,
    Contents: r.objects.map((o) => contents(ctx, o, enc, true)),
    CommonPrefixes: r.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
  });
}

export async function listObjectVersions(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListObjectVersions';
  const bucket = ctx.bucketName;
  const enc = encodingType(ctx);
  const maxKeys = intParam(ctx, 'max-keys', 1000, 0, 1000);
  const prefix = ctx.param('prefix') ?? '';
  const delimiter = ctx.param('delimiter') ?? '';
  const keyMarker = ctx.param('key-marker') ?? '';
  const versionIdMarker = ctx.param('version-id-marker');
  if (versionIdMarker !== undefined && !keyMarker)
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', {
      ArgumentName: 'version-id-marker',
      ArgumentValue: versionIdMarker,
    });
  if (versionIdMarker) checkVersionId(versionIdMarker, 'version-id-marker');
  await ctx.backend.getBucket(bucket);
  const opts: Parameters<typeof ctx.backend.listObjectVersions>[1] = { prefix, delimiter, keyMarker, maxKeys };
  if (versionIdMarker) opts.versionIdMarker = versionIdMarker;
  const r = await ctx.backend.listObjectVersions(bucket, opts);
  const head: [string, XmlValue][] = [
    ['Name', bucket],
    ['Prefix', enc(prefix)],
    ['KeyMarker', enc(keyMarker)],
    ['VersionIdMarker', versionIdMarker ?? ''],
    ['NextKeyMarker', r.isTruncated && r.nextKeyMarker !== undefined ? enc(r.nextKeyMarker) : undefined],
    ['NextVersionIdMarker', r.isTruncated ? r.nextVersionIdMarker : undefined],
    ['MaxKeys', maxKeys],
    ['Delimiter', delimiter ? enc(delimiter) : undefined],
    ['EncodingType', ctx.param('encoding-type') !== undefined ? 'url' : undefined],
    ['IsTruncated', r.isTruncated],
  ];
  // Versions and delete markers interleave in listing order (by key, newest first), as S3 sends them.
  const entries: [string, XmlValue][] = r.versions.map((v) =>
    v.deleteMarker
      ? [
          'DeleteMarker',
          {
            Key: enc(v.key),
            VersionId: v.versionId,
            IsLatest: v.isLatest,
            LastModified: xmlDate(v.lastModified),
            Owner: ctx.owner,
          },
        ]
      : [
          'Version',
          {
            Key: enc(v.key),
            VersionId: v.versionId,
            IsLatest: v.isLatest,
            LastModified: xmlDate(v.lastModified),
            ETag: quoteEtag(v.etag),
            Size: v.size,
            StorageClass: v.storageClass ?? 'STANDARD',
            Owner: ctx.owner,
            ...(v.checksum ? { ChecksumAlgorithm: v.checksum.algorithm, ChecksumType: v.checksum.type } : {}),
          },
        ],
  );
  const prefixes: [string, XmlValue][] = r.commonPrefixes.map((p) => ['CommonPrefixes', { Prefix: enc(p) }]);
  ctx.send(200, { 'content-type': 'application/xml' }, toXmlOrdered('ListVersionsResult', [...head, ...entries, ...prefixes]));
}
