// SSE-C and SSE-S3 through @aws-sdk/client-s3 against a real `kura server` over HTTPS: every operation,
// the errors AWS returns, multipart ranges across part boundaries, copies between modes, presigned GET.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecParams, raw, blobPaths, ssecHeaders, type TestKey } from './helpers.ts';

async function s3Error(p: Promise<unknown>): Promise<{ code: string; status: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { code: e.name, status: e.$metadata.httpStatusCode ?? 0, message: e.message };
    throw e;
  }
  assert.fail('expected an S3 error');
}

const md5hex = (b: Buffer) => createHash('md5').update(b).digest('hex');
const MiB = 1024 * 1024;

describe('SSE through the AWS SDK', () => {
  let srv: KuraServer;
  let s3: S3Client;
  const bucket = 'sse-sdk';
  const k1 = newKey();
  const k2 = newKey();

  before(async () => {
    srv = await startKura();
    s3 = srv.client({ https: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    s3.destroy();
    await srv.stop();
  });

  const get = async (Key: string, k?: TestKey, Range?: string) =>
    collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key, Range, ...(k ? ssecParams(k) : {}) }))).Body);

  test('SSE-C PUT/GET/HEAD: echoed algorithm and key MD5, ETag not the MD5, stored bytes are not the data', async () => {
    const data = randomBytes(200_000);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'c.bin', Body: data, ...ssecParams(k1) }));
    assert.equal(put.SSECustomerAlgorithm, 'AES256');
    assert.equal(put.SSECustomerKeyMD5, k1.md5);
    assert.equal(put.ServerSideEncryption, undefined);
    assert.notEqual(put.ETag, `"${md5hex(data)}"`);
    assert.match(put.ETag!, /^"[0-9a-f]{32}"$/);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'c.bin', ...ssecParams(k1) }));
    assert.equal(head.ContentLength, data.length);
    assert.equal(head.SSECustomerAlgorithm, 'AES256');
    assert.equal(head.SSECustomerKeyMD5, k1.md5);
    assert.equal(head.ETag, put.ETag);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'c.bin', ...ssecParams(k1) }));
    assert.equal(got.SSECustomerKeyMD5, k1.md5);
    assert.deepEqual(await collect(got.Body), data);
    const [blob] = await blobPaths(srv.dataDir, bucket, 'c.bin');
    const stored = await readFile(blob!);
    assert.equal(stored.length, data.length + 16 * Math.ceil(data.length / 65536));
    assert.equal(stored.indexOf(data.subarray(1000, 1032)), -1);
  });

  test('no SSE headers = SSE-S3: reported as AES256, ETag is the MD5, stored encrypted', async () => {
    const data = randomBytes(70_000);
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain.bin', Body: data }));
    assert.equal(put.ServerSideEncryption, 'AES256');
    assert.equal(put.ETag, `"${md5hex(data)}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain.bin' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
    assert.equal(head.SSECustomerAlgorithm, undefined);
    assert.deepEqual(await get('plain.bin'), data);
    const stored = await readFile((await blobPaths(srv.dataDir, bucket, 'plain.bin'))[0]!);
    assert.equal(stored.length, data.length + 32);
    assert.equal(stored.indexOf(data.subarray(0, 32)), -1);
    const s3put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 's3.bin', Body: data, ServerSideEncryption: 'AES256' }));
    assert.equal(s3put.ServerSideEncryption, 'AES256');
    assert.equal(s3put.ETag, put.ETag);
    const g = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 's3.bin' }));
    assert.equal(g.ServerSideEncryption, 'AES256');
    assert.deepEqual(await collect(g.Body), data);
  });

  test('GET/HEAD errors: no key 400 InvalidRequest, wrong key 403, SSE-C on a non-SSE-C object 400, SSE header on GET 400', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'e.bin', Body: 'secret', ...ssecParams(k1) }));
    const noKey = await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'e.bin' })));
    assert.deepEqual([noKey.status, noKey.code], [400, 'InvalidRequest']);
    assert.equal(
      noKey.message,
      'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.',
    );
    assert.equal((await s3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'e.bin' })))).status, 400);
    const wrong = await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'e.bin', ...ssecParams(k2) })));
    assert.deepEqual([wrong.status, wrong.code], [403, 'AccessDenied']);
    assert.equal((await s3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'e.bin', ...ssecParams(k2) })))).status, 403);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'n.bin', Body: 'x' }));
    const na = await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'n.bin', ...ssecParams(k1) })));
    assert.deepEqual([na.status, na.code], [400, 'InvalidRequest']);
    const sseOnGet = await raw(srv, 'GET', `/${bucket}/n.bin`, { headers: { 'x-amz-server-side-encryption': 'AES256' } });
    assert.equal(sseOnGet.status, 400);
    assert.match(sseOnGet.text, /<Code>InvalidArgument<\/Code>/);
    // An empty SSE-C object still needs its key.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'empty', Body: '', ...ssecParams(k1) }));
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'empty', ...ssecParams(k2) })))).status, 403);
    assert.equal((await get('empty', k1)).length, 0);
  });

  test('SSE-C ranges', async () => {
    const data = randomBytes(3 * 65536 + 100);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'r.bin', Body: data, ...ssecParams(k1) }));
    for (const [s, e] of [
      [0, 0],
      [65535, 65536],
      [65536, 2 * 65536 - 1],
      [100, 3 * 65536 + 99],
      [3 * 65536, 3 * 65536 + 99],
    ] as const) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'r.bin', Range: `bytes=${s}-${e}`, ...ssecParams(k1) }));
      assert.equal(r.ContentRange, `bytes ${s}-${e}/${data.length}`);
      assert.deepEqual(await collect(r.Body), data.subarray(s, e + 1));
    }
  });

  test('multipart SSE-C, 3 parts: echoes, part key checks, ranges across part boundaries, partNumber', async () => {
    const parts = [randomBytes(5 * MiB + 7), randomBytes(5 * MiB), randomBytes(123_457)];
    const data = Buffer.concat(parts);
    const create = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp.bin', ...ssecParams(k1) }));
    assert.equal(create.SSECustomerAlgorithm, 'AES256');
    assert.equal(create.SSECustomerKeyMD5, k1.md5);
    const UploadId = create.UploadId!;
    // A part without the key, or with another key, is refused.
    const noKey = await s3Error(s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp.bin', UploadId, PartNumber: 1, Body: parts[0] })));
    assert.deepEqual([noKey.status, noKey.code], [400, 'InvalidRequest']);
    const otherKey = await s3Error(
      s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp.bin', UploadId, PartNumber: 1, Body: parts[0], ...ssecParams(k2) })),
    );
    assert.deepEqual([otherKey.status, otherKey.code], [400, 'InvalidArgument']);
    const etags: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: 'mp.bin', UploadId, PartNumber: i + 1, Body: parts[i], ...ssecParams(k1) }),
      );
      assert.equal(r.SSECustomerAlgorithm, 'AES256');
      assert.equal(r.SSECustomerKeyMD5, k1.md5);
      assert.notEqual(r.ETag, `"${md5hex(parts[i]!)}"`);
      etags.push(r.ETag!);
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp.bin',
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        ...ssecParams(k1),
      }),
    );
    assert.match(done.ETag!, /-3"$/);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mp.bin', ...ssecParams(k1) }));
    assert.equal(head.ContentLength, data.length);
    assert.equal(head.SSECustomerKeyMD5, k1.md5);
    assert.deepEqual(await get('mp.bin', k1), data);
    const b1 = parts[0]!.length;
    const b2 = b1 + parts[1]!.length;
    for (const [s, e] of [
      [b1 - 1, b1],
      [b1 - 70_000, b2 + 70_000],
      [0, data.length - 1],
      [b2, b2],
      [b2 - 1, data.length - 1],
      [b1, b2 - 1],
    ] as const) {
      assert.deepEqual(await get('mp.bin', k1, `bytes=${s}-${e}`), data.subarray(s, e + 1), `${s}-${e}`);
    }
    const p2 = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp.bin', PartNumber: 2, ...ssecParams(k1) }));
    assert.deepEqual(await collect(p2.Body), parts[1]);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp.bin', Range: 'bytes=0-9' })))).status, 400);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'mp.bin', ...ssecParams(k2) })))).status, 403);
  });

  test('multipart SSE-S3 (no headers) and UploadPartCopy from an SSE-C source into an SSE-C upload', async () => {
    const src = randomBytes(6 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'src-c', Body: src, ...ssecParams(k2) }));
    const create = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpc.bin', ...ssecParams(k1) }));
    const UploadId = create.UploadId!;
    const copyNoSourceKey = await s3Error(
      s3.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: 'mpc.bin',
          UploadId,
          PartNumber: 1,
          CopySource: `${bucket}/src-c`,
          ...ssecParams(k1),
        }),
      ),
    );
    assert.deepEqual([copyNoSourceKey.status, copyNoSourceKey.code], [400, 'InvalidRequest']);
    const c1 = await s3.send(
      new UploadPartCopyCommand({
        Bucket: bucket,
        Key: 'mpc.bin',
        UploadId,
        PartNumber: 1,
        CopySource: `${bucket}/src-c`,
        CopySourceRange: `bytes=0-${5 * MiB}`,
        ...ssecParams(k1),
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: k2.b64,
        CopySourceSSECustomerKeyMD5: k2.md5,
      }),
    );
    assert.equal(c1.SSECustomerKeyMD5, k1.md5);
    const tail = randomBytes(1000);
    const p2 = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'mpc.bin', UploadId, PartNumber: 2, Body: tail, ...ssecParams(k1) }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mpc.bin',
        UploadId,
        MultipartUpload: {
          Parts: [
            { ETag: c1.CopyPartResult!.ETag!, PartNumber: 1 },
            { ETag: p2.ETag!, PartNumber: 2 },
          ],
        },
      }),
    );
    const expect = Buffer.concat([src.subarray(0, 5 * MiB + 1), tail]);
    assert.deepEqual(await get('mpc.bin', k1), expect);

    const s3mp = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mps3.bin' }));
    assert.equal(s3mp.ServerSideEncryption, 'AES256');
    const na = await s3Error(
      s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: 'mps3.bin', UploadId: s3mp.UploadId!, PartNumber: 1, Body: tail, ...ssecParams(k1) }),
      ),
    );
    assert.deepEqual([na.status, na.code], [400, 'InvalidRequest']);
    const up = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'mps3.bin', UploadId: s3mp.UploadId!, PartNumber: 1, Body: tail }),
    );
    assert.equal(up.ServerSideEncryption, 'AES256');
    assert.equal(up.ETag, `"${md5hex(tail)}"`);
    const fin = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mps3.bin',
        UploadId: s3mp.UploadId!,
        MultipartUpload: { Parts: [{ ETag: up.ETag!, PartNumber: 1 }] },
      }),
    );
    assert.equal(fin.ServerSideEncryption, 'AES256');
    assert.deepEqual(await get('mps3.bin'), tail);
  });

  test('copies between modes: plain → SSE-C, SSE-C → SSE-S3, SSE-C → SSE-C, re-key in place', async () => {
    const data = randomBytes(150_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'p', Body: data }));
    const toC = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'c', CopySource: `${bucket}/p`, ...ssecParams(k1) }));
    assert.equal(toC.SSECustomerAlgorithm, 'AES256');
    assert.equal(toC.SSECustomerKeyMD5, k1.md5);
    assert.deepEqual(await get('c', k1), data);
    // Copy source SSE-C without / with the wrong copy-source key.
    const noSrcKey = await s3Error(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'x', CopySource: `${bucket}/c` })));
    assert.deepEqual([noSrcKey.status, noSrcKey.code], [400, 'InvalidRequest']);
    const wrongSrcKey = await s3Error(
      s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'x',
          CopySource: `${bucket}/c`,
          CopySourceSSECustomerAlgorithm: 'AES256',
          CopySourceSSECustomerKey: k2.b64,
          CopySourceSSECustomerKeyMD5: k2.md5,
        }),
      ),
    );
    assert.deepEqual([wrongSrcKey.status, wrongSrcKey.code], [403, 'AccessDenied']);
    const toS3 = await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 's',
        CopySource: `${bucket}/c`,
        ServerSideEncryption: 'AES256',
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: k1.b64,
        CopySourceSSECustomerKeyMD5: k1.md5,
      }),
    );
    assert.equal(toS3.ServerSideEncryption, 'AES256');
    assert.equal(toS3.CopyObjectResult!.ETag, `"${md5hex(data)}"`);
    assert.deepEqual(await get('s'), data);
    // Re-key in place: the old key stops working, the new one reads the same data.
    const rekey = await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'c',
        CopySource: `${bucket}/c`,
        ...ssecParams(k2),
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: k1.b64,
        CopySourceSSECustomerKeyMD5: k1.md5,
      }),
    );
    assert.equal(rekey.SSECustomerKeyMD5, k2.md5);
    assert.deepEqual(await get('c', k2), data);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'c', ...ssecParams(k1) })))).status, 403);
    // SSE-C in place → SSE-S3 (the encryption changes, so copying onto itself is allowed).
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'c',
        CopySource: `${bucket}/c`,
        ServerSideEncryption: 'AES256',
        CopySourceSSECustomerAlgorithm: 'AES256',
        CopySourceSSECustomerKey: k2.b64,
        CopySourceSSECustomerKeyMD5: k2.md5,
      }),
    );
    assert.deepEqual(await get('c'), data);
    // Copy-source SSE-C key for a source that is not SSE-C → 400.
    const na = await s3Error(
      s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'y',
          CopySource: `${bucket}/p`,
          CopySourceSSECustomerAlgorithm: 'AES256',
          CopySourceSSECustomerKey: k2.b64,
          CopySourceSSECustomerKeyMD5: k2.md5,
        }),
      ),
    );
    assert.deepEqual([na.status, na.code], [400, 'InvalidRequest']);
  });

  test('presigned SSE-C GET: the algorithm is signed into the URL, the client sends the key headers', async () => {
    const data = randomBytes(10_000);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'pre.bin', Body: data, ...ssecParams(k1) }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'pre.bin', ...ssecParams(k1) }), { expiresIn: 300 });
    assert.match(url, /X-Amz-SignedHeaders=[^&]*x-amz-server-side-encryption-customer-algorithm/);
    const { request } = await import('node:https');
    const ca = await readFile(srv.caPath);
    const fetchPresigned = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        request(url, { headers, ca }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        })
          .on('error', reject)
          .end();
      });
    const good = await fetchPresigned(ssecHeaders(k1));
    assert.equal(good.status, 200);
    assert.deepEqual(good.body, data);
    const missing = await fetchPresigned({});
    assert.equal(missing.status, 403); // the signed SSE-C headers are missing: the signature does not match
  });

  test('SSE-C over plain HTTP → 400 InvalidRequest (secure connection required)', async () => {
    const r = await raw(srv, 'PUT', `/${bucket}/http.bin`, { https: false, body: 'x', headers: ssecHeaders(k1) });
    assert.equal(r.status, 400);
    assert.match(r.text, /<Code>InvalidRequest<\/Code>/);
    assert.match(r.text, /must be made over a secure connection/);
    const g = await raw(srv, 'GET', `/${bucket}/c.bin`, { https: false, headers: ssecHeaders(k1) });
    assert.equal(g.status, 400);
    assert.match(g.text, /secure connection/);
    // Without SSE-C headers plain HTTP is fine.
    assert.equal((await raw(srv, 'PUT', `/${bucket}/http.bin`, { https: false, body: 'x' })).status, 200);
  });
});
