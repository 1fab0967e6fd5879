// CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload,
// ListParts, ListMultipartUploads. Completion makes the part blobs the object's segments: no copying.
import { createHash } from 'node:crypto';
import type { ObjectMeta, PartRecord, UploadMeta, UploadRecord } from '../../storage/backend.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, xmlText, type XmlObject } from '../../protocol/xml.ts';
import {
  checksumElement,
  checksumHeader,
  combineCrcs,
  compositeChecksum,
  parseChecksumAlgorithm,
  supportsFullObject,
} from '../../hashing/checksums.ts';
import {
  MAX_PUT_SIZE,
  MIN_PART_SIZE,
  checkKey,
  encodingType,
  intParam,
  metadataFromRequest,
  quoteEtag,
  refuseUnsupportedWriteHeaders,
  storageClassFromRequest,
  unquoteEtag,
  writeConditions,
  xmlDate,
} from '../http-util.ts';
import { ingestBody } from './put-object.ts';
import { resolveCopySource } from './copy-object.ts';
import { compareKeys } from '../../storage/key-order.ts';

function partNumberParam(ctx: RequestContext): number {
  const v = ctx.param('partNumber') ?? '';
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 10000) {
    throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
      ArgumentName: 'partNumber',
      ArgumentValue: v,
    });
  }
  return Number(v);
}

/** The upload named by ?uploadId, which must belong to this key. */
async function uploadOf(ctx: RequestContext): Promise<UploadRecord> {
  const bucket = ctx.bucketName;
  await ctx.backend.getBucket(bucket);
  const uploadId = ctx.param('uploadId') ?? '';
  const upload = await ctx.backend.getUpload(bucket, uploadId);
  if (upload.key !== ctx.objectKey) throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
  return upload;
}

export async function createMultipartUpload(ctx: RequestContext): Promise<void> {
  ctx.operation = 'CreateMultipartUpload';
  const bucket = ctx.bucketName;
  const key = ctx.objectKey;
  checkKey(key);
  await ctx.backend.getBucket(bucket);
  refuseUnsupportedWriteHeaders(ctx);
  const meta: UploadMeta = metadataFromRequest(ctx);
  const storageClass = storageClassFromRequest(ctx);
  if (storageClass) meta.storageClass = storageClass;
  const algorithm = parseChecksumAlgorithm(ctx.header('x-amz-checksum-algorithm'));
  const type = ctx.header('x-amz-checksum-type')?.toUpperCase();
  if (type !== undefined && type !== 'COMPOSITE' && type !== 'FULL_OBJECT')
    throw new S3Error('InvalidRequest', 'The value specified in the x-amz-checksum-type header is not valid.');
  if (type !== undefined && !algorithm)
    throw new S3Error('InvalidRequest', 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
  if (algorithm) {
    if (type === 'FULL_OBJECT' && !supportsFullObject(algorithm))
      throw new S3Error(
        'InvalidRequest',
        `The FULL_OBJECT checksum type cannot be used with the ${algorithm.toLowerCase()} checksum algorithm.`,
      );
    if (type === 'COMPOSITE' && algorithm === 'CRC64NVME')
      throw new S3Error('InvalidRequest', 'The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.');
    meta.checksumAlgorithm = algorithm;
    // CRC64NVME exists only as a full-object checksum, so it is its default type (AWS: "Checking object integrity").
    meta.checksumType = type === 'FULL_OBJECT' || (type === undefined && algorithm === 'CRC64NVME') ? 'FULL_OBJECT' : 'COMPOSITE';
  }
  const encryption = await ctx.services.objectIo.beginUpload(ctx, bucket, key);
  if (encryption !== undefined) meta.encryption = encryption;
  const upload = await ctx.backend.createUpload(bucket, key, meta);
  const headers: Record<string, string> = { ...ctx.services.objectIo.responseHeaders(ctx, upload) };
  if (algorithm) {
    headers['x-amz-checksum-algorithm'] = algorithm;
    headers['x-amz-checksum-type'] = meta.checksumType!;
  }
  ctx.sendXml(200, 'InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: upload.uploadId }, headers);
}

export async function uploadPart(ctx: RequestContext): Promise<void> {
  ctx.operation = 'UploadPart';
  const partNumber = partNumberParam(ctx);
  const upload = await uploadOf(ctx);
  const bucket = ctx.bucketName;
  const body = await ingestBody(ctx, { bucket, key: upload.key, partNumber, upload }, upload.checksumAlgorithm);
  const part: { size: number; etag: string; checksum?: string; encryption?: unknown } = { size: body.size, etag: body.etag ?? body.md5 };
  if (body.checksum !== undefined) part.checksum = body.checksum;
  if (body.partEncryption !== undefined) part.encryption = body.partEncryption;
  const rec = await ctx.backend.putPart(bucket, upload.uploadId, partNumber, body.blob, part);
  const headers: Record<string, string> = { etag: quoteEtag(rec.etag), ...ctx.services.objectIo.responseHeaders(ctx, upload) };
  if (body.checksumAlgorithm && rec.checksum) headers[checksumHeader(body.checksumAlgorithm)] = rec.checksum;
  ctx.send(200, headers);
}

export async function uploadPartCopy(ctx: RequestContext): Promise<void> {
  ctx.operation = 'UploadPartCopy';
  const partNumber = partNumberParam(ctx);
  const upload = await uploadOf(ctx);
  const bucket = ctx.bucketName;
  const src = await resolveCopySource(ctx);
  const size = src.record.size;
  let range = size > 0 ? { start: 0, end: size - 1 } : undefined;
  const rangeHeader = ctx.header('x-amz-copy-source-range');
  if (rangeHeader !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (!m || Number(m[2]) < Number(m[1])) {
      throw new S3Error(
        'InvalidArgument',
        'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
        { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rangeHeader },
      );
    }
    if (Number(m[2]) >= size)
      throw new S3Error('InvalidRange', `Range specified is not valid for source object of size: ${size}`, {
        RangeRequested: rangeHeader,
        ActualObjectSize: String(size),
      });
    range = { start: Number(m[1]), end: Number(m[2]) };
  }
  const length = range ? range.end - range.start + 1 : 0;
  if (length > MAX_PUT_SIZE)
    throw new S3Error(
      'InvalidRequest',
      `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_PUT_SIZE}`,
    );
  const source = await ctx.services.objectIo.read(ctx, src.bucket, src.record, range, { copySource: true });
  const got = await ctx.services.objectIo.ingest(
    ctx,
    source,
    { bucket, key: upload.key, partNumber, upload, copySource: src.record },
    upload.checksumAlgorithm,
  );
  if (got.size !== length) {
    await ctx.backend.discardBlob(bucket, got.blob);
    throw new S3Error('InternalError', 'The copy source changed while it was read');
  }
  const part: { size: number; etag: string; checksum?: string; encryption?: unknown } = { size: got.size, etag: got.etag ?? got.md5 };
  if (got.checksum !== undefined) part.checksum = got.checksum;
  if (got.partEncryption !== undefined) part.encryption = got.partEncryption;
  const rec = await ctx.backend.putPart(bucket, upload.uploadId, partNumber, got.blob, part);
  const headers: Record<string, string> = { ...ctx.services.objectIo.responseHeaders(ctx, upload) };
  if (src.namesVersion) headers['x-amz-copy-source-version-id'] = src.record.versionId;
  const result: XmlObject = { ETag: quoteEtag(rec.etag), LastModified: xmlDate(rec.lastModified) };
  if (upload.checksumAlgorithm && rec.checksum) result[checksumElement(upload.checksumAlgorithm)] = rec.checksum;
  ctx.sendXml(200, 'CopyPartResult', result, headers);
}

export async function completeMultipartUpload(ctx: RequestContext): Promise<void> {
  ctx.operation = 'CompleteMultipartUpload';
  const upload = await uploadOf(ctx);
  const bucket = ctx.bucketName;
  const conditions = writeConditions(ctx);
  const doc = parseXml(await ctx.readBody(4 * 1024 * 1024), 'CompleteMultipartUpload');
  const requested = (doc['Part'] as Record<string, unknown>[] | undefined) ?? [];
  if (requested.length === 0)
    throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  const stored = new Map((await ctx.backend.listParts(bucket, upload.uploadId)).map((p) => [p.partNumber, p]));
  const chosen: PartRecord[] = [];
  let last = 0;
  for (const p of requested) {
    const numText = xmlText(p['PartNumber'])?.trim() ?? '';
    const etagText = xmlText(p['ETag']);
    if (!/^\d+$/.test(numText) || etagText === undefined) throw new S3Error('MalformedXML');
    const n = Number(numText);
    if (n <= last) throw new S3Error('InvalidPartOrder', undefined, { UploadId: upload.uploadId });
    last = n;
    const part = stored.get(n);
    if (!part || unquoteEtag(etagText) !== part.etag) {
      throw new S3Error('InvalidPart', undefined, { UploadId: upload.uploadId, PartNumber: String(n), ETag: etagText });
    }
    if (upload.checksumAlgorithm) {
      const given = xmlText(p[checksumElement(upload.checksumAlgorithm)])?.trim();
      if (given !== undefined && given !== part.checksum) {
        throw new S3Error('InvalidPart', undefined, { UploadId: upload.uploadId, PartNumber: String(n), ETag: etagText });
      }
    }
    chosen.push(part);
  }
  for (let i = 0; i < chosen.length - 1; i++) {
    const p = chosen[i]!;
    if (p.size < MIN_PART_SIZE) {
      throw new S3Error('EntityTooSmall', undefined, {
        ProposedSize: String(p.size),
        MinSizeAllowed: String(MIN_PART_SIZE),
        PartNumber: String(p.partNumber),
        ETag: quoteEtag(p.etag),
      });
    }
  }
  const md5s = createHash('md5');
  for (const p of chosen) md5s.update(Buffer.from(p.etag, 'hex'));
  const meta: ObjectMeta = {
    size: chosen.reduce((n, p) => n + p.size, 0),
    etag: `${md5s.digest('hex')}-${chosen.length}`,
    contentType: upload.contentType,
    userMetadata: upload.userMetadata,
    headers: upload.headers,
  };
  if (upload.storageClass) meta.storageClass = upload.storageClass;
  if (upload.encryption !== undefined) meta.encryption = upload.encryption;
  if (upload.checksumAlgorithm && chosen.every((p) => p.checksum)) {
    const alg = upload.checksumAlgorithm;
    meta.checksum =
      upload.checksumType === 'FULL_OBJECT'
        ? {
            algorithm: alg,
            value: combineCrcs(
              alg,
              chosen.map((p) => ({ checksum: p.checksum!, size: p.size })),
            ),
            type: 'FULL_OBJECT',
          }
        : {
            algorithm: alg,
            value: compositeChecksum(
              alg,
              chosen.map((p) => p.checksum!),
            ),
            type: 'COMPOSITE',
          };
    // A whole-object checksum sent with the completion request must match.
    const given = ctx.header(checksumHeader(alg));
    if (given !== undefined && given !== meta.checksum.value.replace(/-\d+$/, '') && given !== meta.checksum.value) {
      throw new S3Error('BadDigest', `The ${alg} you specified did not match the calculated checksum.`);
    }
  }
  const rec = await ctx.backend.completeUpload(bucket, upload.uploadId, chosen, meta, conditions);
  const headers: Record<string, string> = { ...ctx.services.objectIo.responseHeaders(ctx, rec) };
  if (rec.versionId !== 'null') headers['x-amz-version-id'] = rec.versionId;
  const proto = ctx.secure ? 'https' : 'http';
  const result: XmlObject = {
    Location: `${proto}://${ctx.header('host') ?? 'localhost'}/${bucket}/${encodeURIComponent(upload.key).replace(/%2F/g, '/')}`,
    Bucket: bucket,
    Key: upload.key,
    ETag: quoteEtag(rec.etag),
  };
  if (rec.checksum) {
    result[checksumElement(rec.checksum.algorithm)] = rec.checksum.value;
    result['ChecksumType'] = rec.checksum.type;
  }
  ctx.sendXml(200, 'CompleteMultipartUploadResult', result, headers);
}

export async function abortMultipartUpload(ctx: RequestContext): Promise<void> {
  ctx.operation = 'AbortMultipartUpload';
  const upload = await uploadOf(ctx);
  await ctx.backend.abortUpload(ctx.bucketName, upload.uploadId);
  ctx.send(204);
}

export async function listParts(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListParts';
  const upload = await uploadOf(ctx);
  const maxParts = intParam(ctx, 'max-parts', 1000, 0, 1000);
  const marker = intParam(ctx, 'part-number-marker', 0, 0, 10000, false);
  const all = (await ctx.backend.listParts(ctx.bucketName, upload.uploadId)).filter((p) => p.partNumber > marker);
  const parts = all.slice(0, maxParts);
  const truncated = all.length > parts.length;
  const alg = upload.checksumAlgorithm;
  ctx.sendXml(200, 'ListPartsResult', {
    Bucket: ctx.bucketName,
    Key: upload.key,
    UploadId: upload.uploadId,
    Initiator: ctx.owner,
    Owner: ctx.owner,
    StorageClass: upload.storageClass ?? 'STANDARD',
    PartNumberMarker: marker,
    NextPartNumberMarker: parts.length ? parts[parts.length - 1]!.partNumber : undefined,
    MaxParts: maxParts,
    IsTruncated: truncated,
    ChecksumAlgorithm: alg,
    ChecksumType: upload.checksumType,
    Part: parts.map((p) => ({
      PartNumber: p.partNumber,
      LastModified: xmlDate(p.lastModified),
      ETag: quoteEtag(p.etag),
      Size: p.size,
      ...(alg && p.checksum ? { [checksumElement(alg)]: p.checksum } : {}),
    })),
  });
}

export async function listMultipartUploads(ctx: RequestContext): Promise<void> {
  ctx.operation = 'ListMultipartUploads';
  const bucket = ctx.bucketName;
  const enc = encodingType(ctx);
  const maxUploads = intParam(ctx, 'max-uploads', 1000, 0, 1000);
  const prefix = ctx.param('prefix') ?? '';
  const delimiter = ctx.param('delimiter') ?? '';
  const keyMarker = ctx.param('key-marker') ?? '';
  const uploadIdMarker = ctx.param('upload-id-marker') ?? '';
  await ctx.backend.getBucket(bucket);
  const uploads = (await ctx.backend.listUploads(bucket)).filter((u) => u.key.startsWith(prefix));
  const out: UploadRecord[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  let lastKey: string | undefined;
  let lastUpload: string | undefined;
  let markerPassed = !keyMarker;
  for (const u of uploads) {
    if (!markerPassed) {
      const c = compareKeys(u.key, keyMarker);
      if (c < 0) continue;
      // With an upload-id-marker, uploads of the marker key after that id follow; without one, the key is done.
      if (c === 0) {
        if (!uploadIdMarker) continue;
        if (u.uploadId === uploadIdMarker) markerPassed = true;
        continue;
      }
      markerPassed = true;
    }
    const d = delimiter ? u.key.indexOf(delimiter, prefix.length) : -1;
    if (d >= 0) {
      const cp = u.key.slice(0, d + delimiter.length);
      if (prefixes[prefixes.length - 1] === cp || (keyMarker && compareKeys(cp, keyMarker) <= 0)) continue;
      if (out.length + prefixes.length >= maxUploads) {
        truncated = true;
        break;
      }
      prefixes.push(cp);
      lastKey = cp;
      lastUpload = undefined;
      continue;
    }
    if (out.length + prefixes.length >= maxUploads) {
      truncated = true;
      break;
    }
    out.push(u);
    lastKey = u.key;
    lastUpload = u.uploadId;
  }
  ctx.sendXml(200, 'ListMultipartUploadsResult', {
    Bucket: bucket,
    KeyMarker: enc(keyMarker),
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: truncated && lastKey !== undefined ? enc(lastKey) : undefined,
    NextUploadIdMarker: truncated ? lastUpload : undefined,
    Prefix: enc(prefix),
    Delimiter: delimiter ? enc(delimiter) : undefined,
    MaxUploads: maxUploads,
    EncodingType: ctx.param('encoding-type') !== undefined ? 'url' : undefined,
    IsTruncated: truncated,
    Upload: out.map((u) => ({
      Key: enc(u.key),
      UploadId: u.uploadId,
      Initiator: ctx.owner,
      Owner: ctx.owner,
      StorageClass: u.storageClass ?? 'STANDARD',
      Initiated: xmlDate(u.initiated),
      ...(u.checksumAlgorithm ? { ChecksumAlgorithm: u.checksumAlgorithm, ChecksumType: u.checksumType } : {}),
    })),
    CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p) })),
  });
}
