// PutObject, and the body-ingest steps UploadPart shares: length limits, Content-MD5, flexible checksums.
import type { ChecksumAlgorithm, ObjectMeta } from '../../storage/backend.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import type { Ingested, WriteTarget } from '../object-io.ts';
import { checksumHeader, requestedChecksum } from '../../hashing/checksums.ts';
import {
  MAX_PUT_SIZE,
  checkKey,
  checksumHeaders,
  contentMd5,
  declaredLength,
  metadataFromRequest,
  quoteEtag,
  refuseUnsupportedWriteHeaders,
  storageClassFromRequest,
  writeConditions,
} from '../http-util.ts';

export interface IngestedBody extends Ingested {
  checksumAlgorithm?: ChecksumAlgorithm;
}

/**
 * Streams the request body into a staged blob and verifies Content-MD5, the declared length and the
 * x-amz-checksum-* value (header or aws-chunked trailer). On any mismatch the blob is discarded.
 * `forceAlgorithm`: compute this checksum even when the request names none (multipart uploads).
 */
export async function ingestBody(ctx: RequestContext, target: WriteTarget, forceAlgorithm?: ChecksumAlgorithm): Promise<IngestedBody> {
  const length = declaredLength(ctx);
  const te = ctx.header('transfer-encoding');
  if (length === undefined && !te) throw new S3Error('MissingContentLength');
  if (length !== undefined && length > MAX_PUT_SIZE)
    throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(length), MaxSizeAllowed: String(MAX_PUT_SIZE) });
  const md5 = contentMd5(ctx);
  const requested = requestedChecksum(ctx.req.headers);
  if (forceAlgorithm && requested.algorithm && requested.algorithm !== forceAlgorithm) {
    throw new S3Error(
      'InvalidRequest',
      `Checksum Type mismatch occurred, expected checksum Type: ${forceAlgorithm.toLowerCase()}, actual checksum Type: ${requested.algorithm.toLowerCase()}`,
    );
  }
  const algorithm = requested.algorithm ?? forceAlgorithm;
  const got = await ctx.services.objectIo.ingest(ctx, ctx.body(), target, algorithm);
  try {
    if (length !== undefined && got.size !== length) throw new S3Error('IncompleteBody');
    if (got.size > MAX_PUT_SIZE) throw new S3Error('EntityTooLarge');
    if (md5 !== undefined && md5 !== got.md5)
      throw new S3Error('BadDigest', undefined, {
        ExpectedDigest: Buffer.from(md5, 'hex').toString('base64'),
        CalculatedDigest: Buffer.from(got.md5, 'hex').toString('base64'),
      });
    if (algorithm) {
      const expected = requested.inTrailer ? ctx.trailers()[checksumHeader(algorithm)] : requested.value;
      if (requested.inTrailer && expected === undefined)
        throw new S3Error('InvalidRequest', `x-amz-trailer ${checksumHeader(algorithm)} was declared but not sent`);
      if (expected !== undefined && expected !== got.checksum)
        throw new S3Error('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`);
    }
  } catch (e) {
    await ctx.backend.discardBlob(target.bucket, got.blob);
    throw e;
  }
  const out: IngestedBody = { ...got };
  if (algorithm) out.checksumAlgorithm = algorithm;
  return out;
}

export async function putObject(ctx: RequestContext): Promise<void> {
  ctx.operation = 'PutObject';
  const bucket = ctx.bucketName;
  const key = ctx.objectKey;
  checkKey(key);
  await ctx.backend.getBucket(bucket);
  refuseUnsupportedWriteHeaders(ctx);
  const meta = metadataFromRequest(ctx);
  const storageClass = storageClassFromRequest(ctx);
  const conditions = writeConditions(ctx);
  const body = await ingestBody(ctx, { bucket, key });
  const objectMeta: ObjectMeta = { ...meta, size: body.size, etag: body.etag ?? body.md5 };
  if (storageClass) objectMeta.storageClass = storageClass;
  if (body.checksumAlgorithm && body.checksum)
    objectMeta.checksum = { algorithm: body.checksumAlgorithm, value: body.checksum, type: 'FULL_OBJECT' };
  if (body.encryption !== undefined) objectMeta.encryption = body.encryption;
  const part: { etag: string; checksum?: string; encryption?: unknown } = { etag: body.etag ?? body.md5 };
  if (body.checksum) part.checksum = body.checksum;
  if (body.partEncryption !== undefined) part.encryption = body.partEncryption;
  const rec = await ctx.backend.putObject(bucket, key, body.blob, objectMeta, part, conditions);
  ctx.send(200, {
    etag: quoteEtag(rec.etag),
    ...checksumHeaders(rec),
    ...(rec.versionId !== 'null' ? { 'x-amz-version-id': rec.versionId } : {}),
    ...ctx.services.objectIo.responseHeaders(ctx, rec),
  });
}
