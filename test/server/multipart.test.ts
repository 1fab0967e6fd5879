// Multipart uploads: lib-storage (≥ 20 MiB), the low-level calls and their errors, UploadPartCopy,
// ListParts, ListMultipartUploads, GET by partNumber.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  ListPartsCommand,
  ListMultipartUploadsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  DeleteBucketCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startKura, s3Error, rawRequest, collect, xmlValue, type KuraServer } from '../helpers/server.ts';

const MiB = 1024 * 1024;

function md5(b: Buffer): Buffer {
  return createHash('md5').update(b).digest();
}

describe('kura server: multipart uploads', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const bucket = 'mpu';

  before(async () => {
    srv = await startKura();
    s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    await srv.stop();
  });

  test('lib-storage Upload of 21 MiB over HTTPS: parts, ETag, composite checksum, content', async () => {
    const tls = srv.client({ https: true });
    const body = randomBytes(21 * MiB);
    const up = new Upload({
      client: tls,
      params: { Bucket: bucket, Key: 'big/object.bin', Body: body, ContentType: 'application/x-big' },
      partSize: 5 * MiB,
      queueSize: 3,
    });
    const res = await up.done();
    const parts = [0, 1, 2, 3, 4].map((i) => body.subarray(i * 5 * MiB, Math.min((i + 1) * 5 * MiB, body.length)));
    const expected = `"${createHash('md5')
      .update(Buffer.concat(parts.map(md5)))
      .digest('hex')}-5"`;
    assert.equal(res.ETag, expected);
    const head = await tls.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big/object.bin', ChecksumMode: 'ENABLED' }));
    assert.equal(head.ContentLength, body.length);
    assert.equal(head.ContentType, 'application/x-big');
    assert.equal(head.ETag, expected);
    assert.match(head.ChecksumCRC32 ?? '', /-5$/);
    const get = await tls.send(new GetObjectCommand({ Bucket: bucket, Key: 'big/object.bin' }));
    const got = await collect(get.Body);
    assert.equal(got.length, body.length);
    assert.ok(got.equals(body));
    // A range across a part boundary.
    const r = await tls.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'big/object.bin', Range: `bytes=${5 * MiB - 10}-${5 * MiB + 9}` }),
    );
    assert.ok((await collect(r.Body)).equals(body.subarray(5 * MiB - 10, 5 * MiB + 10)));
    // GET by part number: that part's bytes, 206, parts count.
    const p3 = await tls.send(new GetObjectCommand({ Bucket: bucket, Key: 'big/object.bin', PartNumber: 3 }));
    assert.equal(p3.$metadata.httpStatusCode, 206);
    assert.equal(p3.PartsCount, 5);
    assert.equal(p3.ContentRange, `bytes ${10 * MiB}-${15 * MiB - 1}/${body.length}`);
    assert.ok((await collect(p3.Body)).equals(parts[2]!));
  });

  test('low-level calls, ListParts, ListMultipartUploads, part replacement, completion', async () => {
    const key = 'manual/obj';
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: { m: '1' }, ContentType: 'text/x-mpu' }),
    );
    assert.ok(UploadId);
    const p1 = randomBytes(5 * MiB);
    const p2a = Buffer.from('first try of part 2');
    const p2 = Buffer.from('last part');
    const r1 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: p1 }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: p2a }));
    const r2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: p2 }));
    assert.equal(r1.ETag, `"${md5(p1).toString('hex')}"`);
    const parts = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }));
    assert.deepEqual(
      parts.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]),
      [
        [1, p1.length, r1.ETag],
        [2, p2.length, r2.ETag],
      ],
    );
    const paged = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId, MaxParts: 1 }));
    assert.equal(paged.IsTruncated, true);
    assert.equal(paged.NextPartNumberMarker, '1');
    const paged2 = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId, PartNumberMarker: '1' }));
    assert.deepEqual(
      paged2.Parts?.map((p) => p.PartNumber),
      [2],
    );
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.ok(uploads.Uploads?.some((u) => u.UploadId === UploadId && u.Key === key && u.Initiated instanceof Date));
    const byPrefix = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'manual/', Delimiter: '/' }));
    assert.deepEqual(
      byPrefix.Uploads?.map((u) => u.Key),
      [key],
    );
    // Not visible before completion.
    assert.equal((await rawRequest(srv, 'GET', `/${bucket}/manual/obj`)).status, 404);
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: r1.ETag },
            { PartNumber: 2, ETag: r2.ETag },
          ],
        },
      }),
    );
    assert.equal(
      done.ETag,
      `"${createHash('md5')
        .update(Buffer.concat([md5(p1), md5(p2)]))
        .digest('hex')}-2"`,
    );
    assert.equal(done.Key, key);
    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    assert.equal(get.ContentType, 'text/x-mpu');
    assert.deepEqual(get.Metadata, { m: '1' });
    assert.ok((await collect(get.Body)).equals(Buffer.concat([p1, p2])));
    const gone = await s3Error(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId })));
    assert.equal(gone.name, 'NoSuchUpload');
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assert.ok(!after.Uploads?.some((u) => u.UploadId === UploadId));
  });

  test('completion errors: InvalidPart, InvalidPartOrder, EntityTooSmall, MalformedXML, NoSuchUpload', async () => {
    const key = 'errors/obj';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const small = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: 'tiny' }));
    const small2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: 'tiny too' }));
    const complete = (Parts: { PartNumber: number; ETag: string }[]) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts } }));
    const wrongEtag = await s3Error(complete([{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }]));
    assert.equal(wrongEtag.name, 'InvalidPart');
    const missing = await s3Error(
      complete([
        { PartNumber: 1, ETag: small.ETag! },
        { PartNumber: 3, ETag: small.ETag! },
      ]),
    );
    assert.equal(missing.name, 'InvalidPart');
    const order = await s3Error(
      complete([
        { PartNumber: 2, ETag: small2.ETag! },
        { PartNumber: 1, ETag: small.ETag! },
      ]),
    );
    assert.equal(order.name, 'InvalidPartOrder');
    const tooSmall = await s3Error(
      complete([
        { PartNumber: 1, ETag: small.ETag! },
        { PartNumber: 2, ETag: small2.ETag! },
      ]),
    );
    assert.equal(tooSmall.name, 'EntityTooSmall');
    assert.equal(tooSmall.$metadata.httpStatusCode, 400);
    const empty = await rawRequest(srv, 'POST', `/${bucket}/${key}`, {
      query: { uploadId: UploadId! },
      body: '<CompleteMultipartUpload></CompleteMultipartUpload>',
    });
    assert.equal(empty.status, 400);
    assert.equal(xmlValue(empty.text, 'Code'), 'MalformedXML');
    const garbage = await rawRequest(srv, 'POST', `/${bucket}/${key}`, {
      query: { uploadId: UploadId! },
      body: '<CompleteMultipartUpload><Part>',
    });
    assert.equal(xmlValue(garbage.text, 'Code'), 'MalformedXML');
    // A single small part is fine (the last part may be small).
    const ok = await complete([{ PartNumber: 2, ETag: small2.ETag! }]);
    assert.match(ok.ETag!, /-1"$/);
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString(), 'tiny too');
    const noUpload = await s3Error(
      s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: 'f'.repeat(48), PartNumber: 1, Body: 'x' })),
    );
    assert.equal(noUpload.name, 'NoSuchUpload');
    assert.equal(noUpload.$metadata.httpStatusCode, 404);
    const badId = await rawRequest(srv, 'PUT', `/${bucket}/${key}`, { query: { partNumber: '1', uploadId: '../../etc' }, body: 'x' });
    assert.equal(xmlValue(badId.text, 'Code'), 'NoSuchUpload');
    const badPart = await rawRequest(srv, 'PUT', `/${bucket}/${key}`, { query: { partNumber: '10001', uploadId: UploadId! }, body: 'x' });
    assert.equal(badPart.status, 400);
    assert.equal(xmlValue(badPart.text, 'Code'), 'InvalidArgument');
  });

  test('abort removes the upload and its parts', async () => {
    const key = 'aborted/obj';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: 'data' }));
    const r = await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));
    assert.equal(r.$metadata.httpStatusCode, 204);
    const again = await s3Error(s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })));
    assert.equal(again.name, 'NoSuchUpload');
    assert.equal((await rawRequest(srv, 'GET', `/${bucket}/${key}`)).status, 404);
  });

  test('UploadPartCopy with x-amz-copy-source-range', async () => {
    const src = randomBytes(6 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'copy-src', Body: src }));
    const key = 'copied/mpu';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const c1 = await s3.send(
      new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, CopySource: `${bucket}/copy-src` }),
    );
    const c2 = await s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 2,
        CopySource: `${bucket}/copy-src`,
        CopySourceRange: 'bytes=100-199',
      }),
    );
    assert.equal(c1.CopyPartResult?.ETag, `"${md5(src).toString('hex')}"`);
    assert.equal(c2.CopyPartResult?.ETag, `"${md5(src.subarray(100, 200)).toString('hex')}"`);
    const bad = await s3Error(
      s3.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber: 3,
          CopySource: `${bucket}/copy-src`,
          CopySourceRange: `bytes=0-${src.length}`,
        }),
      ),
    );
    assert.equal(bad.$metadata.httpStatusCode, 416);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: c1.CopyPartResult!.ETag! },
            { PartNumber: 2, ETag: c2.CopyPartResult!.ETag! },
          ],
        },
      }),
    );
    const got = await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body);
    assert.ok(got.equals(Buffer.concat([src, src.subarray(100, 200)])));
  });

  test('FULL_OBJECT CRC32C checksum: combined from the parts, returned and validated on GET', async () => {
    const key = 'full-object/crc';
    const parts = [randomBytes(5 * MiB), randomBytes(777)];
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC32C', ChecksumType: 'FULL_OBJECT' }),
    );
    assert.equal(created.ChecksumType, 'FULL_OBJECT');
    const done: { PartNumber: number; ETag: string; ChecksumCRC32C: string }[] = [];
    for (const [i, p] of parts.entries()) {
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: p,
          ChecksumAlgorithm: 'CRC32C',
        }),
      );
      done.push({ PartNumber: i + 1, ETag: r.ETag!, ChecksumCRC32C: r.ChecksumCRC32C! });
    }
    const res = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, MultipartUpload: { Parts: done } }),
    );
    const { Crc32c } = await import('@aws-crypto/crc32c');
    const c = new Crc32c();
    for (const p of parts) c.update(p);
    const expected = Buffer.alloc(4);
    expected.writeUInt32BE(c.digest());
    assert.equal(res.ChecksumCRC32C, expected.toString('base64'));
    assert.equal(res.ChecksumType, 'FULL_OBJECT');
    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    assert.equal(get.ChecksumCRC32C, expected.toString('base64'));
    assert.equal((await collect(get.Body)).length, 5 * MiB + 777);
    const bad = await s3Error(
      s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'SHA256', ChecksumType: 'FULL_OBJECT' })),
    );
    assert.equal(bad.name, 'InvalidRequest');
  });

  test('CRC64NVME multipart: FULL_OBJECT by default, combined from the parts, whole-object value checked at completion', async () => {
    const { Crc64Nvme } = await import('../../src/hashing/checksums.ts');
    const key = 'full-object/crc64';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 1), randomBytes(12345)];
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC64NVME' }));
    assert.equal(created.ChecksumAlgorithm, 'CRC64NVME');
    assert.equal(created.ChecksumType, 'FULL_OBJECT');
    const done: { PartNumber: number; ETag: string; ChecksumCRC64NVME: string }[] = [];
    for (const [i, p] of parts.entries()) {
      // The SDK computes each part's CRC64NVME itself (aws-chunked trailer); the server checks it.
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: p,
          ChecksumAlgorithm: 'CRC64NVME',
        }),
      );
      done.push({ PartNumber: i + 1, ETag: r.ETag!, ChecksumCRC64NVME: r.ChecksumCRC64NVME! });
    }
    const whole = new Crc64Nvme();
    for (const p of parts) whole.update(p);
    const expected = whole.digest().toString('base64');
    const wrong = await s3Error(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: created.UploadId,
          MultipartUpload: { Parts: done },
          ChecksumCRC64NVME: 'AAAAAAAAAAA=',
          ChecksumType: 'FULL_OBJECT',
        }),
      ),
    );
    assert.equal(wrong.name, 'BadDigest');
    const res = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: created.UploadId,
        MultipartUpload: { Parts: done },
        ChecksumCRC64NVME: expected,
        ChecksumType: 'FULL_OBJECT',
      }),
    );
    assert.equal(res.ChecksumCRC64NVME, expected);
    assert.equal(res.ChecksumType, 'FULL_OBJECT');
    // The SDK validates a FULL_OBJECT checksum of a GET against the body it receives.
    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    assert.equal(get.ChecksumCRC64NVME, expected);
    assert.equal(get.ChecksumType, 'FULL_OBJECT');
    assert.ok((await collect(get.Body)).equals(Buffer.concat(parts)));
    const composite = await s3Error(
      s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'COMPOSITE' })),
    );
    assert.equal(composite.name, 'InvalidRequest');
  });

  test('FULL_OBJECT CRC32 through lib-storage-sized parts: combined value equals the CRC32 of the whole', async () => {
    const { crc32 } = await import('node:zlib');
    const key = 'full-object/crc32';
    const parts = [randomBytes(5 * MiB), randomBytes(3)];
    const created = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' }),
    );
    const done: { PartNumber: number; ETag: string; ChecksumCRC32: string }[] = [];
    for (const [i, p] of parts.entries()) {
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: p,
          ChecksumAlgorithm: 'CRC32',
        }),
      );
      done.push({ PartNumber: i + 1, ETag: r.ETag!, ChecksumCRC32: r.ChecksumCRC32! });
    }
    const res = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, MultipartUpload: { Parts: done } }),
    );
    const expected = Buffer.alloc(4);
    expected.writeUInt32BE(crc32(parts[1]!, crc32(parts[0]!)));
    assert.equal(res.ChecksumCRC32, expected.toString('base64'));
    assert.equal(res.ChecksumType, 'FULL_OBJECT');
  });

  test('deleting a bucket removes incomplete uploads', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'mpu-del' }));
    await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu-del', Key: 'k' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'mpu-del' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'mpu-del' }));
    const u = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'mpu-del' }));
    assert.equal(u.Uploads, undefined);
  });
});
