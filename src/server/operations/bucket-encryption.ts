// PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption (?encryption on a bucket).
// The document model lives in src/sse/bucket-encryption.ts; writes apply it (src/sse/).
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { readCheckedBody } from '../http-util.ts';
import { bucketEncryptionOf, encryptionConfigurationXml, parseEncryptionConfiguration } from '../../sse/bucket-encryption.ts';

export async function putBucketEncryption(ctx: RequestContext): Promise<void> {
  ctx.operation = 'PutBucketEncryption';
  const bucket = ctx.bucketName;
  await ctx.backend.getBucket(bucket);
  const config = parseEncryptionConfiguration(await readCheckedBody(ctx, 64 * 1024));
  await ctx.backend.updateBucketConfig(bucket, (c) => ({ ...c, encryption: config }));
  ctx.send(200);
}

export async function getBucketEncryption(ctx: RequestContext): Promise<void> {
  ctx.operation = 'GetBucketEncryption';
  const bucket = ctx.bucketName;
  const info = await ctx.backend.getBucket(bucket);
  const config = bucketEncryptionOf(info.config);
  if (!config) throw new S3Error('ServerSideEncryptionConfigurationNotFoundError', undefined, { BucketName: bucket });
  ctx.sendXml(200, 'ServerSideEncryptionConfiguration', encryptionConfigurationXml(config));
}

export async function deleteBucketEncryption(ctx: RequestContext): Promise<void> {
  ctx.operation = 'DeleteBucketEncryption';
  const bucket = ctx.bucketName;
  await ctx.backend.getBucket(bucket);
  await ctx.backend.updateBucketConfig(bucket, (c) => {
    const { encryption: _dropped, ...rest } = c;
    return rest as typeof c;
  });
  ctx.send(204);
}
