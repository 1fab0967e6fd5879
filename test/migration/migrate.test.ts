// A data dir written by the release before the metadata engine (test/migration/fixture-v0, made by
// make-fixture.ts with that code: one JSON file per key, blobs per bucket, a pending multipart upload,
// a versioned bucket with a null version and a delete marker, SSE-S3/SSE-C/SSE-KMS objects) opens with
// this version: converted at first start, everything read back byte-exact, the old files gone. Its KMS
// key store (files in .kura/kms: the customer key the SSE-KMS objects use, Kura's SSE-S3 key and its
// alias) is imported into the metadata store: those objects still decrypt, the keys still work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  CompleteMultipartUploadCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { KMSClient, DescribeKeyCommand, DecryptCommand, EncryptCommand, ListAliasesCommand } from '@aws-sdk/client-kms';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecParams } from '../sse/helpers.ts';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixture-v0');
interface Expected {
  objects: {
    bucket: string;
    key: string;
    versionId: string | null;
    md5?: string;
    size?: number;
    sse?: string | null;
    deleteMarker?: boolean;
  }[];
  uploads: { bucket: string; key: string; uploadId: string; parts: { partNumber: number; md5: string; size: number }[] }[];
  ssecKey: string;
  kmsKeyId: string;
}
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

test('a data dir of the file-per-key release is migrated at first start, without loss', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kura-migrate-'));
  await cp(join(FIXTURE, 'data'), dataDir, { recursive: true });
  assert.deepEqual((await readdir(join(dataDir, '.kura', 'kms', 'keys'))).length, 2, 'the fixture has a file key store');
  let srv = await startKura({ dataDir });
  const kmsOf = (s: KuraServer) =>
    new KMSClient({ endpoint: s.endpoint, region: 'us-east-1', credentials: { ...s.credentials }, maxAttempts: 1 });
  try {
    const s3 = srv.client({ https: true });
    const ssec = newKey(Buffer.from(expected.ssecKey, 'base64'));
    const readAll = async () => {
      for (const o of expected.objects) {
        const params = {
          Bucket: o.bucket,
          Key: o.key,
          ...(o.bucket === 'ver' ? { VersionId: o.versionId ?? 'null' } : {}),
          ...(o.sse === 'C' ? ssecParams(ssec) : {}),
        };
        if (o.deleteMarker) {
          await assert.rejects(
            s3.send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key })),
            (e: unknown) => e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404,
          );
          continue;
        }
        const r = await s3.send(new GetObjectCommand(params));
        const body = await collect(r.Body);
        assert.equal(body.length, o.size, `${o.bucket}/${o.key}@${o.versionId}`);
        assert.equal(md5(body), o.md5, `${o.bucket}/${o.key}@${o.versionId}`);
        assert.equal(r.ContentType, 'text/x-fixture');
        assert.match(r.Metadata?.colour ?? '', /^blue-\d+$/);
      }
    };
    await readAll();
    const plainKeys = (await s3.send(new ListObjectsV2Command({ Bucket: 'plain' }))).Contents!.map((c) => c.Key);
    assert.deepEqual(
      plainKeys,
      expected.objects
        .filter((o) => o.bucket === 'plain')
        .map((o) => o.key)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'ver' }));
    const k = versions.Versions!.filter((v) => v.Key === 'k');
    // Newest first: version 3, 2, 1, then the null version written before versioning was enabled.
    assert.deepEqual(
      k.map((v) => v.VersionId),
      [...expected.objects.filter((o) => o.bucket === 'ver' && o.key === 'k').map((o) => o.versionId ?? 'null')].reverse(),
    );
    assert.deepEqual(
      k.map((v) => v.IsLatest),
      [true, false, false, false],
    );
    assert.equal(versions.DeleteMarkers?.length, 1);
    // The pending upload survives and completes.
    const u = expected.uploads[0]!;
    const ups = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'plain' }));
    assert.deepEqual(
      ups.Uploads?.map((x) => x.UploadId),
      [u.uploadId],
    );
    const parts = await s3.send(new ListPartsCommand({ Bucket: 'plain', Key: u.key, UploadId: u.uploadId }));
    assert.equal(parts.Parts?.[0]?.ETag, `"${u.parts[0]!.md5}"`);
    // The KMS keys were imported: the customer key is Enabled and encrypts, the SSE-S3 alias is kept.
    const kms = kmsOf(srv);
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: expected.kmsKeyId }))).KeyMetadata?.KeyState, 'Enabled');
    const sealed = (await kms.send(new EncryptCommand({ KeyId: expected.kmsKeyId, Plaintext: Buffer.from('after migration') })))
      .CiphertextBlob!;
    assert.ok((await kms.send(new ListAliasesCommand({}))).Aliases?.some((a) => a.AliasName === 'alias/kura/sse-s3'));
    kms.destroy();
    // The old layout is gone (also the KMS files, removed once imported), the migration was logged.
    assert.deepEqual((await readdir(dataDir)).sort(), ['.kura']);
    assert.ok(!(await readdir(join(dataDir, '.kura'))).includes('kms'), 'the file key store is removed after the import');
    assert.ok(
      srv.stdout.some((l) => l.includes('migrated bucket')),
      'migration logged',
    );
    await srv.stop({ keepData: true });
    srv = await startKura({ dataDir });
    const s3b = srv.client({ https: true });
    await s3b.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'plain',
        Key: u.key,
        UploadId: u.uploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: `"${u.parts[0]!.md5}"` }] },
      }),
    );
    assert.equal(md5(await collect((await s3b.send(new GetObjectCommand({ Bucket: 'plain', Key: u.key }))).Body)), u.parts[0]!.md5);
    // The SSE-KMS and SSE-S3 objects and the KMS blob made after the import still open after a restart.
    for (const key of ['sse-kms', 'sse-s3']) {
      const o = expected.objects.find((x) => x.bucket === 'plain' && x.key === key)!;
      assert.equal(md5(await collect((await s3b.send(new GetObjectCommand({ Bucket: 'plain', Key: key }))).Body)), o.md5);
    }
    const kms2 = kmsOf(srv);
    assert.equal(Buffer.from((await kms2.send(new DecryptCommand({ CiphertextBlob: sealed }))).Plaintext!).toString(), 'after migration');
    kms2.destroy();
    assert.equal(
      srv.stdout.some((l) => l.includes('migrated bucket')),
      false,
      'nothing left to migrate at the second start',
    );
  } finally {
    await srv.stop({ keepData: true });
    await rm(dataDir, { recursive: true, force: true });
  }
});
