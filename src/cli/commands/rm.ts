// `kura rm s3://bucket/key` (or a whole prefix with --recursive).
import type { Command } from 'commander';
import { CseError } from '../../cse/errors.ts';
import { CseClient } from '../../cse/client.ts';
import { connectionOptions, parseS3Url, run, s3Client, type S3Options } from './s3-common.ts';

export function registerRmCommand(program: Command): void {
  const cmd = program
    .command('rm')
    .description('delete an object, or every object under a prefix with --recursive')
    .argument('<url>', 's3://bucket/key')
    .option('--recursive', 'delete every key under the prefix');
  connectionOptions(cmd);
  cmd.action((url: string, o: S3Options & { recursive?: boolean }) =>
    run('rm', async () => {
      const u = parseS3Url(url);
      if (!u || (!u.key && !o.recursive)) throw new CseError('BadArgument', 'expected s3://bucket/key');
      const client = new CseClient({ s3: s3Client(o), keys: [] });
      if (!o.recursive) {
        await client.deleteObject(u.bucket, u.key);
        process.stdout.write(`delete: s3://${u.bucket}/${u.key}\n`);
        return;
      }
      const keys: string[] = [];
      for await (const page of client.listObjects(u.bucket, u.key || undefined)) for (const obj of page.Contents ?? []) keys.push(obj.Key!);
      for (const k of keys) {
        await client.deleteObject(u.bucket, k);
        process.stdout.write(`delete: s3://${u.bucket}/${k}\n`);
      }
    }),
  );
}
