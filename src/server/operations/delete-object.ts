// DeleteObject and DeleteObjects.
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { parseXml, xmlText, type XmlObject } from '../../protocol/xml.ts';
import { readCheckedBody } from '../http-util.ts';
import { checkVersionId, reportsVersion, versionIdParam } from './versioning.ts';

export async function deleteObject(ctx: RequestContext): Promise<void> {
  ctx.operation = 'DeleteObject';
  const bucket = ctx.bucketName;
  const versionId = versionIdParam(ctx);
  const info = await ctx.backend.getBucket(bucket);
  const r = await ctx.backend.deleteObject(bucket, ctx.objectKey, versionId);
  const headers: Record<string, string> = {};
  if (r.deleteMarker) headers['x-amz-delete-marker'] = 'true';
  if (reportsVersion(info, r.versionId, versionId !== undefined)) headers['x-amz-version-id'] = r.versionId!;
  ctx.send(204, headers);
}

export async function deleteObjects(ctx: RequestContext): Promise<void> {
  ctx.operation = 'DeleteObjects';
  const bucket = ctx.bucketName;
  const info = await ctx.backend.getBucket(bucket);
  const body = await readCheckedBody(ctx);
  const doc = parseXml(body, 'Delete');
  const quiet = xmlText(doc['Quiet'])?.trim().toLowerCase() === 'true';
  const objects = (doc['Object'] as Record<string, unknown>[] | undefined) ?? [];
  if (objects.length === 0 || objects.length > 1000) throw new S3Error('MalformedXML');
  const deleted: XmlObject[] = [];
  const errors: XmlObject[] = [];
  for (const o of objects) {
    const key = xmlText(o['Key']);
    if (key === undefined) throw new S3Error('MalformedXML');
    const versionId = xmlText(o['VersionId'])?.trim();
    try {
      if (key === '' || Buffer.byteLength(key) > 1024) throw new S3Error('InvalidArgument', 'Invalid key');
      if (versionId !== undefined) checkVersionId(versionId);
      const r = await ctx.backend.deleteObject(bucket, key, versionId);
      if (!quiet) {
        const d: XmlObject = { Key: key };
        if (versionId !== undefined) d['VersionId'] = versionId;
        // DeleteMarkerVersionId: the marker created, or the marker version removed.
        if (r.deleteMarker) {
          d['DeleteMarker'] = true;
          if (reportsVersion(info, r.versionId, versionId !== undefined)) d['DeleteMarkerVersionId'] = r.versionId!;
        }
        deleted.push(d);
      }
    } catch (e) {
      if (!(e instanceof S3Error)) throw e;
      const err: XmlObject = { Key: key, Code: e.code, Message: e.message };
      if (versionId !== undefined) err['VersionId'] = versionId;
      errors.push(err);
    }
  }
  ctx.sendXml(200, 'DeleteResult', { Deleted: deleted, Error: errors });
}
