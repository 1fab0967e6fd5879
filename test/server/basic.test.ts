// Vertical slice through a real `kura server`: buckets, put/get/head/delete, ListObjectsV2, errors,
// authentication, health, request ids — over HTTP and HTTPS with @aws-sdk/client-s3.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  HeadBucketCommand,
  DeleteBucketCommand,
  ListBucketsCommand,
  GetBucketLocationCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  paginateListBuckets,
} from '@aws-sdk/client-s3';
import { startKura, s3Error, rawRequest, collect, xmlValue, type KuraServer } from '../helpers/server.ts';

describe('kura server: basic operations', () => {
  let srv: KuraServer;
  before(async () => {
    srv = await startKura();
  });
  after(async () => {
    assert.equal(await srv.stop(), 0, 'clean exit on SIGTERM');
  });

  test('generated credentials and certificate are kept in the data dir with safe modes', async () => {
    const creds = await stat(join(srv.dataDir, '.kura', 'credentials.json'));
    assert.equal(creds.mode & 0o777, 0o600);
    const key = await stat(join(srv.dataDir, '.kura', 'tls-key.pem'));
    assert.equal(key.mode & 0o777, 0o600);
    assert.match(await readFile(srv.caPath, 'utf8'), /BEGIN CERTIFICATE/);
    assert.match(srv.stderr(), new RegExp(`AWS_SECRET_ACCESS_KEY=${srv.credentials.secretAccessKey.replace(/[+/]/g, '.')}`));
    // Secrets never reach the JSON log.
    assert.ok(!srv.stdout.join('\n').includes(srv.credentials.secretAccessKey));
  });

  for (const https of [false, true]) {
    describe(https ? 'over HTTPS' : 'over HTTP', () => {
      let s3: S3Client;
      const bucket = https ? 'basic-tls' : 'basic-plain';
      before(() => {
        s3 = srv.client({ https });
      });

      test('bucket lifecycle', async () => {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        await s3.send(new HeadBucketCommand({ Bucket: bucket }));
        const again = await s3Error(s3.send(new CreateBucketCommand({ Bucket: bucket })));
        assert.equal(again.name, 'BucketAlreadyOwnedByYou');
        assert.equal(again.$metadata.httpStatusCode, 409);
        const list = await s3.send(new ListBucketsCommand({}));
        assert.ok(list.Buckets?.some((b) => b.Name === bucket && b.CreationDate instanceof Date));
        assert.ok(list.Owner?.ID);
        const loc = await s3.send(new GetBucketLocationCommand({ Bucket: bucket }));
        assert.equal(loc.LocationConstraint, undefined);
      });

      test('put, get, head, delete with metadata and system headers', async () => {
        const body = Buffer.from('hello, kura\n'.repeat(1000));
        const put = await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: 'dir/hello world+ü.txt',
            Body: body,
            ContentType: 'text/plain',
            Metadata: { color: 'blue', 'x-y': 'z' },
            CacheControl: 'max-age=60',
            ContentDisposition: 'attachment; filename="a.txt"',
            ContentEncoding: 'identity',
            ContentLanguage: 'ja',
            Expires: new Date('2030-01-01T00:00:00Z'),
          }),
        );
        const md5 = createHash('md5').update(body).digest('hex');
        assert.equal(put.ETag, `"${md5}"`);
        const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello world+ü.txt' }));
        assert.deepEqual(await collect(get.Body), body);
        assert.equal(get.ContentType, 'text/plain');
        assert.equal(get.ContentLength, body.length);
        assert.equal(get.ETag, `"${md5}"`);
        assert.deepEqual(get.Metadata, { color: 'blue', 'x-y': 'z' });
        assert.equal(get.CacheControl, 'max-age=60');
        assert.equal(get.ContentDisposition, 'attachment; filename="a.txt"');
        assert.equal(get.ContentEncoding, 'identity');
        assert.equal(get.ContentLanguage, 'ja');
        assert.equal(get.ExpiresString ?? get.Expires?.toUTCString(), 'Tue, 01 Jan 2030 00:00:00 GMT');
        assert.ok(get.LastModified instanceof Date);
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/hello world+ü.txt' }));
        assert.equal(head.ContentLength, body.length);
        assert.equal(head.ETag, `"${md5}"`);
        assert.equal(head.AcceptRanges, 'bytes');
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'dir/hello world+ü.txt' }));
        const gone = await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello world+ü.txt' })));
        assert.equal(gone.name, 'NoSuchKey');
        assert.equal(gone.$metadata.httpStatusCode, 404);
        const headGone = await s3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/hello world+ü.txt' })));
        assert.equal(headGone.$metadata.httpStatusCode, 404);
        // Deleting a missing key is a success, as in S3.
        const del = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'never-existed' }));
        assert.equal(del.$metadata.httpStatusCode, 204);
      });

      test('empty object and default content type', async () => {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'empty', Body: '' }));
        const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'empty' }));
        assert.equal((await collect(get.Body)).length, 0);
        assert.equal(get.ETag, '"d41d8cd98f00b204e9800998ecf8427e"');
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'empty' }));
        // Without a Content-Type, S3 answers binary/octet-stream.
        assert.equal((await rawRequest(srv, 'PUT', `/${bucket}/typeless`, { body: 'x' })).status, 200);
        const raw = await rawRequest(srv, 'GET', `/${bucket}/typeless`);
        assert.equal(raw.headers['content-type'], 'binary/octet-stream');
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'typeless' }));
      });

      test('overwrite: last writer wins', async () => {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ow', Body: 'first version' }));
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'ow', Body: 'second' }));
        const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'ow' }));
        assert.equal(await get.Body!.transformToString(), 'second');
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'ow' }));
      });

      test('ListObjectsV2 with prefix, delimiter and paging', async () => {
        const keys = ['a/1', 'a/2', 'a/b/3', 'b', 'c/x', 'c/y', 'd'];
        for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
        const all = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
        assert.deepEqual(
          all.Contents?.map((c) => c.Key),
          keys,
        );
        assert.equal(all.KeyCount, keys.length);
        assert.equal(all.IsTruncated, false);
        assert.equal(all.Contents?.[0]?.Size, 3);
        assert.equal(all.Contents?.[0]?.StorageClass, 'STANDARD');
        const delim = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
        assert.deepEqual(
          delim.Contents?.map((c) => c.Key),
          ['b', 'd'],
        );
        assert.deepEqual(
          delim.CommonPrefixes?.map((c) => c.Prefix),
          ['a/', 'c/'],
        );
        const pre = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'a/', Delimiter: '/' }));
        assert.deepEqual(
          pre.Contents?.map((c) => c.Key),
          ['a/1', 'a/2'],
        );
        assert.deepEqual(
          pre.CommonPrefixes?.map((c) => c.Prefix),
          ['a/b/'],
        );
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 2, Delimiter: '/', ContinuationToken: token }));
          seen.push(...(page.Contents ?? []).map((c) => c.Key!), ...(page.CommonPrefixes ?? []).map((c) => c.Prefix!));
          token = page.NextContinuationToken;
          pages++;
          assert.equal(page.IsTruncated, token !== undefined);
        } while (token);
        assert.equal(pages, 2);
        assert.deepEqual(seen.sort(), ['a/', 'b', 'c/', 'd']);
        const after = await s3.send(new ListObjectsV2Command({ Bucket: bucket, StartAfter: 'b' }));
        assert.deepEqual(
          after.Contents?.map((c) => c.Key),
          ['c/x', 'c/y', 'd'],
        );
        const owner = await s3.send(new ListObjectsV2Command({ Bucket: bucket, FetchOwner: true, MaxKeys: 1 }));
        assert.ok(owner.Contents?.[0]?.Owner?.ID);
        const notEmpty = await s3Error(s3.send(new DeleteBucketCommand({ Bucket: bucket })));
        assert.equal(notEmpty.name, 'BucketNotEmpty');
        assert.equal(notEmpty.$metadata.httpStatusCode, 409);
        for (const k of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
        await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
        const missing = await s3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })));
        assert.equal(missing.$metadata.httpStatusCode, 404);
      });
    });
  }

  test('invalid bucket names', async () => {
    const s3 = srv.client();
    for (const name of ['ab', 'UPPER', 'under_score', 'a..b', '192.168.1.1', '-start', 'end-', 'x'.repeat(64), 'xn--abc', 'a-.b']) {
      const e = await s3Error(s3.send(new CreateBucketCommand({ Bucket: name })));
      assert.equal(e.name, 'InvalidBucketName', name);
      assert.equal(e.$metadata.httpStatusCode, 400);
    }
  });

  test('error bodies are S3 XML with Code, Message, Resource, RequestId', async () => {
    const r = await rawRequest(srv, 'GET', '/no-such-bucket-here/some%20key');
    assert.equal(r.status, 404);
    assert.equal(r.headers['content-type'], 'application/xml');
    assert.equal(xmlValue(r.text, 'Code'), 'NoSuchBucket');
    assert.equal(xmlValue(r.text, 'Message'), 'The specified bucket does not exist');
    assert.equal(xmlValue(r.text, 'BucketName'), 'no-such-bucket-here');
    assert.equal(xmlValue(r.text, 'Resource'), '/no-such-bucket-here/some key');
    assert.match(r.headers['x-amz-request-id'] ?? '', /^[0-9A-F]{16}$/);
    assert.equal(xmlValue(r.text, 'RequestId'), r.headers['x-amz-request-id']);
    assert.ok(r.headers['x-amz-id-2']);
    await rawRequest(srv, 'PUT', '/err-bucket');
    const k = await rawRequest(srv, 'GET', '/err-bucket/missing');
    assert.equal(k.status, 404);
    assert.equal(xmlValue(k.text, 'Code'), 'NoSuchKey');
    assert.equal(xmlValue(k.text, 'Key'), 'missing');
    // HEAD errors carry no body.
    const h = await rawRequest(srv, 'HEAD', '/err-bucket/missing');
    assert.equal(h.status, 404);
    assert.equal(h.body.length, 0);
  });

  test('requests without valid credentials are refused', async () => {
    await rawRequest(srv, 'PUT', '/auth-bucket');
    const anon = await rawRequest(srv, 'GET', '/auth-bucket', { sign: false });
    assert.equal(anon.status, 403);
    assert.equal(xmlValue(anon.text, 'Code'), 'AccessDenied');
    const badKey = await rawRequest(srv, 'GET', '/auth-bucket', { credentials: { accessKeyId: 'AKIDNOTKNOWN', secretAccessKey: 'x' } });
    assert.equal(badKey.status, 403);
    assert.equal(xmlValue(badKey.text, 'Code'), 'InvalidAccessKeyId');
    const badSecret = await rawRequest(srv, 'GET', '/auth-bucket', {
      credentials: { accessKeyId: srv.credentials.accessKeyId, secretAccessKey: 'wrong' },
    });
    assert.equal(badSecret.status, 403);
    assert.equal(xmlValue(badSecret.text, 'Code'), 'SignatureDoesNotMatch');
    const wrongSdk = new S3Client({
      endpoint: srv.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: srv.credentials.accessKeyId, secretAccessKey: 'nope' },
      maxAttempts: 1,
    });
    const e = await s3Error(wrongSdk.send(new PutObjectCommand({ Bucket: 'auth-bucket', Key: 'x', Body: 'data' })));
    assert.equal(e.name, 'SignatureDoesNotMatch');
    // Nothing was written by the refused PUT.
    const g = await rawRequest(srv, 'GET', '/auth-bucket/x');
    assert.equal(g.status, 404);
  });

  test('presigned GET and PUT URLs work; tampered or expired ones are refused', async () => {
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'presign' }));
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'presign', Key: 'p/k 1' }), { expiresIn: 60 });
    const put = await fetch(putUrl, { method: 'PUT', body: 'presigned body' });
    assert.equal(put.status, 200);
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'presign', Key: 'p/k 1' }), { expiresIn: 60 });
    const get = await fetch(getUrl);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'presigned body');
    const tampered = await fetch(getUrl.replace('p/k%201', 'p/k%202'));
    assert.equal(tampered.status, 403);
    const expiredUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'presign', Key: 'p/k 1' }), {
      expiresIn: 1,
      signingDate: new Date(Date.now() - 10_000),
    });
    const expired = await fetch(expiredUrl);
    assert.equal(expired.status, 403);
    assert.equal(xmlValue(await expired.text(), 'Code'), 'AccessDenied');
  });

  test('health endpoint needs no credentials', async () => {
    for (const path of ['/health', '/minio/health/live']) {
      const r = await fetch(`${srv.endpoint}${path}`);
      assert.equal(r.status, 200);
      assert.ok(r.headers.get('x-amz-request-id'));
    }
  });

  test('unimplemented operations answer 501 NotImplemented, never a wrong success', async () => {
    await rawRequest(srv, 'PUT', '/ni-bucket');
    for (const [method, path, query] of [
      ['GET', '/ni-bucket', { 'object-lock': '' }],
      ['PUT', '/ni-bucket', { policy: '' }],
      ['PUT', '/ni-bucket', { acl: '' }],
      ['PUT', '/ni-bucket/k', { tagging: '' }],
      ['GET', '/ni-bucket/k', { attributes: '' }],
      ['POST', '/ni-bucket/k', { restore: '' }],
      ['PUT', '/ni-bucket', { replication: '' }],
    ] as const) {
      const r = await rawRequest(srv, method, path, { query, body: method === 'PUT' ? '<x/>' : undefined });
      assert.equal(r.status, 501, `${method} ${path} ${Object.keys(query)}`);
      assert.equal(xmlValue(r.text, 'Code'), 'NotImplemented');
    }
    // SSE is implemented (src/sse, test/sse): the header is honoured, not ignored.
    const sse = await rawRequest(srv, 'PUT', '/ni-bucket/k', { body: 'x', headers: { 'x-amz-server-side-encryption': 'AES256' } });
    assert.equal(sse.status, 200);
    assert.equal(sse.headers['x-amz-server-side-encryption'], 'AES256');
    const service = await rawRequest(srv, 'DELETE', '/');
    assert.equal(service.status, 405);
    assert.equal(xmlValue(service.text, 'Code'), 'MethodNotAllowed');
  });

  test('Content-MD5 and checksum headers are verified', async () => {
    await rawRequest(srv, 'PUT', '/digest-bucket');
    const body = 'checksummed body';
    const good = createHash('md5').update(body).digest('base64');
    const ok = await rawRequest(srv, 'PUT', '/digest-bucket/k', { body, headers: { 'content-md5': good } });
    assert.equal(ok.status, 200);
    const bad = await rawRequest(srv, 'PUT', '/digest-bucket/k', { body: 'other body', headers: { 'content-md5': good } });
    assert.equal(bad.status, 400);
    assert.equal(xmlValue(bad.text, 'Code'), 'BadDigest');
    const invalid = await rawRequest(srv, 'PUT', '/digest-bucket/k', { body, headers: { 'content-md5': 'not-md5' } });
    assert.equal(invalid.status, 400);
    assert.equal(xmlValue(invalid.text, 'Code'), 'InvalidDigest');
    const sha = createHash('sha256').update(body).digest('base64');
    const okSum = await rawRequest(srv, 'PUT', '/digest-bucket/k2', { body, headers: { 'x-amz-checksum-sha256': sha } });
    assert.equal(okSum.status, 200);
    assert.equal(okSum.headers['x-amz-checksum-sha256'], sha);
    const badSum = await rawRequest(srv, 'PUT', '/digest-bucket/k2', { body: 'tampered', headers: { 'x-amz-checksum-sha256': sha } });
    assert.equal(badSum.status, 400);
    assert.equal(xmlValue(badSum.text, 'Code'), 'BadDigest');
    const tampered = await rawRequest(srv, 'PUT', '/digest-bucket/k3', {
      body,
      headers: { 'x-amz-content-sha256': createHash('sha256').update('something else').digest('hex') },
    });
    assert.equal(tampered.status, 400);
    assert.equal(xmlValue(tampered.text, 'Code'), 'XAmzContentSHA256Mismatch');
    // Failed writes leave the old object (or nothing) visible.
    const still = await rawRequest(srv, 'GET', '/digest-bucket/k');
    assert.equal(still.text, body);
    assert.equal((await rawRequest(srv, 'GET', '/digest-bucket/k3')).status, 404);
  });

  test('ListBuckets: max-buckets pages, continuation token, prefix and bucket-region filters, paginateListBuckets', async () => {
    const s3 = srv.client();
    const names = ['lb-page-c', 'lb-page-a', 'lb-page-e', 'lb-page-b', 'lb-page-d'];
    for (const n of names) await s3.send(new CreateBucketCommand({ Bucket: n }));
    await s3.send(new CreateBucketCommand({ Bucket: 'lb-page-eu', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    const sorted = [...names, 'lb-page-eu'].sort();
    const first = await s3.send(new ListBucketsCommand({ Prefix: 'lb-page-', MaxBuckets: 2 }));
    assert.deepEqual(
      first.Buckets?.map((b) => b.Name),
      sorted.slice(0, 2),
    );
    assert.equal(first.Prefix, 'lb-page-');
    assert.ok(first.ContinuationToken);
    assert.equal(first.Buckets?.[0]?.BucketRegion, 'us-east-1');
    const second = await s3.send(new ListBucketsCommand({ Prefix: 'lb-page-', MaxBuckets: 2, ContinuationToken: first.ContinuationToken }));
    assert.deepEqual(
      second.Buckets?.map((b) => b.Name),
      sorted.slice(2, 4),
    );
    const last = await s3.send(new ListBucketsCommand({ Prefix: 'lb-page-', MaxBuckets: 2, ContinuationToken: second.ContinuationToken }));
    assert.deepEqual(
      last.Buckets?.map((b) => b.Name),
      sorted.slice(4),
    );
    assert.equal(last.ContinuationToken, undefined);
    const eu = await s3.send(new ListBucketsCommand({ BucketRegion: 'eu-west-1' }));
    assert.deepEqual(
      eu.Buckets?.map((b) => [b.Name, b.BucketRegion]),
      [['lb-page-eu', 'eu-west-1']],
    );
    const pages: string[][] = [];
    for await (const page of paginateListBuckets({ client: s3, pageSize: 4 }, { Prefix: 'lb-page-' }))
      pages.push((page.Buckets ?? []).map((b) => b.Name!));
    assert.deepEqual(pages, [sorted.slice(0, 4), sorted.slice(4)]);
    for (const [query, code] of [
      [{ 'max-buckets': '0' }, 'InvalidArgument'],
      [{ 'max-buckets': '10001' }, 'InvalidArgument'],
      [{ 'max-buckets': 'ten' }, 'InvalidArgument'],
      [{ 'continuation-token': '!!!' }, 'InvalidArgument'],
    ] as const) {
      const r = await rawRequest(srv, 'GET', '/', { query });
      assert.equal(r.status, 400, JSON.stringify(query));
      assert.equal(xmlValue(r.text, 'Code'), code);
    }
    for (const n of [...names, 'lb-page-eu']) await s3.send(new DeleteBucketCommand({ Bucket: n }));
  });

  test('SDK default flexible checksums (aws-chunked trailer) are checked and returned', async () => {
    const s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'crc-bucket' }));
    for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const) {
      const put = await s3.send(
        new PutObjectCommand({ Bucket: 'crc-bucket', Key: alg, Body: Buffer.alloc(100_000, 7), ChecksumAlgorithm: alg }),
      );
      const field = `Checksum${alg}` as 'ChecksumCRC32';
      assert.ok(put[field], alg);
      const get = await s3.send(new GetObjectCommand({ Bucket: 'crc-bucket', Key: alg, ChecksumMode: 'ENABLED' }));
      assert.equal(get[field], put[field]);
      assert.equal((await collect(get.Body)).length, 100_000);
    }
  });

  test("x-amz-checksum-crc64nvme header: the SDK's own CRC64NVME is accepted, a wrong one is BadDigest", async () => {
    const s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'crc64-bucket' }));
    // 1 MiB + 3 bytes: the slice-by-8 loop and the byte-wise tail both run; the SDK computes its own value.
    const body = randomBytes(1024 * 1024 + 3);
    const put = await s3.send(new PutObjectCommand({ Bucket: 'crc64-bucket', Key: 'k', Body: body, ChecksumAlgorithm: 'CRC64NVME' }));
    assert.equal(put.ChecksumType, 'FULL_OBJECT');
    const value = put.ChecksumCRC64NVME!;
    assert.equal(Buffer.from(value, 'base64').length, 8);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'crc64-bucket', Key: 'k', ChecksumMode: 'ENABLED' }));
    assert.equal(head.ChecksumCRC64NVME, value);
    // Known answer: CRC-64/NVME("123456789") = 0xae8b14860a799888.
    const check = Buffer.from('ae8b14860a799888', 'hex').toString('base64');
    const ok = await rawRequest(srv, 'PUT', '/crc64-bucket/check', { body: '123456789', headers: { 'x-amz-checksum-crc64nvme': check } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers['x-amz-checksum-crc64nvme'], check);
    const bad = await rawRequest(srv, 'PUT', '/crc64-bucket/check', { body: '123456780', headers: { 'x-amz-checksum-crc64nvme': check } });
    assert.equal(bad.status, 400);
    assert.equal(xmlValue(bad.text, 'Code'), 'BadDigest');
    // As an aws-chunked trailer (what the SDK sends for streamed bodies), right and wrong.
    for (const [value, status] of [
      [check, 200],
      [Buffer.from('ae8b14860a799889', 'hex').toString('base64'), 400],
    ] as const) {
      const chunked = `9\r\n123456789\r\n0\r\nx-amz-checksum-crc64nvme:${value}\r\n\r\n`;
      const r = await rawRequest(srv, 'PUT', '/crc64-bucket/trailer', {
        body: chunked,
        headers: {
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': '9',
          'x-amz-trailer': 'x-amz-checksum-crc64nvme',
        },
      });
      assert.equal(r.status, status, r.text);
      if (status === 200) assert.equal(r.headers['x-amz-checksum-crc64nvme'], check);
      else assert.equal(xmlValue(r.text, 'Code'), 'BadDigest');
    }
    const short = await rawRequest(srv, 'PUT', '/crc64-bucket/check', {
      body: '123456789',
      headers: { 'x-amz-checksum-crc64nvme': 'AAAAAA==' },
    });
    assert.equal(short.status, 400);
    assert.equal(xmlValue(short.text, 'Code'), 'InvalidRequest');
  });
});
