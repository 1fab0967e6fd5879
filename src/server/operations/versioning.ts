// PutBucketVersioning, GetBucketVersioning, and the version-id request parameter rules the object
// operations share.
import type { BucketInfo } from '../../storage/backend.ts';
import { NULL_VERSION, isValidVersionId } from '../../storage/version-id.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { readCheckedBody } from '../http-util.ts';
import { parseXml, xmlText } from '../../protocol/xml.ts';

/** A version id given by a client (query `versionId`, copy source `?versionId=`, DeleteObjects `<VersionId>`). */
export function checkVersionId(versionId: string, argumentName = 'versionId'): string {
  if (versionId === '')
    throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: argumentName, ArgumentValue: '' });
  if (!isValidVersionId(versionId))
    throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: argumentName, ArgumentValue: versionId });
  return versionId;
}

/** The `versionId` query parameter, validated; undefined when absent. */
export function versionIdParam(ctx: RequestContext): string | undefined {
  const v = ctx.param('versionId');
  return v === undefined ? undefined : checkVersionId(v);
}

/**
 * Whether a response names a version: S3 sends x-amz-version-id for real version ids, and 'null' only
 * where versioning is configured on the bucket (Enabled or Suspended) or the request named the version.
 */
export function reportsVersion(info: BucketInfo, versionId: string | undefined, requested: boolean): boolean {
  if (versionId === undefined) return false;
  return versionId !== NULL_VERSION || requested || info.config.versioning !== undefined;
}

export async function putBucketVersioning(ctx: RequestContext): Promise<void> {
  ctx.operation = 'PutBucketVersioning';
  const bucket = ctx.bucketName;
  await ctx.backend.getBucket(bucket);
  const doc = parseXml(await readCheckedBody(ctx, 64 * 1024), 'VersioningConfiguration');
  const status = xmlText(doc['Status']);
  const mfaDelete = xmlText(doc['MfaDelete']);
  if (status !== undefined && status !== 'Enabled' && status !== 'Suspended') throw new S3Error('MalformedXML');
  if (mfaDelete !== undefined && mfaDelete !== 'Enabled' && mfaDelete !== 'Disabled') throw new S3Error('MalformedXML');
  if (status === undefined && mfaDelete === undefined) throw new S3Error('IllegalVersioningConfigurationException');
  // MFA delete needs MFA devices (and the root account's x-amz-mfa); Kura has none.
  if (mfaDelete === 'Enabled' || ctx.header('x-amz-mfa') !== undefined)
    throw new S3Error('NotImplemented', 'MFA Delete is not implemented');
  await ctx.backend.updateBucketConfig(bucket, (config) => {
    // Once versioned, a bucket is never unversioned again: only Enabled <-> Suspended.
    if (status !== undefined) config.versioning = status;
    if (mfaDelete !== undefined) config.mfaDelete = mfaDelete;
    return config;
  });
  ctx.send(200);
}

export async function getBucketVersioning(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetBucketVersioning';
  const { config } = await ctx.backend.getBucket(ctx.bucketName);
  ctx.sendXml(200, 'VersioningConfiguration', { Status: config.versioning, MfaDelete: config.mfaDelete });
}
