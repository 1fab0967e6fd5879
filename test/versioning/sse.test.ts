// Encryption per version: every version of a key keeps its own stored encryption record (mode, key
// fingerprint or KMS key, sealed data key), reads need that version's key, and re-keying by copy makes a
// new version. Against a real `kura server` over HTTPS (SSE-C requires TLS), with @aws-sdk/client-s3 and
// @aws-sdk/client-kms (the server's built-in KMS).
import { storedVersions as metaVersions } from '../helpers/meta.ts';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  CopyObjectCommand,
  PutBucketVersioningCommand,
  ListObjectVersionsCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { KMSClient, CreateKeyCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecParams, type TestKey } from '../sse/helpers.ts';

async function s3Error(p: Promise<unknown>): Promise<{ code: string; status: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { code: e.name, status: e.$metadata.httpStatusCode ?? 0 };
    throw e;
  }
  assert.fail('expected an S3 error');
}

interface StoredVersion {
  versionId: string;
  encryption?: { mode: string; fingerprint?: string; salt?: string; keyArn?: string };
  parts: { ref: string; encryption?: { sealedKey: string; nonce: string } }[];
}

/** Every stored version of a key, from the metadata store (newest first). */
async function storedVersions(dataDir: string, bucket: string, key: string): Promise<StoredVersion[]> {
  return (await metaVersions(dataDir, bucket, key)) as unknown as StoredVersion[];
}

describe('versioning: encryption per version', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const bucket = 'vsse';
  const keyA = newKey();
  const keyB = newKey();
  const keyC = newKey();
  const body = { v1: randomBytes(70_000), v2: randomBytes(1000), v3: randomBytes(5000), v4: randomBytes(300) };
  let v1: string;
  let v2: string;
  let v3: string;
  let v4: string;
  let kms: KMSClient;
  let kmsKeyArn: string;

  const get = async (versionId: string, k?: TestKey): Promise<Buffer> =>
    collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: versionId, ...(k ? ssecParams(k) : {}) }))).Body);

  before(async () => {
    srv = await startKura();
    s3 = srv.client({ https: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    v1 = (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: body.v1, ...ssecParams(keyA) }))).VersionId!;
    v2 = (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: body.v2, ...ssecParams(keyB) }))).VersionId!;
    kms = new KMSClient({ endpoint: srv.endpoint, region: 'us-east-1', credentials: { ...srv.credentials }, maxAttempts: 1 });
    kmsKeyArn = (await kms.send(new CreateKeyCommand({ Description: 'version 3' }))).KeyMetadata!.Arn!;
    const p3 = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: body.v3, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyArn }),
    );
    assert.equal(p3.ServerSideEncryption, 'aws:kms');
    assert.equal(p3.SSEKMSKeyId, kmsKeyArn);
    v3 = p3.VersionId!;
    const p4 = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc', Body: body.v4, ServerSideEncryption: 'AES256' }));
    assert.equal(p4.ServerSideEncryption, 'AES256');
    v4 = p4.VersionId!;
  });
  after(async () => {
    s3?.destroy();
    kms?.destroy();
    await srv?.stop();
  });

  test('SSE-C key A, SSE-C key B, SSE-KMS, SSE-S3: each version reads back only with its own key', async () => {
    assert.equal(new Set([v1, v2, v3, v4]).size, 4);
    assert.deepEqual(await get(v1, keyA), body.v1);
    assert.deepEqual(await get(v2, keyB), body.v2);
    const kmsVersion = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: v3 }));
    assert.equal(kmsVersion.ServerSideEncryption, 'aws:kms');
    assert.equal(kmsVersion.SSEKMSKeyId, kmsKeyArn);
    assert.deepEqual(await collect(kmsVersion.Body), body.v3);
    // The latest (SSE-S3) needs no key.
    const latest = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'doc' }));
    assert.equal(latest.VersionId, v4);
    assert.equal(latest.ServerSideEncryption, 'AES256');
    assert.deepEqual(await collect(latest.Body), body.v4);

    // Another version's key: 403 AccessDenied; no key: 400 InvalidRequest; SSE-C key on SSE-S3: 400.
    assert.deepEqual(await s3Error(get(v1, keyB)), { code: 'AccessDenied', status: 403 });
    assert.deepEqual(await s3Error(get(v2, keyA)), { code: 'AccessDenied', status: 403 });
    assert.deepEqual(await s3Error(get(v1)), { code: 'InvalidRequest', status: 400 });
    assert.deepEqual(await s3Error(get(v3, keyA)), { code: 'InvalidRequest', status: 400 });
    assert.deepEqual(await s3Error(get(v4, keyA)), { code: 'InvalidRequest', status: 400 });
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: v2, ...ssecParams(keyB) }));
    assert.equal(head.SSECustomerKeyMD5, keyB.md5);
    assert.equal(head.ContentLength, body.v2.length);
    assert.equal(
      (await s3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: v2, ...ssecParams(keyA) })))).status,
      403,
    );
    // A range of an old version, with its key.
    const range = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: v1, Range: 'bytes=65530-65545', ...ssecParams(keyA) }),
    );
    assert.deepEqual(await collect(range.Body), body.v1.subarray(65530, 65546));
  });

  test('disabling the KMS key of the SSE-KMS version blocks that version only', async () => {
    await kms.send(new DisableKeyCommand({ KeyId: kmsKeyArn }));
    try {
      assert.deepEqual(await s3Error(get(v3)), { code: 'KMS.DisabledException', status: 400 });
      assert.deepEqual(await get(v1, keyA), body.v1);
      assert.deepEqual(await get(v2, keyB), body.v2);
      assert.deepEqual(await get(v4), body.v4);
    } finally {
      await kms.send(new EnableKeyCommand({ KeyId: kmsKeyArn }));
    }
    assert.deepEqual(await get(v3), body.v3);
  });

  test('the stored record is per version: mode, key fingerprint and sealed data key of each', async () => {
    const stored = await storedVersions(srv.dataDir, bucket, 'doc');
    const byId = new Map(stored.map((v) => [v.versionId, v]));
    const [r1, r2, r3, r4] = [byId.get(v1)!, byId.get(v2)!, byId.get(v3)!, byId.get(v4)!];
    assert.deepEqual(
      [r1, r2, r3, r4].map((r) => r.encryption?.mode),
      ['SSE-C', 'SSE-C', 'SSE-KMS', 'SSE-S3'],
    );
    assert.notEqual(r1.encryption?.fingerprint, r2.encryption?.fingerprint);
    assert.equal(r3.encryption?.keyArn, kmsKeyArn);
    const sealed = [r1, r2, r3, r4].map((r) => r.parts[0]!.encryption!.sealedKey);
    assert.equal(new Set(sealed).size, 4, 'each version has its own sealed data key');
    assert.equal(new Set([r1, r2, r3, r4].map((r) => r.parts[0]!.ref)).size, 4, 'each version has its own blob');
    // No trace of the customer keys in the metadata.
    const text = JSON.stringify(stored);
    for (const k of [keyA, keyB]) {
      assert.ok(!text.includes(k.b64) && !text.includes(k.md5) && !text.includes(k.raw.toString('hex')));
    }
  });

  test('re-keying a version by copy creates a new version; the old one keeps its old key', async () => {
    const c = await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'doc',
        CopySource: `${bucket}/doc?versionId=${v1}`,
        ...ssecParams(keyC),
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: keyA.b64,
        CopySourceSSECustomerKeyMD5: keyA.md5,
      }),
    );
    assert.equal(c.CopySourceVersionId, v1);
    assert.equal(c.SSECustomerKeyMD5, keyC.md5);
    const v5 = c.VersionId!;
    assert.ok(v5 && ![v1, v2, v3, v4].includes(v5));
    assert.deepEqual(await get(v5, keyC), body.v1);
    assert.deepEqual(await s3Error(get(v5, keyA)), { code: 'AccessDenied', status: 403 });
    assert.deepEqual(await get(v1, keyA), body.v1, 'the source version is unchanged');
    assert.deepEqual(await s3Error(get(v1, keyC)), { code: 'AccessDenied', status: 403 });
    // Copying an SSE-C version without its source key is refused.
    const noKey = await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'other', CopySource: `${bucket}/doc?versionId=${v2}` })),
    );
    assert.deepEqual(noKey, { code: 'InvalidRequest', status: 400 });
    // SSE-C version → SSE-S3 version of the same key.
    const toS3 = await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'doc',
        CopySource: `${bucket}/doc?versionId=${v2}`,
        ServerSideEncryption: 'AES256',
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: keyB.b64,
        CopySourceSSECustomerKeyMD5: keyB.md5,
      }),
    );
    assert.equal(toS3.ServerSideEncryption, 'AES256');
    assert.deepEqual(await get(toS3.VersionId!), body.v2);
    const list = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'doc' }));
    assert.deepEqual(
      list.Versions?.map((v) => v.VersionId),
      [toS3.VersionId, v5, v4, v3, v2, v1],
    );
    // The SSE-KMS version re-keyed under SSE-C: a new version; the KMS one is untouched.
    const fromKms = await s3.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'doc', CopySource: `${bucket}/doc?versionId=${v3}`, ...ssecParams(keyC) }),
    );
    assert.equal(fromKms.CopySourceVersionId, v3);
    assert.deepEqual(await get(fromKms.VersionId!, keyC), body.v3);
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'doc', VersionId: v3 }))).SSEKMSKeyId, kmsKeyArn);
  });

  test('a multipart version under its own SSE-C key among single-PUT versions', async () => {
    const keyD = newKey();
    const part1 = randomBytes(5 * 1024 * 1024);
    const part2 = randomBytes(1234);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp', ...ssecParams(keyD) }));
    const e1 = (
      await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: 1, Body: part1, ...ssecParams(keyD) }))
    ).ETag;
    const e2 = (
      await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: 2, Body: part2, ...ssecParams(keyD) }))
    ).ETag;
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: e1 },
            { PartNumber: 2, ETag: e2 },
          ],
        },
        ...ssecParams(keyD),
      }),
    );
    const single = (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'mp', Body: 'small', ...ssecParams(keyA) }))).VersionId!;
    const whole = await collect(
      (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp', VersionId: done.VersionId, ...ssecParams(keyD) }))).Body,
    );
    assert.equal(whole.length, part1.length + part2.length);
    assert.deepEqual(whole.subarray(part1.length), part2);
    assert.equal(
      await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp', VersionId: single, ...ssecParams(keyA) }))
      ).Body!.transformToString(),
      'small',
    );
    assert.equal(
      (await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp', VersionId: done.VersionId, ...ssecParams(keyA) })))).status,
      403,
    );
  });
});
