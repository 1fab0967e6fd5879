// POST object (browser form, multipart/form-data) with SSE-C and SSE-S3 form fields, against a real server.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { S3Client, CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecParams, postForm } from './helpers.ts';

describe('POST object with SSE', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const bucket = 'sse-post';
  const k = newKey();
  const ssecFields = {
    'x-amz-server-side-encryption-customer-algorithm': 'AES256',
    'x-amz-server-side-encryption-customer-key': k.b64,
    'x-amz-server-side-encryption-customer-key-md5': k.md5,
  };

  before(async () => {
    srv = await startKura();
    s3 = srv.client({ https: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    s3.destroy();
    await srv.stop();
  });

  test('SSE-C form fields: stored under the customer key, echoed, readable only with it', async () => {
    const data = randomBytes(100_000);
    const r = await postForm(
      srv,
      bucket,
      { key: 'forms/${filename}', 'content-type': 'image/png', 'x-amz-meta-who': 'form', ...ssecFields },
      data,
      { filename: 'a.png' },
    );
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers['x-amz-server-side-encryption-customer-algorithm'], 'AES256');
    assert.equal(r.headers['x-amz-server-side-encryption-customer-key-md5'], k.md5);
    assert.notEqual(r.headers['etag'], `"${createHash('md5').update(data).digest('hex')}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'forms/a.png', ...ssecParams(k) }));
    assert.equal(got.ContentType, 'image/png');
    assert.equal(got.Metadata?.who, 'form');
    assert.deepEqual(await collect(got.Body), data);
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'forms/a.png' })),
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 400,
    );
  });

  test('SSE-S3 form field and no SSE field both give AES256; success_action_status 201', async () => {
    const data = Buffer.from('hello form');
    const a = await postForm(srv, bucket, { key: 's3-form', 'x-amz-server-side-encryption': 'AES256', success_action_status: '201' }, data);
    assert.equal(a.status, 201, a.text);
    assert.equal(a.headers['x-amz-server-side-encryption'], 'AES256');
    assert.match(a.text, /<Key>s3-form<\/Key>/);
    assert.match(a.text, new RegExp(`<ETag>(&quot;|")${createHash('md5').update(data).digest('hex')}(&quot;|")</ETag>`));
    const b = await postForm(srv, bucket, { key: 'plain-form' }, data);
    assert.equal(b.status, 204);
    assert.equal(b.headers['x-amz-server-side-encryption'], 'AES256');
    const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain-form' }));
    assert.equal(h.ServerSideEncryption, 'AES256');
  });

  test('form errors: bad SSE-C key, unknown method, SSE-C over HTTP, policy violation, unauthenticated form to a subresource', async () => {
    const bad = await postForm(
      srv,
      bucket,
      { key: 'x', ...ssecFields, 'x-amz-server-side-encryption-customer-key-md5': createHash('md5').update('no').digest('base64') },
      Buffer.from('x'),
    );
    assert.equal(bad.status, 400);
    assert.match(bad.text, /<Code>InvalidArgument<\/Code>/);
    const unknown = await postForm(srv, bucket, { key: 'x', 'x-amz-server-side-encryption': 'AES512' }, Buffer.from('x'));
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /<Code>InvalidArgument<\/Code>/);
    const both = await postForm(srv, bucket, { key: 'x', 'x-amz-server-side-encryption': 'AES256', ...ssecFields }, Buffer.from('x'));
    assert.equal(both.status, 400);
    assert.match(both.text, /<Code>InvalidArgument<\/Code>/);
    const http = await postForm(srv, bucket, { key: 'x', ...ssecFields }, Buffer.from('x'), { https: false });
    assert.equal(http.status, 400);
    assert.match(http.text, /secure connection/);
    const tooBig = await postForm(srv, bucket, { key: 'x' }, Buffer.alloc(100), { extraConditions: [['content-length-range', 0, 10]] });
    assert.equal(tooBig.status, 400);
    assert.match(tooBig.text, /<Code>EntityTooLarge<\/Code>/);
    // A multipart/form-data POST without a policy to anything but the bucket is not let through unauthenticated.
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${srv.endpoint}/${bucket}/obj?uploads`,
        { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('--x--\r\n');
    });
    assert.equal(status, 403);
  });
});
