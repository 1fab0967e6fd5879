// The real @aws-sdk/client-s3 signs requests against a capturing request handler (no server); what it would
// put on the wire must authenticate and decode.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { authenticate, type SignedRequest } from '../../src/sigv4/sigv4.ts';
import { createPayloadDecoder } from '../../src/sigv4/payload.ts';
import { S3Error } from '../../src/server/errors.ts';
import { AKID, SECRET, encodeQueryComponent, lookup } from './helpers.ts';

/** The client below signs for eu-west-3: the server under test is configured for that region. */
const SCOPE = { service: 's3', region: 'eu-west-3' } as const;

interface Captured {
  req: SignedRequest;
  body: Buffer;
}

class Captor {
  captured: Captured[] = [];
  async handle(request: {
    method: string;
    path: string;
    query?: Record<string, string | string[] | null>;
    headers: Record<string, string>;
    body?: unknown;
  }) {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(request.query ?? {})) {
      if (v === null) parts.push(encodeQueryComponent(k));
      else for (const one of Array.isArray(v) ? v : [v]) parts.push(`${encodeQueryComponent(k)}=${encodeQueryComponent(one)}`);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = v;
    let body = Buffer.alloc(0);
    const b = request.body;
    if (typeof b === 'string' || b instanceof Uint8Array) body = Buffer.from(b as never);
    else if (b && typeof (b as Readable)[Symbol.asyncIterator] === 'function') {
      const chunks: Buffer[] = [];
      for await (const c of b as Readable) chunks.push(Buffer.from(c as never));
      body = Buffer.concat(chunks);
    }
    this.captured.push({ req: { method: request.method, rawPath: request.path, rawQuery: parts.join('&'), headers }, body });
    throw Object.assign(new Error('captured'), { name: 'Captured', $metadata: {} });
  }
}

function client(captor: Captor): S3Client {
  return new S3Client({
    region: 'eu-west-3',
    endpoint: 'http://127.0.0.1:9000',
    forcePathStyle: true,
    credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
    requestHandler: captor as never,
    maxAttempts: 1,
  });
}

async function send(captor: Captor, s3: S3Client, cmd: unknown): Promise<Captured> {
  await assert.rejects(s3.send(cmd as never), /captured/);
  return captor.captured.at(-1)!;
}

async function decodeBody(c: Captured): Promise<{ out: Buffer; trailers: Record<string, string> }> {
  const auth = authenticate(c.req, lookup, SCOPE);
  const decoder = createPayloadDecoder(auth, c.req.headers);
  const out: Buffer[] = [];
  await pipeline(Readable.from([c.body]), decoder, async function (src: AsyncIterable<Buffer>) {
    for await (const x of src) out.push(x);
  });
  return { out: Buffer.concat(out), trailers: decoder.trailers };
}

describe('@aws-sdk/client-s3 requests', () => {
  const key = "dir/ünï cödé+plus=eq&amp;(x)!*~'/ end";

  test('PutObject with a buffer body', async () => {
    const captor = new Captor();
    const c = await send(
      captor,
      client(captor),
      new PutObjectCommand({ Bucket: 'bkt', Key: key, Body: Buffer.from('hello world'), Metadata: { a: ' b  c ' } }),
    );
    const auth = authenticate(c.req, lookup, SCOPE);
    assert.equal(auth.region, 'eu-west-3');
    // A known-length body: the SDK signs its SHA-256 and sends the CRC32 as a header.
    assert.equal(auth.payload, 'signed');
    assert.equal(c.req.headers['x-amz-checksum-crc32'], 'DUoRhQ==');
    const { out } = await decodeBody(c);
    assert.equal(out.toString(), 'hello world');
    await assert.rejects(decodeBody({ ...c, body: Buffer.from('hello World') }), (e: S3Error) => e.code === 'XAmzContentSHA256Mismatch');
  });

  test('PutObject with a stream body (aws-chunked, CRC32 trailer)', async () => {
    const captor = new Captor();
    const data = Buffer.alloc(200_000, 'z');
    const c = await send(
      captor,
      client(captor),
      new PutObjectCommand({
        Bucket: 'bkt',
        Key: key,
        Body: Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]),
        ContentLength: data.length,
      }),
    );
    const auth = authenticate(c.req, lookup, SCOPE);
    assert.equal(auth.payload, 'streaming-unsigned-trailer');
    const { out, trailers } = await decodeBody(c);
    assert.ok(out.equals(data));
    assert.match(trailers['x-amz-checksum-crc32'] ?? '', /^[A-Za-z0-9+/]{6}==$/);
  });

  test('GetObject / ListObjectsV2 with awkward names; tampering fails', async () => {
    const captor = new Captor();
    const s3 = client(captor);
    const get = await send(
      captor,
      s3,
      new GetObjectCommand({ Bucket: 'bkt', Key: key, Range: 'bytes=0-9', ResponseContentDisposition: 'attachment; filename="a b.txt"' }),
    );
    assert.equal(authenticate(get.req, lookup, SCOPE).payload, 'signed');
    const list = await send(captor, s3, new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'a b/ü+', Delimiter: '/', StartAfter: '~x*' }));
    assert.equal(authenticate(list.req, lookup, SCOPE).accessKeyId, AKID);
    assert.throws(
      () => authenticate({ ...list.req, rawQuery: list.req.rawQuery.replace('delimiter=%2F', 'delimiter=%2C') }, lookup, SCOPE),
      (e: S3Error) => e.code === 'SignatureDoesNotMatch',
    );
  });

  test('getSignedUrl', async () => {
    const s3 = client(new Captor());
    const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'bkt', Key: key }), { expiresIn: 300 }));
    const req: SignedRequest = { method: 'GET', rawPath: url.pathname, rawQuery: url.search.slice(1), headers: { host: url.host } };
    const auth = authenticate(req, lookup, SCOPE);
    assert.equal(auth.presigned, true);
    const put = new URL(
      await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'bkt', Key: 'k', ContentType: 'text/plain' }), { expiresIn: 300 }),
    );
    const putReq: SignedRequest = {
      method: 'PUT',
      rawPath: put.pathname,
      rawQuery: put.search.slice(1),
      headers: { host: put.host, 'content-type': 'text/plain' },
    };
    assert.equal(authenticate(putReq, lookup, SCOPE).payload, 'unsigned');
    assert.throws(
      () => authenticate({ ...putReq, method: 'DELETE' }, lookup, SCOPE),
      (e: S3Error) => e.code === 'SignatureDoesNotMatch',
    );
  });
});
