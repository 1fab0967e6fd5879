// `kura cp SRC DST`: local → S3, S3 → local, S3 → S3, with client-side (--cse-key) and server-side (--sse*)
// encryption, --recursive, resumable transfers (--resume) and a progress bar on a terminal.
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { CseClient } from '../../cse/client.ts';
import { CseError } from '../../cse/errors.ts';
import { connectionOptions, cseClient, cseOptions, parseS3Url, run, sseOptions, sseFrom, type S3Options, type S3Url } from './s3-common.ts';
import { progressBar } from './progress.ts';

interface CpOptions extends S3Options {
  recursive?: boolean;
  resume?: boolean;
  range?: string;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

function parseRange(r: string | undefined): { start: number; end?: number } | undefined {
  if (r === undefined) return undefined;
  const m = /^(?:bytes=)?(\d+)-(\d*)$/.exec(r);
  if (!m) throw new CseError('BadArgument', '--range must be START-END (bytes, inclusive)');
  return { start: Number(m[1]), end: m[2] ? Number(m[2]) : undefined };
}

export function registerCpCommand(program: Command): void {
  const cmd = program
    .command('cp')
    .description('copy files and objects, encrypting client-side with --cse-key')
    .argument('<src>', 'local path, - (stdin) or s3://bucket/key')
    .argument('<dst>', 'local path, - (stdout) or s3://bucket/key')
    .option('--recursive', 'copy a directory tree or a key prefix')
    .option('--resume', 'resumable transfer: keep a checkpoint (<file>.kura-checkpoint) and continue an interrupted one')
    .option('--range <START-END>', 'download only these plaintext bytes')
    .option('--concurrency <n>', 'parts in flight at once', '4')
    .option('--part-size <bytes>', 'multipart part size (default 8 MiB)')
    .option('--quiet', 'no progress bar');
  connectionOptions(cmd);
  cseOptions(cmd);
  sseOptions(cmd);
  cmd.action((src: string, dst: string, o: CpOptions) => run('cp', () => cp(src, dst, o)));
}

async function cp(src: string, dst: string, o: CpOptions): Promise<void> {
  const from = parseS3Url(src),
    to = parseS3Url(dst);
  const client = await cseClient(o);
  const sse = await sseFrom(o);
  if (!from && !to) throw new CseError('BadArgument', 'one of SRC and DST must be an s3:// URL');
  if (from && to) return copyRemote(client, from, to, o, sse);
  if (to) {
    if (o.recursive) {
      const files = await walk(src);
      for (const f of files)
        await upload(client, f, { bucket: to.bucket, key: joinKey(to.key, relative(src, f).split(sep).join('/')) }, o, sse);
      return;
    }
    const key = to.key === '' || to.key.endsWith('/') ? to.key + basename(src) : to.key;
    return upload(client, src, { bucket: to.bucket, key }, o, sse);
  }
  if (o.recursive) {
    for await (const page of client.listObjects(from!.bucket, from!.key || undefined)) {
      for (const obj of page.Contents ?? []) {
        const rel = obj.Key!.slice(from!.key.length).replace(/^\//, '');
        await download(client, { bucket: from!.bucket, key: obj.Key! }, join(dst, ...rel.split('/')), o, sse);
      }
    }
    return;
  }
  let out = dst;
  if (
    dst !== '-' &&
    (dst.endsWith('/') ||
      dst.endsWith(sep) ||
      (await stat(dst).then(
        (s) => s.isDirectory(),
        () => false,
      )))
  )
    out = join(dst, basename(from!.key));
  return download(client, from!, out, o, sse);
}

const joinKey = (prefix: string, rel: string) => (prefix === '' || prefix.endsWith('/') ? prefix + rel : `${prefix}/${rel}`);

async function upload(client: CseClient, path: string, to: S3Url, o: CpOptions, sse: Awaited<ReturnType<typeof sseFrom>>): Promise<void> {
  const bar = progressBar(`upload ${path === '-' ? 'stdin' : basename(path)}`, o.quiet);
  try {
    if (!client.keys.length) {
      // No client-side key: a plain (optionally SSE) upload.
      const { Upload } = await import('@aws-sdk/lib-storage');
      const body = path === '-' ? process.stdin : createReadStream(path);
      const total = path === '-' ? undefined : (await stat(path)).size;
      const up = new Upload({
        client: client.s3,
        queueSize: client.concurrency,
        partSize: Math.max(client.partSize, 5 * 1024 * 1024),
        params: {
          Bucket: to.bucket,
          Key: to.key,
          Body: body,
          ServerSideEncryption: sse?.ServerSideEncryption,
          SSEKMSKeyId: sse?.SSEKMSKeyId,
          ...(sse?.SSECustomerKey ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sse.SSECustomerKey as unknown as string } : {}),
        },
      });
      up.on('httpUploadProgress', (p) => bar.update(p.loaded ?? 0, total));
      await up.done();
      return;
    }
    if (path === '-') {
      await client.putObject(to.bucket, to.key, process.stdin, { sse, onProgress: bar.onProgress });
      return;
    }
    await client.uploadFile(path, to.bucket, to.key, {
      sse,
      checkpoint: o.resume ? `${path}.kura-checkpoint` : undefined,
      onProgress: bar.onProgress,
    });
  } finally {
    bar.stop();
  }
}

async function download(
  client: CseClient,
  from: S3Url,
  out: string,
  o: CpOptions,
  sse: Awaited<ReturnType<typeof sseFrom>>,
): Promise<void> {
  const range = parseRange(o.range);
  if (out === '-') {
    const r = await client.getObject(from.bucket, from.key, { range, sse });
    await pipeline(r.Body, process.stdout);
    return;
  }
  await mkdir(dirname(out), { recursive: true });
  const bar = progressBar(`download ${basename(out)}`, o.quiet);
  try {
    await client.downloadFile(from.bucket, from.key, out, {
      range,
      sse,
      checkpoint: o.resume ? `${out}.kura-checkpoint` : undefined,
      onProgress: bar.onProgress,
    });
  } finally {
    bar.stop();
  }
}

async function copyRemote(
  client: CseClient,
  from: S3Url,
  to: S3Url,
  o: CpOptions,
  sse: Awaited<ReturnType<typeof sseFrom>>,
): Promise<void> {
  // Server-side copy: the client-side encryption metadata travels with the object.
  if (!o.recursive) {
    const key = to.key === '' || to.key.endsWith('/') ? to.key + basename(from.key) : to.key;
    await client.copyObject({ Bucket: from.bucket, Key: from.key }, { Bucket: to.bucket, Key: key }, sse);
    return;
  }
  for await (const page of client.listObjects(from.bucket, from.key || undefined)) {
    for (const obj of page.Contents ?? []) {
      const rel = obj.Key!.slice(from.key.length).replace(/^\//, '');
      await client.copyObject({ Bucket: from.bucket, Key: obj.Key! }, { Bucket: to.bucket, Key: joinKey(to.key, rel) }, sse);
    }
  }
}
