// `kura ls [s3://bucket[/prefix]]`: buckets, or the objects under a prefix (as `aws s3 ls`).
import type { Command } from 'commander';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { CseError } from '../../cse/errors.ts';
import { connectionOptions, parseS3Url, run, s3Client, type S3Options } from './s3-common.ts';
import { CseClient } from '../../cse/client.ts';

const when = (d?: Date) => (d ? d.toISOString().replace('T', ' ').slice(0, 19) : '                   ');

export function registerLsCommand(program: Command): void {
  const cmd = program
    .command('ls')
    .description('list buckets, or objects under s3://bucket/prefix')
    .argument('[url]', 's3://bucket[/prefix]')
    .option('--recursive', 'list every key under the prefix');
  connectionOptions(cmd);
  cmd.action((url: string | undefined, o: S3Options & { recursive?: boolean }) =>
    run('ls', async () => {
      const s3 = s3Client(o);
      if (!url) {
        const r = await s3.send(new ListBucketsCommand({}));
        for (const b of r.Buckets ?? []) process.stdout.write(`${when(b.CreationDate)} ${b.Name}\n`);
        return;
      }
      const u = parseS3Url(url);
      if (!u) throw new CseError('BadArgument', 'expected s3://bucket[/prefix]');
      const client = new CseClient({ s3, keys: [] });
      for await (const page of client.listObjects(u.bucket, u.key || undefined, o.recursive ? undefined : '/')) {
        for (const p of page.CommonPrefixes ?? [])
          process.stdout.write(`                           PRE ${p.Prefix!.slice(u.key.lastIndexOf('/') + 1)}\n`);
        for (const obj of page.Contents ?? []) {
          const name = o.recursive ? obj.Key! : obj.Key!.slice(u.key.lastIndexOf('/') + 1);
          process.stdout.write(`${when(obj.LastModified)} ${String(obj.Size ?? 0).padStart(10)} ${name}\n`);
        }
      }
    }),
  );
}
