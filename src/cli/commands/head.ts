// `kura head s3://bucket/key`: size, type, and how the object is encrypted (none, SSE-S3, SSE-KMS with its
// key, SSE-C, and/or client-side with format and key description). Needs no key.
import type { Command } from 'commander';
import { CseError } from '../../cse/errors.ts';
import { CseClient } from '../../cse/client.ts';
import { connectionOptions, parseS3Url, run, s3Client, sseFrom, type S3Options } from './s3-common.ts';

export function registerHeadCommand(program: Command): void {
  const cmd = program
    .command('head')
    .description("show an object's size and how it is encrypted")
    .argument('<url>', 's3://bucket/key')
    .option('--sse-c-key <FILE>', 'SSE-C customer key file, for SSE-C objects')
    .option('--json', 'machine-readable output');
  connectionOptions(cmd);
  cmd.action((url: string, o: S3Options & { json?: boolean }) =>
    run('head', async () => {
      const u = parseS3Url(url);
      if (!u || !u.key) throw new CseError('BadArgument', 'expected s3://bucket/key');
      const client = new CseClient({ s3: s3Client(o), keys: [] });
      const h = await client.headObject(u.bucket, u.key, await sseFrom(o));
      const cse = h.encryption
        ? `${h.encryption.format} (${h.encryption.algorithm}${h.encryption.wrapAlgorithm ? `, key wrap ${h.encryption.wrapAlgorithm}` : ''}); keys: ${h.encryption.keys}`
        : 'none';
      const info = {
        url,
        size: h.head.ContentLength ?? 0,
        plaintextSize: h.plainSize,
        etag: h.head.ETag,
        lastModified: h.head.LastModified?.toISOString(),
        contentType: h.head.ContentType,
        serverSideEncryption: h.sse,
        clientSideEncryption: cse,
      };
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ ...info, cse: h.encryption ?? null })}\n`);
        return;
      }
      process.stdout.write(
        [
          `${url}`,
          `  size:                   ${info.size}${h.plainSize !== undefined && h.plainSize !== info.size ? ` (plaintext ${h.plainSize})` : ''}`,
          `  etag:                   ${info.etag ?? ''}`,
          `  last-modified:          ${info.lastModified ?? ''}`,
          `  content-type:           ${info.contentType ?? ''}`,
          `  server-side encryption: ${info.serverSideEncryption}`,
          `  client-side encryption: ${cse}`,
        ].join('\n') + '\n',
      );
    }),
  );
}
