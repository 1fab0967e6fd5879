// Object operations in detail: ranges, conditional requests, response overrides, CopyObject,
// DeleteObjects, ListObjects v1, encoding-type=url, ListObjectVersions/GetBucketVersioning on an
// unversioned bucket, virtual-host-style addressing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  CopyObjectCommand,
  DeleteObjectsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  GetBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { startKura, s3Error, rawRequest, collect, xmlValue, type KuraServer } from '../helpers/server.ts';

describe('kura server: object operations', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const bucket = 'objects';
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  let etag: string;

  before(async () => {
    srv = await startKura();
    s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    etag = (
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'data.bin', Body: data, ContentType: 'application/x-test', Metadata: { k: 'v' } }),
      )
    ).ETag!;
  });
  after(async () => {
    await srv.stop();
  });

  test('single byte ranges: 206 and Content-Range; unsatisfiable: 416 InvalidRange', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=10-19', 10, 19],
      ['bytes=990-', 990, 999],
      ['bytes=-5', 995, 999],
      ['bytes=500-5000', 500, 999],
      ['bytes=-2000', 0, 999],
    ];
    for (const [range, start, end] of cases) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'data.bin', Range: range }));
      assert.equal(r.$metadata.httpStatusCode, 206, range);
      assert.equal(r.ContentRange, `bytes ${start}-${end}/1000`, range);
      assert.equal(r.ContentLength, end - start + 1);
      assert.deepEqual(await collect(r.Body), data.subarray(start, end + 1), range);
    }
    const bad = await rawRequest(srv, 'GET', `/${bucket}/data.bin`, { headers: { range: 'bytes=1000-' } });
    assert.equal(bad.status, 416);
    assert.equal(xmlValue(bad.text, 'Code'), 'InvalidRange');
    assert.equal(xmlValue(bad.text, 'ActualObjectSize'), '1000');
    // Malformed or multiple ranges are ignored: the whole object, 200.
    for (const range of ['bytes=5-2', 'items=0-1', 'bytes=0-1,3-4']) {
      const r = await rawRequest(srv, 'GET', `/${bucket}/data.bin`, { headers: { range } });
      assert.equal(r.status, 200, range);
      assert.equal(r.body.length, 1000);
    }
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'data.bin', Range: 'bytes=0-9' }));
    assert.equal(head.ContentLength, 10);
    assert.equal(head.ContentRange, 'bytes 0-9/1000');
  });

  test('conditional GET/HEAD: 304 and 412 as S3', async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'data.bin' }));
    const lm = head.LastModified!;
    const before = new Date(lm.getTime() - 60_000).toUTCString();
    const later = new Date(lm.getTime() + 60_000).toUTCString();
    const get = (headers: Record<string, string>) => rawRequest(srv, 'GET', `/${bucket}/data.bin`, { headers });
    assert.equal((await get({ 'if-match': etag })).status, 200);
    assert.equal((await get({ 'if-match': '"0123"' })).status, 412);
    assert.equal(xmlValue((await get({ 'if-match': '"0123"' })).text, 'Code'), 'PreconditionFailed');
    assert.equal((await get({ 'if-none-match': etag })).status, 304);
    assert.equal((await get({ 'if-none-match': '"0123"' })).status, 200);
    assert.equal((await get({ 'if-modified-since': later })).status, 304);
    assert.equal((await get({ 'if-modified-since': before })).status, 200);
    assert.equal((await get({ 'if-unmodified-since': before })).status, 412);
    assert.equal((await get({ 'if-unmodified-since': later })).status, 200);
    // If-Match true wins over If-Unmodified-Since false; If-None-Match false wins over If-Modified-Since.
    assert.equal((await get({ 'if-match': etag, 'if-unmodified-since': before })).status, 200);
    assert.equal((await get({ 'if-none-match': etag, 'if-modified-since': before })).status, 304);
    const notModified = await get({ 'if-none-match': etag });
    assert.equal(notModified.body.length, 0);
    assert.equal(notModified.headers['etag'], etag);
    const e = await s3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'data.bin', IfMatch: '"nope"' })));
    assert.equal(e.$metadata.httpStatusCode, 412);
  });

  test('response-* query parameters override headers', async () => {
    const r = await s3.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: 'data.bin',
        ResponseContentType: 'text/x-over',
        ResponseContentDisposition: 'inline',
        ResponseCacheControl: 'no-store',
        ResponseContentLanguage: 'fr',
        ResponseContentEncoding: 'gzip',
        ResponseExpires: new Date('2031-01-01T00:00:00Z'),
      }),
    );
    assert.equal(r.ContentType, 'text/x-over');
    assert.equal(r.ContentDisposition, 'inline');
    assert.equal(r.CacheControl, 'no-store');
    assert.equal(r.ContentLanguage, 'fr');
    assert.equal(r.ContentEncoding, 'gzip');
    await collect(r.Body);
  });

  test('partNumber=1 of a single-part object', async () => {
    const r = await rawRequest(srv, 'GET', `/${bucket}/data.bin`, { query: { partNumber: '1' } });
    assert.equal(r.status, 206);
    assert.equal(r.body.length, 1000);
    const bad = await rawRequest(srv, 'GET', `/${bucket}/data.bin`, { query: { partNumber: '2' } });
    assert.equal(bad.status, 416);
    assert.equal(xmlValue(bad.text, 'Code'), 'InvalidPartNumber');
  });

  test('CopyObject: COPY and REPLACE directives, encoded source, conditions, copy onto itself', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'src dir/ü+ file',
        Body: 'copy me',
        ContentType: 'text/plain',
        Metadata: { a: '1' },
        CacheControl: 'max-age=5',
      }),
    );
    const copy = await s3.send(
      new CopyObjectCommand({ Bucket: bucket, Key: 'copied', CopySource: `${bucket}/${encodeURIComponent('src dir/ü+ file')}` }),
    );
    assert.equal(copy.CopyObjectResult?.ETag, `"${createHash('md5').update('copy me').digest('hex')}"`);
    assert.ok(copy.CopyObjectResult?.LastModified instanceof Date);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'copied' }));
    assert.equal(await got.Body!.transformToString(), 'copy me');
    assert.equal(got.ContentType, 'text/plain');
    assert.deepEqual(got.Metadata, { a: '1' });
    assert.equal(got.CacheControl, 'max-age=5');
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'replaced',
        CopySource: `/${bucket}/${encodeURIComponent('src dir/ü+ file')}`,
        MetadataDirective: 'REPLACE',
        ContentType: 'text/x-new',
        Metadata: { b: '2' },
      }),
    );
    const rep = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'replaced' }));
    assert.equal(rep.ContentType, 'text/x-new');
    assert.deepEqual(rep.Metadata, { b: '2' });
    assert.equal(rep.CacheControl, undefined);
    const self = await s3Error(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'copied', CopySource: `${bucket}/copied` })));
    assert.equal(self.name, 'InvalidRequest');
    assert.equal(self.$metadata.httpStatusCode, 400);
    // With REPLACE, copying onto itself updates the metadata.
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'copied',
        CopySource: `${bucket}/copied`,
        MetadataDirective: 'REPLACE',
        Metadata: { c: '3' },
        ContentType: 'text/plain',
      }),
    );
    assert.deepEqual((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copied' }))).Metadata, { c: '3' });
    const srcEtag = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'copied' }))).ETag!;
    const fail = await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'c2', CopySource: `${bucket}/copied`, CopySourceIfMatch: '"nope"' })),
    );
    assert.equal(fail.$metadata.httpStatusCode, 412);
    const fail2 = await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'c2', CopySource: `${bucket}/copied`, CopySourceIfNoneMatch: srcEtag })),
    );
    assert.equal(fail2.$metadata.httpStatusCode, 412);
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'c2', CopySource: `${bucket}/copied`, CopySourceIfMatch: srcEtag }));
    const missing = await s3Error(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'c3', CopySource: `${bucket}/does-not-exist` })));
    assert.equal(missing.name, 'NoSuchKey');
    const noBucket = await s3Error(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'c3', CopySource: 'no-such-bucket-x/k' })));
    assert.equal(noBucket.name, 'NoSuchBucket');
  });

  test('DeleteObjects: results, Quiet, missing keys succeed', async () => {
    for (const k of ['d1', 'd2', 'd3']) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: k, Body: k }));
    const r = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'd1' }, { Key: 'd2' }, { Key: 'nope' }] } }),
    );
    assert.deepEqual(r.Deleted?.map((d) => d.Key).sort(), ['d1', 'd2', 'nope']);
    assert.equal(r.Errors, undefined);
    const q = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: 'd3' }], Quiet: true } }));
    assert.equal(q.Deleted, undefined);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'd' }));
    assert.deepEqual(
      list.Contents?.map((c) => c.Key),
      ['data.bin'],
    );
    const malformed = await rawRequest(srv, 'POST', `/${bucket}`, { query: { delete: '' }, body: '<Delete><Object><Key>x</Key></Object>' });
    assert.equal(malformed.status, 400);
    assert.equal(xmlValue(malformed.text, 'Code'), 'MalformedXML');
  });

  test('ListObjects v1: marker, NextMarker with delimiter, IsTruncated', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'v1-list' }));
    const keys = ['a', 'b/1', 'b/2', 'c', 'd/1', 'e'];
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: 'v1-list', Key: k, Body: '' }));
    const p1 = await s3.send(new ListObjectsCommand({ Bucket: 'v1-list', MaxKeys: 2 }));
    assert.deepEqual(
      p1.Contents?.map((c) => c.Key),
      ['a', 'b/1'],
    );
    assert.equal(p1.IsTruncated, true);
    assert.equal(p1.NextMarker, undefined);
    assert.ok(p1.Contents?.[0]?.Owner?.ID, 'v1 lists owners');
    const p2 = await s3.send(new ListObjectsCommand({ Bucket: 'v1-list', MaxKeys: 2, Marker: 'b/1' }));
    assert.deepEqual(
      p2.Contents?.map((c) => c.Key),
      ['b/2', 'c'],
    );
    const d1 = await s3.send(new ListObjectsCommand({ Bucket: 'v1-list', MaxKeys: 2, Delimiter: '/' }));
    assert.deepEqual(
      d1.Contents?.map((c) => c.Key),
      ['a'],
    );
    assert.deepEqual(
      d1.CommonPrefixes?.map((c) => c.Prefix),
      ['b/'],
    );
    assert.equal(d1.NextMarker, 'b/');
    const d2 = await s3.send(new ListObjectsCommand({ Bucket: 'v1-list', MaxKeys: 2, Delimiter: '/', Marker: d1.NextMarker }));
    assert.deepEqual(
      d2.Contents?.map((c) => c.Key),
      ['c'],
    );
    assert.deepEqual(
      d2.CommonPrefixes?.map((c) => c.Prefix),
      ['d/'],
    );
    const d3 = await s3.send(new ListObjectsCommand({ Bucket: 'v1-list', MaxKeys: 2, Delimiter: '/', Marker: d2.NextMarker }));
    assert.deepEqual(
      d3.Contents?.map((c) => c.Key),
      ['e'],
    );
    assert.equal(d3.IsTruncated, false);
    const bad = await rawRequest(srv, 'GET', '/v1-list', { query: { 'max-keys': 'abc' } });
    assert.equal(bad.status, 400);
    assert.equal(xmlValue(bad.text, 'Code'), 'InvalidArgument');
  });

  test('encoding-type=url encodes keys and prefixes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'enc-list' }));
    await s3.send(new PutObjectCommand({ Bucket: 'enc-list', Key: 'sp ace/plus+&amp<>.txt', Body: '' }));
    const r = await rawRequest(srv, 'GET', '/enc-list', { query: { 'list-type': '2', 'encoding-type': 'url' } });
    assert.equal(xmlValue(r.text, 'EncodingType'), 'url');
    assert.equal(xmlValue(r.text, 'Key'), 'sp+ace/plus%2B%26amp%3C%3E.txt');
    const sdk = await s3.send(new ListObjectsV2Command({ Bucket: 'enc-list', Delimiter: '/', EncodingType: 'url' }));
    assert.equal(decodeURIComponent(sdk.CommonPrefixes![0]!.Prefix!.replace(/\+/g, ' ')), 'sp ace/');
    const plain = await rawRequest(srv, 'GET', '/enc-list', { query: { 'list-type': '2' } });
    assert.equal(xmlValue(plain.text, 'Key'), 'sp ace/plus+&amp;amp&lt;&gt;.txt');
  });

  test('unversioned bucket: GetBucketVersioning is empty, ListObjectVersions lists null versions', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'versions' }));
    for (const k of ['x', 'y/1', 'y/2']) await s3.send(new PutObjectCommand({ Bucket: 'versions', Key: k, Body: k }));
    const v = await s3.send(new GetBucketVersioningCommand({ Bucket: 'versions' }));
    assert.equal(v.Status, undefined);
    const raw = await rawRequest(srv, 'GET', '/versions', { query: { versioning: '' } });
    assert.match(
      raw.text,
      /<VersioningConfiguration xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"(\/>|><\/VersioningConfiguration>)/,
    );
    const list = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions' }));
    assert.deepEqual(
      list.Versions?.map((x) => [x.Key, x.VersionId, x.IsLatest]),
      [
        ['x', 'null', true],
        ['y/1', 'null', true],
        ['y/2', 'null', true],
      ],
    );
    assert.equal(list.DeleteMarkers, undefined);
    const paged = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions', MaxKeys: 1, Delimiter: '/' }));
    assert.equal(paged.IsTruncated, true);
    assert.equal(paged.NextKeyMarker, 'x');
    const p2 = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: 'versions',
        MaxKeys: 1,
        Delimiter: '/',
        KeyMarker: paged.NextKeyMarker,
        VersionIdMarker: paged.NextVersionIdMarker,
      }),
    );
    assert.deepEqual(
      p2.CommonPrefixes?.map((c) => c.Prefix),
      ['y/'],
    );
    const byVersion = await s3.send(new GetObjectCommand({ Bucket: 'versions', Key: 'x', VersionId: 'null' }));
    assert.equal(await byVersion.Body!.transformToString(), 'x');
  });

  test('virtual-host-style addressing: <bucket>.localhost', async () => {
    const vh = new S3Client({
      endpoint: `http://localhost:${new URL(srv.endpoint).port}`,
      region: 'us-east-1',
      forcePathStyle: false,
      credentials: srv.credentials,
    });
    // The SDK puts the bucket into the Host header; resolve *.localhost to the loopback address ourselves.
    vh.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { hostname: string; headers: Record<string, string> };
        req.headers['host'] = `${req.hostname}:${new URL(srv.endpoint).port}`;
        req.hostname = '127.0.0.1';
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low' },
    );
    await vh.send(new PutObjectCommand({ Bucket: bucket, Key: 'vhost/key', Body: 'via host' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'vhost/key' }));
    assert.equal(await got.Body!.transformToString(), 'via host');
    const list = await vh.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'vhost/' }));
    assert.deepEqual(
      list.Contents?.map((c) => c.Key),
      ['vhost/key'],
    );
  });

  test('key length limit and metadata size limit', async () => {
    const long = 'k'.repeat(1025);
    const e = await s3Error(s3.send(new PutObjectCommand({ Bucket: bucket, Key: long, Body: 'x' })));
    assert.equal(e.name, 'KeyTooLongError');
    const ok = 'é'.repeat(512); // 1024 bytes
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: ok, Body: 'x' }));
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: ok }))).ContentLength, 1);
    const big = await s3Error(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'meta', Body: 'x', Metadata: { big: 'v'.repeat(2100) } })),
    );
    assert.equal(big.name, 'MetadataTooLarge');
  });
});

describe('kura server: conditional writes and "not configured" answers', () => {
  let srv: KuraServer;
  let s3: S3Client;
  before(async () => {
    srv = await startKura();
    s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'cond' }));
  });
  after(async () => {
    await srv.stop();
  });

  test('PutObject If-None-Match: * and If-Match', async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'one', IfNoneMatch: '*' }));
    const e = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'two', IfNoneMatch: '*' })));
    assert.equal(e.$metadata.httpStatusCode, 412);
    const wrong = await s3Error(
      s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'two', IfMatch: '"ffffffffffffffffffffffffffffffff"' })),
    );
    assert.equal(wrong.$metadata.httpStatusCode, 412);
    await s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'three', IfMatch: first.ETag }));
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k' }))).Body!.transformToString(), 'three');
  });

  test('bucket policy, CORS, lifecycle, tagging: not configured; ACLs: owner only', async () => {
    for (const [sub, code] of [
      ['policy', 'NoSuchBucketPolicy'],
      ['cors', 'NoSuchCORSConfiguration'],
      ['lifecycle', 'NoSuchLifecycleConfiguration'],
      ['tagging', 'NoSuchTagSet'],
      ['website', 'NoSuchWebsiteConfiguration'],
    ] as const) {
      const r = await rawRequest(srv, 'GET', '/cond', { query: { [sub]: '' } });
      assert.equal(r.status, 404, sub);
      assert.equal(xmlValue(r.text, 'Code'), code);
    }
    const acl = await rawRequest(srv, 'GET', '/cond', { query: { acl: '' } });
    assert.equal(acl.status, 200);
    assert.equal(xmlValue(acl.text, 'Permission'), 'FULL_CONTROL');
    const tags = await rawRequest(srv, 'GET', '/cond/k', { query: { tagging: '' } });
    assert.equal(tags.status, 200);
    assert.match(tags.text, /<TagSet><\/TagSet>|<TagSet\/>/);
    const missing = await rawRequest(srv, 'GET', '/cond/none', { query: { acl: '' } });
    assert.equal(xmlValue(missing.text, 'Code'), 'NoSuchKey');
  });
});
