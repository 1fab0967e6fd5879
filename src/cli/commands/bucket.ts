// `kura mb s3://bucket` and `kura rb s3://bucket [--force]`.
import type { Command } from 'commander';
import { CreateBucketCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { CseError } from '../../cse/errors.ts';
import { CseClient } from '../../cse/client.ts';
import { connectionOptions, parseS3Url, run, s3Client, type S3Options } from './s3-common.ts';

function bucketOf(url: string): string {
  const u = parseS3Url(url);
  if (!u || u.key) throw new CseError('BadArgument', 'expected s3://bucket');
  return u.bucket;
}

export function registerMbCommand(program: Command): void {
  const cmd = program.command('mb').description('make a bucket').argument('<url>', 's3://bucket');
  connectionOptions(cmd);
  cmd.action((url: string, o: S3Options) =>
    run('mb', async () => {
      const Bucket = bucketOf(url);
      const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      await s3Client(o).send(
        new CreateBucketCommand({
          Bucket,
          ...(region && region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
        }),
      );
      process.stdout.write(`make_bucket: ${Bucket}\n`);
    }),
  );
}

export function registerRbCommand(program: Command): void {
  const cmd = program
    .command('rb')
    .description('remove a bucket (--force: its objects first)')
    .argument('<url>', 's3://bucket')
    .option('--force', 'delete every object first');
  connectionOptions(cmd);
  cmd.action((url: string, o: S3Options & { force?: boolean }) =>
    run('rb', async () => {
      const Bucket = bucketOf(url);
      const s3 = s3Client(o);
      if (o.force) {
        const client = new CseClient({ s3, keys: [] });
        const keys: string[] = [];
        for await (const page of client.listObjects(Bucket)) for (const obj of page.Contents ?? []) keys.push(obj.Key!);
        for (const k of keys) await client.deleteObject(Bucket, k);
      }
      await s3.send(new DeleteBucketCommand({ Bucket }));
      process.stdout.write(`remove_bucket: ${Bucket}\n`);
    }),
  );
}
