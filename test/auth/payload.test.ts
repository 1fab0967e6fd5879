import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Crc32 } from '@aws-crypto/crc32';
import { authenticate, deriveSigningKey, type AuthResult, type SignedRequest } from '../../src/sigv4/sigv4.ts';
import { createPayloadDecoder } from '../../src/sigv4/payload.ts';
import { S3Error } from '../../src/server/errors.ts';
import { SECRET, KMS_SCOPE, S3_SCOPE, lookup, signHeader } from './helpers.ts';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const DATE = new Date('2013-05-24T00:00:00Z');
const SCOPE = '20130524/us-east-1/s3/aws4_request';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Feeds `body` to the decoder in random slices; resolves with the output, or the S3Error code. */
async function decode(
  auth: AuthResult,
  headers: SignedRequest['headers'],
  body: Buffer,
  seed = 1,
): Promise<{ out?: Buffer; code?: string; trailers?: Record<string, string> }> {
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length;) {
    const n = Math.max(1, Math.floor(rand() * (rand() < 0.3 ? 8 : 20000)));
    pieces.push(body.subarray(i, i + n));
    i += n;
  }
  const decoder = createPayloadDecoder(auth, headers);
  const out: Buffer[] = [];
  try {
    await pipeline(Readable.from(pieces), decoder, async function (src: AsyncIterable<Buffer>) {
      for await (const c of src) out.push(c);
    });
  } catch (e) {
    if (e instanceof S3Error) return { code: e.code };
    throw e;
  }
  return { out: Buffer.concat(out), trailers: decoder.trailers };
}

function chunkSig(key: Buffer, prev: string, data: Buffer): string {
  const sts = `AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n${SCOPE}\n${prev}\n${EMPTY}\n${sha(data)}`;
  return createHmac('sha256', key).update(sts).digest('hex');
}

/** aws-chunked body signed per the spec; returns the body and the final signature. */
function signedChunks(key: Buffer, seed: string, data: Buffer, size: number): { body: Buffer; last: string } {
  const parts: Buffer[] = [];
  let prev = seed;
  for (let i = 0; ; i += size) {
    const chunk = data.subarray(i, Math.min(i + size, data.length));
    prev = chunkSig(key, prev, chunk);
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${prev}\r\n`), chunk, Buffer.from('\r\n'));
    if (chunk.length === 0) break;
  }
  return { body: Buffer.concat(parts), last: prev };
}

// AWS's chunked upload example (sigv4-streaming): 66560 bytes of 'a' in a 64 KiB and a 1 KiB chunk.
const exampleHeaders = {
  host: 's3.amazonaws.com',
  'x-amz-date': '20130524T000000Z',
  'x-amz-storage-class': 'REDUCED_REDUNDANCY',
  'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'content-encoding': 'aws-chunked',
  'x-amz-decoded-content-length': '66560',
  'content-length': '66824',
  authorization:
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
};
const exampleReq: SignedRequest = { method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', rawQuery: '', headers: exampleHeaders };
const exampleData = Buffer.alloc(66560, 'a');
const key = deriveSigningKey(SECRET, '20130524', 'us-east-1', 's3');

describe('aws-chunked, signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
  test('AWS example: seed and chunk signatures', async () => {
    const auth = authenticate(exampleReq, lookup, S3_SCOPE, DATE);
    assert.equal(auth.payload, 'streaming-signed');
    const { body, last } = signedChunks(key, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9', exampleData, 65536);
    assert.equal(body.length, 66824);
    // The chunk signatures published in the example.
    assert.ok(body.includes('10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'));
    assert.ok(body.includes('400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'));
    assert.equal(last, 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9');
    for (const seed of [1, 2, 3]) {
      const r = await decode(auth, exampleHeaders, body, seed);
      assert.equal(r.code, undefined);
      assert.ok(r.out!.equals(exampleData));
    }
  });

  test('corrupted data, signature, order, truncation, length', async () => {
    const auth = authenticate(exampleReq, lookup, S3_SCOPE, DATE);
    const { body } = signedChunks(key, auth ? '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9' : '', exampleData, 65536);
    const flipped = Buffer.from(body);
    flipped[100]! ^= 1; // inside the first chunk's data
    assert.equal((await decode(auth, exampleHeaders, flipped)).code, 'SignatureDoesNotMatch');
    const badSig = Buffer.from(body.toString('latin1').replace('ad80c730', 'ad80c731'), 'latin1');
    assert.equal((await decode(auth, exampleHeaders, badSig)).code, 'SignatureDoesNotMatch');
    assert.equal((await decode(auth, exampleHeaders, body.subarray(0, body.length - 90))).code, 'IncompleteBody');
    // Chunks signed under another seed (e.g. replayed from another request) fail.
    const other = signedChunks(key, 'f'.repeat(64), exampleData, 65536).body;
    assert.equal((await decode(auth, exampleHeaders, other)).code, 'SignatureDoesNotMatch');
    const lenHeaders = { ...exampleHeaders, 'x-amz-decoded-content-length': '66561' };
    assert.equal((await decode(auth, lenHeaders, body)).code, 'IncompleteBody');
    const shortHeaders = { ...exampleHeaders, 'x-amz-decoded-content-length': '66559' };
    assert.equal((await decode(auth, shortHeaders, body)).code, 'IncompleteBody');
    const { 'x-amz-decoded-content-length': _, ...noLen } = exampleHeaders;
    assert.throws(
      () => createPayloadDecoder(auth, noLen),
      (e: S3Error) => e.code === 'MissingContentLength',
    );
  });
});

describe('aws-chunked, signed with trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)', () => {
  // AWS's trailing-headers example (sigv4-streaming-trailers): same data, CRC32C trailer.
  const headers = {
    host: 's3.amazonaws.com',
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560',
    'x-amz-trailer': 'x-amz-checksum-crc32c',
    authorization:
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
  };
  const req: SignedRequest = { method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', rawQuery: '', headers };
  function body(
    trailerValue = 'sOO8/Q==',
    trailerSig = 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435',
    end = '\r\n\r\n',
  ): Buffer {
    const { body: chunks, last } = signedChunks(
      key,
      '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
      exampleData,
      65536,
    );
    assert.equal(last, '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992');
    assert.ok(chunks.includes('10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n'));
    assert.ok(chunks.includes('400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n'));
    // The final chunk is followed directly by the trailer lines, not by an empty line.
    return Buffer.concat([
      chunks.subarray(0, chunks.length - 2),
      Buffer.from(`x-amz-checksum-crc32c:${trailerValue}\r\nx-amz-trailer-signature:${trailerSig}${end}`),
    ]);
  }

  test('AWS example: chunk and trailer signatures', async () => {
    const auth = authenticate(req, lookup, S3_SCOPE, DATE);
    assert.equal(auth.payload, 'streaming-signed-trailer');
    for (const end of ['\r\n\r\n', '\r\n', '']) {
      const r = await decode(auth, headers, body(undefined, undefined, end), end.length + 5);
      assert.equal(r.code, undefined);
      assert.ok(r.out!.equals(exampleData));
      assert.deepEqual(r.trailers, { 'x-amz-checksum-crc32c': 'sOO8/Q==' });
    }
  });

  test('tampered trailer or trailer signature', async () => {
    const auth = authenticate(req, lookup, S3_SCOPE, DATE);
    assert.equal((await decode(auth, headers, body('AAAAAA=='))).code, 'SignatureDoesNotMatch');
    assert.equal(
      (await decode(auth, headers, body(undefined, 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e436'))).code,
      'SignatureDoesNotMatch',
    );
    const noSig = Buffer.from(
      body()
        .toString('latin1')
        .replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ''),
      'latin1',
    );
    assert.equal((await decode(auth, headers, noSig)).code, 'MalformedTrailerError');
  });
});

describe('aws-chunked, unsigned with trailer (SDK v3 default)', () => {
  async function sdkAuth(decodedLength: number): Promise<{ auth: AuthResult; headers: SignedRequest['headers'] }> {
    const req = await signHeader(
      {
        method: 'PUT',
        path: '/bucket/key',
        headers: {
          'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': String(decodedLength),
          'x-amz-trailer': 'x-amz-checksum-crc32',
          'x-amz-sdk-checksum-algorithm': 'CRC32',
        },
      },
      DATE,
    );
    return { auth: authenticate(req, lookup, S3_SCOPE, DATE), headers: req.headers };
  }
  function sdkBody(data: Buffer, size: number, trailer = true): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < data.length; i += size) {
      const c = data.subarray(i, i + size);
      parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n'));
    if (trailer) {
      const crc = new Crc32().update(data).digest();
      const b = Buffer.alloc(4);
      b.writeUInt32BE(crc >>> 0);
      parts.push(Buffer.from(`x-amz-checksum-crc32:${b.toString('base64')}\r\n\r\n`));
    }
    return Buffer.concat(parts);
  }

  test('decodes data and exposes the trailer', async () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const { auth, headers } = await sdkAuth(data.length);
    assert.equal(auth.payload, 'streaming-unsigned-trailer');
    const r = await decode(auth, headers, sdkBody(data, 65536), 7);
    assert.equal(r.code, undefined);
    assert.ok(r.out!.equals(data));
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(new Crc32().update(data).digest() >>> 0);
    assert.deepEqual(r.trailers, { 'x-amz-checksum-crc32': crc.toString('base64') });
  });

  test('missing declared trailer, length mismatch, garbage', async () => {
    const data = Buffer.alloc(1000, 7);
    const { auth, headers } = await sdkAuth(data.length);
    assert.equal((await decode(auth, headers, sdkBody(data, 300, false))).code, 'MalformedTrailerError');
    const { auth: a2, headers: h2 } = await sdkAuth(999);
    assert.equal((await decode(a2, h2, sdkBody(data, 300))).code, 'IncompleteBody');
    assert.equal((await decode(auth, headers, Buffer.from('zz\r\nabc'))).code, 'IncompleteBody');
  });
});

describe('plain bodies', () => {
  test('signed: hash verified at the end', async () => {
    const body = Buffer.from('Welcome to Amazon S3.');
    const req = await signHeader({ method: 'PUT', path: '/b/k', headers: { 'x-amz-content-sha256': sha(body) } }, DATE);
    const auth = authenticate(req, lookup, S3_SCOPE, DATE);
    assert.equal(auth.payload, 'signed');
    assert.ok((await decode(auth, req.headers, body)).out!.equals(body));
    assert.equal((await decode(auth, req.headers, Buffer.from('Welcome to Amazon S4.'))).code, 'XAmzContentSHA256Mismatch');
  });
  test('KMS: deferred signature over the body hash', async () => {
    const body = Buffer.from('{"KeyId":"alias/x"}');
    const req = await signHeader(
      { method: 'POST', path: '/', host: 'kms.us-east-1.amazonaws.com', headers: { 'x-amz-target': 'TrentService.DescribeKey' }, body },
      DATE,
      { service: 'kms', applyChecksum: false },
    );
    const auth = authenticate(req, lookup, KMS_SCOPE, DATE);
    assert.ok((await decode(auth, req.headers, body)).out!.equals(body));
    assert.equal((await decode(auth, req.headers, Buffer.from('{"KeyId":"alias/y"}'))).code, 'SignatureDoesNotMatch');
  });
});
