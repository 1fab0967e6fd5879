// CopyObject (and the copy-source parsing UploadPartCopy shares).
import type { ObjectMeta, ObjectRecord } from '../../storage/backend.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseChecksumAlgorithm } from '../../hashing/checksums.ts';
import { checkVersionId, reportsVersion } from './versioning.ts';
import {
  MAX_PUT_SIZE,
  checkCopySourceConditions,
  checkKey,
  metadataFromRequest,
  quoteEtag,
  refuseUnsupportedWriteHeaders,
  storageClassFromRequest,
  writeConditions,
  xmlDate,
} from '../http-util.ts';

export interface CopySource {
  bucket: string;
  key: string;
  versionId?: string;
  record: ObjectRecord;
  /** Whether x-amz-copy-source-version-id names the source version (see reportsVersion). */
  namesVersion: boolean;
}

/** x-amz-copy-source: '[/]bucket/key[?versionId=…]', URL-encoded. Checks the x-amz-copy-source-if-* conditions. */
export async function resolveCopySource(ctx: RequestContext): Promise<CopySource> {
  const raw = ctx.header('x-amz-copy-source') ?? '';
  let path = raw;
  let versionId: string | undefined;
  const q = raw.indexOf('?');
  if (q >= 0) {
    path = raw.slice(0, q);
    const params = new URLSearchParams(raw.slice(q + 1));
    versionId = params.get('versionId') ?? undefined;
    if (versionId !== undefined) checkVersionId(versionId, 'x-amz-copy-source');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new S3Error('InvalidArgument', 'Invalid copy source encoding', { ArgumentName: 'x-amz-copy-source', ArgumentValue: raw });
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', {
      ArgumentName: 'x-amz-copy-source',
      ArgumentValue: raw,
    });
  }
  const bucket = decoded.slice(0, slash);
  const key = decoded.slice(slash + 1);
  const info = await ctx.backend.getBucket(bucket);
  const record = await ctx.backend.headObject(bucket, key, versionId);
  if (record.deleteMarker)
    throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.');
  checkCopySourceConditions(ctx, record);
  await ctx.services.objectIo.checkRead(ctx, record, 'copy-source');
  const out: CopySource = { bucket, key, record, namesVersion: reportsVersion(info, record.versionId, versionId !== undefined) };
  if (versionId !== undefined) out.versionId = versionId;
  return out;
}

export async function copyObject(ctx: RequestContext): Promise<void> {
  ctx.operation = 'CopyObject';
  const bucket = ctx.bucketName;
  const key = ctx.objectKey;
  checkKey(key);
  await ctx.backend.getBucket(bucket);
  refuseUnsupportedWriteHeaders(ctx);
  const directive = (ctx.header('x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw new S3Error('InvalidArgument', 'Unknown metadata directive.', {
      ArgumentName: 'x-amz-metadata-directive',
      ArgumentValue: directive,
    });
  const tagging = ctx.header('x-amz-tagging-directive');
  if (tagging !== undefined && tagging.toUpperCase() !== 'COPY') throw new S3Error('NotImplemented', 'Object tagging is not implemented');
  const src = await resolveCopySource(ctx);
  const storageClass = storageClassFromRequest(ctx);
  const algorithm = parseChecksumAlgorithm(ctx.header('x-amz-checksum-algorithm')) ?? src.record.checksum?.algorithm;
  const changesEncryption = Object.keys(ctx.req.headers).some((h) => h.startsWith('x-amz-server-side-encryption'));
  if (
    src.bucket === bucket &&
    src.key === key &&
    src.versionId === undefined &&
    directive === 'COPY' &&
    !storageClass &&
    !changesEncryption &&
    !ctx.header('x-amz-checksum-algorithm')
  ) {
    throw new S3Error(
      'InvalidRequest',
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  if (src.record.size > MAX_PUT_SIZE)
    throw new S3Error(
      'InvalidRequest',
      `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_PUT_SIZE}`,
    );
  const conditions = writeConditions(ctx);
  const source = await ctx.services.objectIo.read(ctx, src.bucket, src.record, undefined, { copySource: true });
  const got = await ctx.services.objectIo.ingest(ctx, source, { bucket, key, copySource: src.record }, algorithm);
  const meta: Pick<ObjectMeta, 'contentType' | 'userMetadata' | 'headers'> =
    directive === 'REPLACE'
      ? metadataFromRequest(ctx)
      : { contentType: src.record.contentType, userMetadata: { ...src.record.userMetadata }, headers: { ...src.record.headers } };
  const objectMeta: ObjectMeta = { ...meta, size: got.size, etag: got.etag ?? got.md5 };
  if (storageClass) objectMeta.storageClass = storageClass;
  if (algorithm && got.checksum) objectMeta.checksum = { algorithm, value: got.checksum, type: 'FULL_OBJECT' };
  if (got.encryption !== undefined) objectMeta.encryption = got.encryption;
  if (got.size !== src.record.size) {
    await ctx.backend.discardBlob(bucket, got.blob);
    throw new S3Error('InternalError', 'The copy source changed while it was read');
  }
  const part: { etag: string; checksum?: string; encryption?: unknown } = { etag: got.etag ?? got.md5 };
  if (got.checksum) part.checksum = got.checksum;
  if (got.partEncryption !== undefined) part.encryption = got.partEncryption;
  const rec = await ctx.backend.putObject(bucket, key, got.blob, objectMeta, part, conditions);
  const headers: Record<string, string> = { ...ctx.services.objectIo.responseHeaders(ctx, rec) };
  if (src.namesVersion) headers['x-amz-copy-source-version-id'] = src.record.versionId;
  if (rec.versionId !== 'null') headers['x-amz-version-id'] = rec.versionId;
  ctx.sendXml(
    200,
    'CopyObjectResult',
    {
      ETag: quoteEtag(rec.etag),
      LastModified: xmlDate(rec.lastModified),
      ...(rec.checksum ? { ChecksumType: rec.checksum.type, [`Checksum${rec.checksum.algorithm}`]: rec.checksum.value } : {}),
    },
    headers,
  );
}
