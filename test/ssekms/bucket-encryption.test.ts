// PutBucketEncryption / GetBucketEncryption / DeleteBucketEncryption against a real server, with
// @aws-sdk/client-s3, the AWS CLI and raw signed requests (exact status codes and error codes).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  PutBucketEncryptionCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { startKura, rawRequest, xmlValue, type KuraServer } from '../helpers/server.ts';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';

function doc(rule: string): string {
  return `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>${rule}</Rule></ServerSideEncryptionConfiguration>`;
}

async function s3Error(p: Promise<unknown>, code: string, status: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.name, code);
    assert.equal(e.$metadata.httpStatusCode, status);
    return true;
  });
}

describe('bucket default encryption configuration', () => {
  let srv: KuraServer;
  let s3: S3Client;
  before(async () => {
    srv = await startKura();
    s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'enc' }));
  });
  after(async () => {
    s3?.destroy();
    await srv?.stop();
  });

  test('none set: 404 ServerSideEncryptionConfigurationNotFoundError; put, get, replace, delete', async () => {
    await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: 'enc' })), 'ServerSideEncryptionConfigurationNotFoundError', 404);
    const raw = await rawRequest(srv, 'GET', '/enc', { query: { encryption: '' } });
    assert.equal(raw.status, 404);
    assert.equal(xmlValue(raw.text, 'Code'), 'ServerSideEncryptionConfigurationNotFoundError');
    assert.equal(xmlValue(raw.text, 'BucketName'), 'enc');

    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'enc',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/app' }, BucketKeyEnabled: true }],
        },
      }),
    );
    let got = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'enc' }));
    assert.deepEqual(got.ServerSideEncryptionConfiguration?.Rules, [
      { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'alias/app' }, BucketKeyEnabled: true },
    ]);

    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'enc',
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      }),
    );
    got = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'enc' }));
    assert.deepEqual(got.ServerSideEncryptionConfiguration?.Rules, [
      { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false },
    ]);

    const del = await rawRequest(srv, 'DELETE', '/enc', { query: { encryption: '' } });
    assert.equal(del.status, 204);
    await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: 'enc' })), 'ServerSideEncryptionConfigurationNotFoundError', 404);
    // Deleting again is not an error (as S3).
    await s3.send(new DeleteBucketEncryptionCommand({ Bucket: 'enc' }));
  });

  test('the configuration survives a restart', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'persist' }));
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'persist',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }],
        },
      }),
    );
    const dataDir = srv.dataDir;
    s3.destroy();
    await srv.stop({ keepData: true });
    srv = await startKura({ dataDir });
    s3 = srv.client();
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'persist' }));
    assert.deepEqual(got.ServerSideEncryptionConfiguration?.Rules, [
      { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true },
    ]);
  });

  test('validation errors as AWS: MalformedXML, InvalidArgument, NotImplemented for DSSE, NoSuchBucket, BadDigest', async () => {
    const put = (body: string, headers: Record<string, string> = {}) =>
      rawRequest(srv, 'PUT', '/enc', { query: { encryption: '' }, body, headers });
    const expect = async (body: string, status: number, code: string) => {
      const r = await put(body);
      assert.equal(r.status, status, `${body} -> ${r.text}`);
      assert.equal(xmlValue(r.text, 'Code'), code, body);
      return r;
    };
    await expect('not xml', 400, 'MalformedXML');
    await expect('<ServerSideEncryptionConfiguration/>', 400, 'MalformedXML');
    await expect(
      doc('<ApplyServerSideEncryptionByDefault><SSEAlgorithm>DES</SSEAlgorithm></ApplyServerSideEncryptionByDefault>'),
      400,
      'MalformedXML',
    );
    await expect(doc('<ApplyServerSideEncryptionByDefault></ApplyServerSideEncryptionByDefault>'), 400, 'MalformedXML');
    await expect(
      doc(
        '<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>maybe</BucketKeyEnabled>',
      ),
      400,
      'MalformedXML',
    );
    await expect(
      `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`,
      400,
      'MalformedXML',
    );
    const r = await expect(
      doc(
        '<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>alias/x</KMSMasterKeyID></ApplyServerSideEncryptionByDefault>',
      ),
      400,
      'InvalidArgument',
    );
    assert.match(xmlValue(r.text, 'Message') ?? '', /KMSMasterKeyID is not applicable/);
    await expect(
      doc('<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm></ApplyServerSideEncryptionByDefault>'),
      501,
      'NotImplemented',
    );
    await expect(
      doc(
        '<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BlockedEncryptionTypes><EncryptionType>SSE-X</EncryptionType></BlockedEncryptionTypes>',
      ),
      400,
      'MalformedXML',
    );
    // Nothing was stored by the failures.
    await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: 'enc' })), 'ServerSideEncryptionConfigurationNotFoundError', 404);

    const good = doc('<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>');
    const bad = await put(good, { 'content-md5': Buffer.alloc(16).toString('base64') });
    assert.equal(bad.status, 400);
    assert.equal(xmlValue(bad.text, 'Code'), 'BadDigest');
    const nb = await rawRequest(srv, 'PUT', '/no-such-bucket', { query: { encryption: '' }, body: good });
    assert.equal(nb.status, 404);
    assert.equal(xmlValue(nb.text, 'Code'), 'NoSuchBucket');
    await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404);
  });

  test('BlockedEncryptionTypes round trip', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'blocked' }));
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'blocked',
        ServerSideEncryptionConfiguration: {
          Rules: [
            { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BlockedEncryptionTypes: { EncryptionType: ['SSE-C'] } },
          ],
        },
      }),
    );
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'blocked' }));
    assert.deepEqual(got.ServerSideEncryptionConfiguration?.Rules?.[0]?.BlockedEncryptionTypes, { EncryptionType: ['SSE-C'] });
  });

  test('AWS CLI: s3api put-bucket-encryption / get-bucket-encryption / delete-bucket-encryption', async () => {
    const env = { ...process.env, ...srv.env() };
    const aws = async (...args: string[]) =>
      JSON.parse((await run(AWS, ['s3api', ...args, '--endpoint-url', srv.endpoint, '--output', 'json'], { env })).stdout || '{}');
    await aws('create-bucket', '--bucket', 'cli-enc');
    const config = {
      Rules: [
        {
          ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'arn:aws:kms:us-east-1:000000000000:alias/cli' },
          BucketKeyEnabled: true,
        },
      ],
    };
    await aws('put-bucket-encryption', '--bucket', 'cli-enc', '--server-side-encryption-configuration', JSON.stringify(config));
    const got = await aws('get-bucket-encryption', '--bucket', 'cli-enc');
    assert.deepEqual(got.ServerSideEncryptionConfiguration, config);
    await aws('delete-bucket-encryption', '--bucket', 'cli-enc');
    await assert.rejects(aws('get-bucket-encryption', '--bucket', 'cli-enc'), (e: any) => {
      assert.match(String(e.stderr), /ServerSideEncryptionConfigurationNotFoundError/);
      return true;
    });
  });
});
