// SSE-KMS and bucket default encryption end to end: a real `kura server` with its KMS, driven by
// @aws-sdk/client-s3, @aws-sdk/client-kms, the AWS CLI and boto3. Checks response headers, ETags,
// ranges, multipart, copies between SSE modes, key state errors, bucket keys (KMS calls counted in the
// audit log), and that no KMS data key leaks into the data dir or the logs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  DeleteBucketEncryptionCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  KMSClient,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { startKura, collect, xmlValue, type KuraServer } from '../helpers/server.ts';
import { storedRecord as storedVersion } from '../helpers/meta.ts';
const storedRecord = async (dataDir: string, bucket: string, key: string): Promise<any> => storedVersion(dataDir, bucket, key);
import { raw, postForm } from '../sse/helpers.ts';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
const PY = '/usr/bin/python3';
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const b64json = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');

interface AuditLine {
  operation: string;
  accessKeyId: string;
  keyId?: string;
  encryptionContext?: Record<string, string>;
  result: string;
}

async function auditLines(srv: KuraServer): Promise<AuditLine[]> {
  return (await readFile(join(srv.dataDir, '.kura', 'audit.log'), 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

async function s3Error(p: Promise<unknown>, code: string, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.name, code, `${e.name}: ${e.message}`);
    assert.equal(e.$metadata.httpStatusCode, status);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('SSE-KMS through S3', () => {
  let srv: KuraServer;
  let s3: S3Client;
  let s3tls: S3Client;
  let plain: S3Client;
  let kms: KMSClient;
  let keyId: string;
  let keyArn: string;
  const body = randomBytes(200_000);

  before(async () => {
    srv = await startKura();
    // AWS takes requests naming SSE-KMS over TLS only.
    s3 = srv.client({ https: true });
    s3tls = s3;
    plain = srv.client();
    kms = new KMSClient({ endpoint: srv.endpoint, region: 'us-east-1', credentials: { ...srv.credentials }, maxAttempts: 1 });
    const m = (await kms.send(new CreateKeyCommand({ Description: 'sse-kms tests' }))).KeyMetadata!;
    keyId = m.KeyId!;
    keyArn = m.Arn!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/app', TargetKeyId: keyId }));
    await s3.send(new CreateBucketCommand({ Bucket: 'kms' }));
  });
  after(async () => {
    s3?.destroy();
    plain?.destroy();
    kms?.destroy();
    await srv?.stop();
  });

  test('PUT/GET/HEAD by key id, alias, key ARN, alias ARN and the default key; ETag is not the MD5', async () => {
    const ids = [keyId, 'alias/app', keyArn, 'arn:aws:kms:us-east-1:000000000000:alias/app'];
    for (const [i, id] of ids.entries()) {
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'kms', Key: `k${i}`, Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: id }),
      );
      assert.equal(put.ServerSideEncryption, 'aws:kms');
      assert.equal(put.SSEKMSKeyId, keyArn);
      assert.equal(put.BucketKeyEnabled, undefined);
      assert.notEqual(put.ETag, `"${md5(body)}"`);
      assert.deepEqual(JSON.parse(Buffer.from(put.SSEKMSEncryptionContext!, 'base64').toString()), {
        'aws:s3:arn': `arn:aws:s3:::kms/k${i}`,
      });
      const get = await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: `k${i}` }));
      assert.ok((await collect(get.Body)).equals(body));
      assert.equal(get.ServerSideEncryption, 'aws:kms');
      assert.equal(get.SSEKMSKeyId, keyArn);
      assert.equal(get.ETag, put.ETag);
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'kms', Key: `k${i}` }));
      assert.equal(head.ServerSideEncryption, 'aws:kms');
      assert.equal(head.SSEKMSKeyId, keyArn);
      assert.equal(head.ContentLength, body.length);
    }
    const put = await s3.send(new PutObjectCommand({ Bucket: 'kms', Key: 'default', Body: 'x', ServerSideEncryption: 'aws:kms' }));
    const defaultKey = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!;
    assert.equal(put.SSEKMSKeyId, defaultKey.Arn);
    assert.equal(defaultKey.KeyManager, 'AWS');
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'kms', Key: 'default' }))).SSEKMSKeyId, defaultKey.Arn);
  });

  test('encryption context: merged with the object ARN, returned by writes; malformed → 400 InvalidArgument', async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'kms',
        Key: 'ctx',
        Body: 'hello',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
        SSEKMSEncryptionContext: b64json({ project: 'kura' }),
      }),
    );
    assert.deepEqual(JSON.parse(Buffer.from(put.SSEKMSEncryptionContext!, 'base64').toString()), {
      'aws:s3:arn': 'arn:aws:s3:::kms/ctx',
      project: 'kura',
    });
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'ctx' }))).Body)).toString(), 'hello');
    const bad = await raw(srv, 'PUT', '/kms/bad', {
      body: 'x',
      headers: { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-context': b64json({ n: 1 }) },
    });
    assert.equal(bad.status, 400);
    assert.equal(xmlValue(bad.text, 'Code'), 'InvalidArgument');
    // The stored blob opens only with its context (KMS Decrypt with another context fails).
    const rec = await storedRecord(srv.dataDir, 'kms', 'ctx');
    const blob = Buffer.from(rec.encryption.blob, 'base64');
    await assert.rejects(
      kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::kms/ctx' } })),
      { name: 'InvalidCiphertextException' },
    );
  });

  test('request errors: SSE-KMS over plain HTTP, SSE headers on GET/HEAD, unknown key on PUT, KMS headers without aws:kms', async () => {
    await s3Error(
      plain.send(new PutObjectCommand({ Bucket: 'kms', Key: 'insecure', Body: 'x', ServerSideEncryption: 'aws:kms' })),
      'InvalidArgument',
      400,
      /must be made over a secure connection/,
    );
    await s3Error(
      plain.send(new CreateMultipartUploadCommand({ Bucket: 'kms', Key: 'insecure', ServerSideEncryption: 'aws:kms' })),
      'InvalidArgument',
      400,
      /secure connection/,
    );
    await s3.send(new PutObjectCommand({ Bucket: 'kms', Key: 'e', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    assert.equal(
      (await collect((await plain.send(new GetObjectCommand({ Bucket: 'kms', Key: 'e' }))).Body)).toString(),
      'x',
      'reads over HTTP are fine',
    );
    const get = await raw(srv, 'GET', '/kms/e', { headers: { 'x-amz-server-side-encryption': 'aws:kms' } });
    assert.equal(get.status, 400);
    assert.equal(xmlValue(get.text, 'Code'), 'InvalidArgument');
    const head = await raw(srv, 'HEAD', '/kms/e', { headers: { 'x-amz-server-side-encryption': 'aws:kms' } });
    assert.equal(head.status, 400);
    await s3Error(
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms',
          Key: 'nokey',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: 'alias/does-not-exist',
        }),
      ),
      'KMS.NotFoundException',
      400,
    );
    await s3Error(
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms',
          Key: 'nokey',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: '0b0b0b0b-1111-2222-3333-444444444444',
        }),
      ),
      'KMS.NotFoundException',
      400,
    );
    const r = await raw(srv, 'PUT', '/kms/nokms', { body: 'x', headers: { 'x-amz-server-side-encryption-aws-kms-key-id': keyId } });
    assert.equal(r.status, 400);
    assert.equal(xmlValue(r.text, 'Code'), 'InvalidArgument');
  });

  test('ranges and multipart (3 parts, bucket key on the upload): every response names the key', async () => {
    const full = randomBytes(5 * 1024 * 1024 * 2 + 12345);
    const up = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'kms',
        Key: 'mp',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
        BucketKeyEnabled: true,
      }),
    );
    assert.equal(up.ServerSideEncryption, 'aws:kms');
    assert.equal(up.SSEKMSKeyId, keyArn);
    assert.equal(up.BucketKeyEnabled, true);
    const sizes = [5 * 1024 * 1024, 5 * 1024 * 1024, 12345];
    const parts = [];
    let off = 0;
    for (const [i, n] of sizes.entries()) {
      const p = await s3.send(
        new UploadPartCommand({ Bucket: 'kms', Key: 'mp', UploadId: up.UploadId, PartNumber: i + 1, Body: full.subarray(off, off + n) }),
      );
      assert.equal(p.ServerSideEncryption, 'aws:kms');
      assert.equal(p.SSEKMSKeyId, keyArn);
      parts.push({ PartNumber: i + 1, ETag: p.ETag });
      off += n;
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: 'kms', Key: 'mp', UploadId: up.UploadId, MultipartUpload: { Parts: parts } }),
    );
    assert.equal(done.ServerSideEncryption, 'aws:kms');
    assert.equal(done.SSEKMSKeyId, keyArn);
    assert.equal(done.BucketKeyEnabled, true);
    assert.ok((await collect((await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'mp' }))).Body)).equals(full));
    for (const [a, b] of [
      [0, 0],
      [5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10],
      [full.length - 100, full.length - 1],
      [70_000, 200_000],
    ] as const) {
      const g = await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'mp', Range: `bytes=${a}-${b}` }));
      assert.ok((await collect(g.Body)).equals(full.subarray(a, b + 1)), `${a}-${b}`);
      assert.equal(g.ServerSideEncryption, 'aws:kms');
    }
    const single = await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'k0', Range: 'bytes=65530-65545' }));
    assert.ok((await collect(single.Body)).equals(body.subarray(65530, 65546)));
  });

  test('copies between SSE modes: SSE-KMS → SSE-S3 → SSE-C → SSE-KMS (another key) → SSE-KMS default key', async () => {
    const ssec = randomBytes(32);
    const c = {
      SSECustomerAlgorithm: 'AES256',
      SSECustomerKey: ssec.toString('base64'),
      SSECustomerKeyMD5: createHash('md5').update(ssec).digest('base64'),
    };
    const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await s3.send(new PutObjectCommand({ Bucket: 'kms', Key: 'c0', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyId }));
    const c1 = await s3.send(new CopyObjectCommand({ Bucket: 'kms', Key: 'c1', CopySource: 'kms/c0', ServerSideEncryption: 'AES256' }));
    assert.equal(c1.ServerSideEncryption, 'AES256');
    assert.equal(c1.SSEKMSKeyId, undefined);
    const c2 = await s3tls.send(new CopyObjectCommand({ Bucket: 'kms', Key: 'c2', CopySource: 'kms/c1', ...c }));
    assert.equal(c2.SSECustomerAlgorithm, 'AES256');
    const c3 = await s3tls.send(
      new CopyObjectCommand({
        Bucket: 'kms',
        Key: 'c3',
        CopySource: 'kms/c2',
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: c.SSECustomerKey,
        CopySourceSSECustomerKeyMD5: c.SSECustomerKeyMD5,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: other.KeyId,
      }),
    );
    assert.equal(c3.ServerSideEncryption, 'aws:kms');
    assert.equal(c3.SSEKMSKeyId, other.Arn);
    // Re-key in place (same source and target, new encryption).
    const c4 = await s3.send(
      new CopyObjectCommand({
        Bucket: 'kms',
        Key: 'c3',
        CopySource: 'kms/c3',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
        BucketKeyEnabled: true,
      }),
    );
    assert.equal(c4.SSEKMSKeyId, keyArn);
    assert.equal(c4.BucketKeyEnabled, true);
    const g = await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'c3' }));
    assert.ok((await collect(g.Body)).equals(body));
    assert.equal(g.SSEKMSKeyId, keyArn);
    assert.equal(g.BucketKeyEnabled, true);
    assert.ok((await collect((await s3tls.send(new GetObjectCommand({ Bucket: 'kms', Key: 'c2', ...c }))).Body)).equals(body));
  });

  test('key state: disabled → 400 KMS.DisabledException on GET/copy/PUT (HEAD needs no key); pending deletion → KMS.KMSInvalidStateException', async () => {
    const k = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await s3.send(new PutObjectCommand({ Bucket: 'kms', Key: 'd0', Body: 'data', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k.KeyId }));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'kms',
        Key: 'd1',
        Body: 'data',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: k.KeyId,
        BucketKeyEnabled: true,
      }),
    );
    await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'd1' })); // warms the bucket key cache
    await kms.send(new DisableKeyCommand({ KeyId: k.KeyId }));
    for (const key of ['d0', 'd1']) {
      await s3Error(s3.send(new GetObjectCommand({ Bucket: 'kms', Key: key })), 'KMS.DisabledException', 400, /disabled/);
      await s3Error(
        s3.send(new CopyObjectCommand({ Bucket: 'kms', Key: `${key}-copy`, CopySource: `kms/${key}` })),
        'KMS.DisabledException',
        400,
      );
      // HeadObject reads metadata only (S3 makes no KMS call for it).
      assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'kms', Key: key }))).SSEKMSKeyId, k.Arn);
    }
    await s3Error(
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms',
          Key: 'd2',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: k.KeyId,
          BucketKeyEnabled: true,
        }),
      ),
      'KMS.DisabledException',
      400,
    );
    await kms.send(new EnableKeyCommand({ KeyId: k.KeyId }));
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'd0' }))).Body)).toString(), 'data');
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 7 }));
    await s3Error(s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'd1' })), 'KMS.KMSInvalidStateException', 400, /pending deletion/);
  });

  test('bucket keys: 30 PUTs and 30 GETs make one KMS call; without: one per PUT and per GET (audit log)', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'bkeys' }));
    const n0 = (await auditLines(srv)).length;
    for (let i = 0; i < 30; i++) {
      const r = await s3.send(
        new PutObjectCommand({
          Bucket: 'bkeys',
          Key: `o${i}`,
          Body: `v${i}`,
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: 'alias/app',
          BucketKeyEnabled: true,
        }),
      );
      assert.equal(r.BucketKeyEnabled, true);
    }
    for (let i = 0; i < 30; i++)
      assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: 'bkeys', Key: `o${i}` }))).Body)).toString(), `v${i}`);
    const withKeys = (await auditLines(srv)).slice(n0);
    assert.deepEqual(
      withKeys.map((l) => l.operation),
      ['GenerateDataKey'],
    );
    assert.deepEqual(withKeys[0]!.encryptionContext, { 'aws:s3:arn': 'arn:aws:s3:::bkeys' });
    assert.equal(withKeys[0]!.accessKeyId, srv.credentials.accessKeyId);
    assert.equal(withKeys[0]!.keyId, keyArn);
    const n1 = (await auditLines(srv)).length;
    for (let i = 0; i < 5; i++) {
      await s3.send(
        new PutObjectCommand({ Bucket: 'bkeys', Key: `p${i}`, Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/app' }),
      );
      await s3.send(new GetObjectCommand({ Bucket: 'bkeys', Key: `p${i}` }));
    }
    const without = (await auditLines(srv)).slice(n1);
    assert.equal(without.filter((l) => l.operation === 'GenerateDataKey').length, 5);
    assert.equal(without.filter((l) => l.operation === 'Decrypt').length, 5);
    for (const l of without) {
      assert.equal(l.result, 'success');
      assert.equal(l.keyId, keyArn);
      assert.match(l.encryptionContext?.['aws:s3:arn'] ?? '', /^arn:aws:s3:::bkeys\/p\d$/);
    }
  });

  test('bucket default encryption applies to PutObject, CopyObject and CreateMultipartUpload that name none', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'dflt' }));
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'dflt',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/app' }, BucketKeyEnabled: true }],
        },
      }),
    );
    const put = await plain.send(new PutObjectCommand({ Bucket: 'dflt', Key: 'a', Body: 'A' })); // a bucket default applies over HTTP too
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    assert.equal(put.SSEKMSKeyId, keyArn);
    assert.equal(put.BucketKeyEnabled, true);
    const copy = await s3.send(new CopyObjectCommand({ Bucket: 'dflt', Key: 'b', CopySource: 'kms/ctx' }));
    assert.equal(copy.ServerSideEncryption, 'aws:kms');
    assert.equal(copy.SSEKMSKeyId, keyArn);
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'dflt', Key: 'm' }));
    assert.equal(up.ServerSideEncryption, 'aws:kms');
    assert.equal(up.SSEKMSKeyId, keyArn);
    // An explicit request wins: AES256, or aws:kms without a key id = alias/aws/s3.
    assert.equal(
      (await s3.send(new PutObjectCommand({ Bucket: 'dflt', Key: 'c', Body: 'C', ServerSideEncryption: 'AES256' }))).ServerSideEncryption,
      'AES256',
    );
    const defaultArn = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' }))).KeyMetadata!.Arn;
    assert.equal(
      (await s3.send(new PutObjectCommand({ Bucket: 'dflt', Key: 'd', Body: 'D', ServerSideEncryption: 'aws:kms' }))).SSEKMSKeyId,
      defaultArn,
    );
    // The bucket's BucketKeyEnabled also applies to explicit SSE-KMS requests, unless they turn it off.
    assert.equal(
      (
        await s3.send(
          new PutObjectCommand({ Bucket: 'dflt', Key: 'e', Body: 'E', ServerSideEncryption: 'aws:kms', BucketKeyEnabled: false }),
        )
      ).BucketKeyEnabled,
      undefined,
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'dflt', Key: 'a' }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(head.BucketKeyEnabled, true);

    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'dflt',
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      }),
    );
    assert.equal((await s3.send(new PutObjectCommand({ Bucket: 'dflt', Key: 'f', Body: 'F' }))).ServerSideEncryption, 'AES256');
    await s3.send(new DeleteBucketEncryptionCommand({ Bucket: 'dflt' }));
    const g = await s3.send(new PutObjectCommand({ Bucket: 'dflt', Key: 'g', Body: 'G' }));
    assert.equal(g.ServerSideEncryption, 'AES256');
    assert.equal(g.SSEKMSKeyId, undefined);
    // A bucket default naming a missing key fails the write as AWS does.
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'dflt',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/missing' } }],
        },
      }),
    );
    await s3Error(s3.send(new PutObjectCommand({ Bucket: 'dflt', Key: 'h', Body: 'H' })), 'KMS.NotFoundException', 400);
  });

  test('POST object (browser form) with SSE-KMS fields, and with the bucket default', async () => {
    const file = randomBytes(5000);
    const r = await postForm(
      srv,
      'kms',
      {
        key: 'form',
        'x-amz-server-side-encryption': 'aws:kms',
        'x-amz-server-side-encryption-aws-kms-key-id': 'alias/app',
        'x-amz-server-side-encryption-bucket-key-enabled': 'true',
      },
      file,
    );
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms');
    assert.equal(r.headers['x-amz-server-side-encryption-aws-kms-key-id'], keyArn);
    assert.equal(r.headers['x-amz-server-side-encryption-bucket-key-enabled'], 'true');
    const g = await s3.send(new GetObjectCommand({ Bucket: 'kms', Key: 'form' }));
    assert.ok((await collect(g.Body)).equals(file));
    assert.equal(g.SSEKMSKeyId, keyArn);
    await s3.send(new CreateBucketCommand({ Bucket: 'formdflt' }));
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'formdflt',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyId } }],
        },
      }),
    );
    const d = await postForm(srv, 'formdflt', { key: 'f' }, file);
    assert.equal(d.status, 204, d.text);
    assert.equal(d.headers['x-amz-server-side-encryption'], 'aws:kms');
    assert.equal(d.headers['x-amz-server-side-encryption-aws-kms-key-id'], keyArn);
  });

  test('BlockedEncryptionTypes SSE-C: SSE-C writes are refused with 403, other writes and old objects are fine', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'nossec' }));
    const k = randomBytes(32);
    const c = {
      SSECustomerAlgorithm: 'AES256',
      SSECustomerKey: k.toString('base64'),
      SSECustomerKeyMD5: createHash('md5').update(k).digest('base64'),
    };
    await s3tls.send(new PutObjectCommand({ Bucket: 'nossec', Key: 'old', Body: 'o', ...c }));
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'nossec',
        ServerSideEncryptionConfiguration: {
          Rules: [
            { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BlockedEncryptionTypes: { EncryptionType: ['SSE-C'] } },
          ],
        },
      }),
    );
    await s3Error(s3tls.send(new PutObjectCommand({ Bucket: 'nossec', Key: 'new', Body: 'n', ...c })), 'AccessDenied', 403);
    await s3Error(s3tls.send(new CreateMultipartUploadCommand({ Bucket: 'nossec', Key: 'new', ...c })), 'AccessDenied', 403);
    await s3.send(new PutObjectCommand({ Bucket: 'nossec', Key: 'plain', Body: 'p' }));
    assert.equal((await collect((await s3tls.send(new GetObjectCommand({ Bucket: 'nossec', Key: 'old', ...c }))).Body)).toString(), 'o');
  });

  test('AWS CLI: s3 cp --sse aws:kms --sse-kms-key-id, s3api head-object as in the Qiita seed', async () => {
    const env = { ...process.env, ...srv.env({ https: true }) };
    const aws = (...args: string[]) => run(AWS, [...args, '--endpoint-url', srv.httpsEndpoint], { env });
    const text = 'The Phantom Menace\nAttack of the Clones\nRevenge of the Sith\n';
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'kura-cli-'));
    try {
      await writeFile(join(dir, 'starwars.txt'), text);
      await aws('s3', 'cp', join(dir, 'starwars.txt'), 's3://kms/server-kms', '--sse', 'aws:kms', '--sse-kms-key-id', keyId);
      const head = JSON.parse((await aws('s3api', 'head-object', '--bucket', 'kms', '--key', 'server-kms', '--output', 'json')).stdout);
      assert.equal(head.ServerSideEncryption, 'aws:kms');
      assert.equal(head.SSEKMSKeyId, keyArn);
      assert.equal(head.ContentLength, text.length);
      assert.equal((await aws('s3', 'cp', 's3://kms/server-kms', '-')).stdout, text);
      await aws('s3', 'cp', join(dir, 'starwars.txt'), 's3://kms/server-kms-alias', '--sse', 'aws:kms', '--sse-kms-key-id', 'alias/app');
      assert.equal(
        JSON.parse((await aws('s3api', 'head-object', '--bucket', 'kms', '--key', 'server-kms-alias', '--output', 'json')).stdout)
          .SSEKMSKeyId,
        keyArn,
      );
      await aws('s3', 'cp', join(dir, 'starwars.txt'), 's3://kms/server-kms-default', '--sse', 'aws:kms');
      const h2 = JSON.parse(
        (await aws('s3api', 'head-object', '--bucket', 'kms', '--key', 'server-kms-default', '--output', 'json')).stdout,
      );
      assert.equal(h2.ServerSideEncryption, 'aws:kms');
      assert.match(h2.SSEKMSKeyId, /^arn:aws:kms:us-east-1:000000000000:key\//);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('boto3: put_object / get_object / head_object with SSE-KMS, a key ARN and bucket keys', async () => {
    const script = `
import boto3, json, os, sys
s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], region_name='us-east-1')
r = s3.put_object(Bucket='kms', Key='boto', Body=b'from boto3', ServerSideEncryption='aws:kms', SSEKMSKeyId=sys.argv[1], BucketKeyEnabled=True)
g = s3.get_object(Bucket='kms', Key='boto')
h = s3.head_object(Bucket='kms', Key='boto')
print(json.dumps({'put': [r['ServerSideEncryption'], r['SSEKMSKeyId'], r.get('BucketKeyEnabled')], 'body': g['Body'].read().decode(), 'head': [h['ServerSideEncryption'], h['SSEKMSKeyId'], h.get('BucketKeyEnabled')]}))
`;
    const out = JSON.parse((await run(PY, ['-c', script, keyArn], { env: { ...process.env, ...srv.env({ https: true }) } })).stdout);
    assert.deepEqual(out, { put: ['aws:kms', keyArn, true], body: 'from boto3', head: ['aws:kms', keyArn, true] });
  });

  test('no KMS data key in the data dir or the logs (raw, hex, base64); the audit log has no key material', async () => {
    const { readdir } = await import('node:fs/promises');
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) files.push(p);
      }
    };
    await walk(srv.dataDir);
    // The data keys of a few objects, recovered through the KMS API with the stored blob and context.
    const secrets: Buffer[] = [];
    for (const [bucket, key] of [
      ['kms', 'k0'],
      ['kms', 'ctx'],
      ['bkeys', 'o0'],
      ['kms', 'mp'],
    ] as const) {
      const rec = await storedRecord(srv.dataDir, bucket, key);
      const context = rec.encryption.bucketKey
        ? { ...rec.encryption.context, 'aws:s3:arn': `arn:aws:s3:::${bucket}` }
        : rec.encryption.context;
      const out = await kms.send(
        new DecryptCommand({ CiphertextBlob: Buffer.from(rec.encryption.blob, 'base64'), EncryptionContext: context }),
      );
      secrets.push(Buffer.from(out.Plaintext!));
    }
    const needles = secrets.flatMap((s) => [
      s,
      Buffer.from(s.toString('hex')),
      Buffer.from(s.toString('base64')),
      Buffer.from(s.toString('base64url')),
    ]);
    const haystacks: [string, Buffer][] = [
      ['stdout', Buffer.from(srv.stdout.join('\n'))],
      ['stderr', Buffer.from(srv.stderr())],
    ];
    for (const f of files) haystacks.push([f, await readFile(f)]);
    for (const [name, hay] of haystacks) for (const n of needles) assert.equal(hay.indexOf(n), -1, `a data key appears in ${name}`);
    const audit = await readFile(join(srv.dataDir, '.kura', 'audit.log'), 'utf8');
    assert.doesNotMatch(audit, /plaintext|ciphertextblob/i);
  });
});

describe('SSE-KMS: a deleted key (KURA_KMS_CLOCK_OFFSET_DAYS past the deletion window)', () => {
  test('GET of an object under a deleted key → 400 KMS.NotFoundException; other objects unaffected', async () => {
    let srv = await startKura();
    const dataDir = srv.dataDir;
    try {
      let s3 = srv.client({ https: true });
      const kms = new KMSClient({ endpoint: srv.endpoint, region: 'us-east-1', credentials: { ...srv.credentials }, maxAttempts: 1 });
      const k = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
      await s3.send(new CreateBucketCommand({ Bucket: 'bdel' }));
      await s3.send(
        new PutObjectCommand({ Bucket: 'bdel', Key: 'doomed', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: k.KeyId }),
      );
      await s3.send(new PutObjectCommand({ Bucket: 'bdel', Key: 'fine', Body: 'y' }));
      await kms.send(new ScheduleKeyDeletionCommand({ KeyId: k.KeyId, PendingWindowInDays: 7 }));
      kms.destroy();
      s3.destroy();
      await srv.stop({ keepData: true });
      srv = await startKura({ dataDir, env: { KURA_KMS_CLOCK_OFFSET_DAYS: '8' } });
      s3 = srv.client({ https: true });
      await s3Error(s3.send(new GetObjectCommand({ Bucket: 'bdel', Key: 'doomed' })), 'KMS.NotFoundException', 400, /does not exist/);
      assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: 'bdel', Key: 'fine' }))).Body)).toString(), 'y');
      s3.destroy();
    } finally {
      await srv.stop();
      const { rm } = await import('node:fs/promises');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
