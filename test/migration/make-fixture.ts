// Makes test/migration/fixture-v0/: a data dir written by the release before the metadata engine
// (commit f6040d0: one JSON file per key). Run once with THAT code checked out:
//   node --import tsx test/migration/make-fixture.ts <out-dir>
// It writes <out-dir>/data (the data dir, with its .kura root key, credentials and KMS keys) and
// <out-dir>/expected.json (what the migration test reads back). Kept for the record; the fixture is committed.
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { startKura } from '../helpers/server.ts';
import { newKey, ssecParams } from '../sse/helpers.ts';

const out = resolve(process.argv[2] ?? 'test/migration/fixture-v0');
const dataDir = join(out, 'data');
await rm(out, { recursive: true, force: true });
await mkdir(dataDir, { recursive: true });
const srv = await startKura({ dataDir });
const s3 = srv.client();
const s3tls = srv.client({ https: true });
process.on('uncaughtException', (e) => {
  console.error(e);
  void srv.kill9().then(() => process.exit(1));
});
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const body = (n: number, seed: string) => {
  const chunks: Buffer[] = [];
  for (let i = 0; chunks.length * 32 < n; i++) chunks.push(createHash('sha256').update(`${seed}${i}`).digest());
  return Buffer.concat(chunks).subarray(0, n);
};
const expected: { objects: unknown[]; uploads: unknown[]; ssecKey: string; kmsKeyId: string } = {
  objects: [],
  uploads: [],
  ssecKey: '',
  kmsKeyId: '',
};

const kms = new KMSClient({ endpoint: srv.endpoint, region: 'us-east-1', credentials: { ...srv.credentials }, maxAttempts: 1 });
const kmsKey = (await kms.send(new CreateKeyCommand({ Description: 'fixture' }))).KeyMetadata!.KeyId!;
const ssec = newKey(body(32, 'ssec-key'));
expected.ssecKey = ssec.b64;
expected.kmsKeyId = kmsKey;

await s3.send(new CreateBucketCommand({ Bucket: 'plain' }));
const put = async (bucket: string, key: string, data: Buffer, extra: Record<string, unknown> = {}, sse?: string) => {
  const r = await s3tls.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: data,
      ContentType: 'text/x-fixture',
      Metadata: { colour: `blue-${expected.objects.length}` },
      ...extra,
    }),
  );
  expected.objects.push({ bucket, key, versionId: r.VersionId ?? null, md5: md5(data), size: data.length, sse: sse ?? null });
};
await put('plain', 'a.txt', Buffer.from('hello, old kura\n'));
await put('plain', 'dir/sub/b.bin', body(70_000, 'b'));
await put('plain', 'ünïcødé/ключ 🔑', body(1000, 'u'));
await put('plain', 'sse-s3', body(5000, 's3'), { ServerSideEncryption: 'AES256' });
await put('plain', 'sse-c', body(5000, 'c'), { ...ssecParams(ssec) }, 'C');
await put('plain', 'sse-kms', body(5000, 'k'), { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey });
await put('plain', 'empty', Buffer.alloc(0));
const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'plain', Key: 'pending/mpu', ContentType: 'application/x-pending' }));
const partBody = body(3000, 'part1');
await s3.send(new UploadPartCommand({ Bucket: 'plain', Key: 'pending/mpu', UploadId: up.UploadId!, PartNumber: 1, Body: partBody }));
expected.uploads.push({
  bucket: 'plain',
  key: 'pending/mpu',
  uploadId: up.UploadId,
  parts: [{ partNumber: 1, md5: md5(partBody), size: partBody.length }],
});

await s3.send(new CreateBucketCommand({ Bucket: 'ver' }));
await put('ver', 'k', Buffer.from('null version before versioning'));
await s3.send(new PutBucketVersioningCommand({ Bucket: 'ver', VersioningConfiguration: { Status: 'Enabled' } }));
for (let i = 1; i <= 3; i++) await put('ver', 'k', Buffer.from(`version ${i}`));
await put('ver', 'gone', Buffer.from('deleted later'));
const del = await s3.send(new DeleteObjectCommand({ Bucket: 'ver', Key: 'gone' }));
expected.objects.push({ bucket: 'ver', key: 'gone', versionId: del.VersionId, deleteMarker: true });
await put('ver', 'kms-versioned', body(2000, 'kv'), { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKey });

await srv.stop({ keepData: true });
// Regenerated on start; no need to keep them.
for (const f of ['tls-cert.pem', 'tls-key.pem', 'audit.log', 'tmp']) await rm(join(dataDir, '.kura', f), { recursive: true, force: true });
await writeFile(join(out, 'expected.json'), JSON.stringify(expected, null, 1) + '\n');
console.log(`fixture written to ${out}`);
