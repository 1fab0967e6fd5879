// Read-only answers for configurations Kura does not support: every bucket and object is private to
// its owner and has no policy, CORS, lifecycle, website or tags, so the truthful answer is "none".
// Writing any of them stays 501 NotImplemented (no route).
import type { RequestContext } from '../context.ts';
import { S3Error, type S3ErrorCode } from '../errors.ts';

const ACL_NS = 'http://www.w3.org/2001/XMLSchema-instance';

function ownerOnlyAcl(ctx: RequestContext): void {
  const owner = ctx.owner;
  ctx.sendXml(200, 'AccessControlPolicy', {
    Owner: owner,
    AccessControlList: {
      Grant: [
        {
          Grantee: { '@_xmlns:xsi': ACL_NS, '@_xsi:type': 'CanonicalUser', ID: owner.ID, DisplayName: owner.DisplayName },
          Permission: 'FULL_CONTROL',
        },
      ],
    },
  });
}

export async function getBucketAcl(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetBucketAcl';
  await ctx.backend.getBucket(ctx.bucketName);
  ownerOnlyAcl(ctx);
}

export async function getObjectAcl(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetObjectAcl';
  await ctx.backend.headObject(ctx.bucketName, ctx.objectKey, ctx.param('versionId'));
  ownerOnlyAcl(ctx);
}

export async function getObjectTagging(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetObjectTagging';
  const rec = await ctx.backend.headObject(ctx.bucketName, ctx.objectKey, ctx.param('versionId'));
  ctx.sendXml(200, 'Tagging', { TagSet: '' }, rec.versionId !== 'null' ? { 'x-amz-version-id': rec.versionId } : {});
}

/** GET ?policy / ?cors / ?lifecycle / ?website / ?tagging on a bucket: the S3 "not configured" error. */
export function notConfigured(operation: string, code: S3ErrorCode) {
  return async (ctx: RequestContext): Promise<void> => {
    ctx.operation = operation;
    await ctx.backend.getBucket(ctx.bucketName);
    throw new S3Error(code, undefined, { BucketName: ctx.bucketName });
  };
}
