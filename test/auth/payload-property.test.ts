// Properties of the aws-chunked decoder: any slicing of the wire bytes decodes to the same data, and no
// single-byte corruption is ever accepted as different data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { authenticate, deriveSigningKey, type AuthResult } from '../../src/sigv4/sigv4.ts';
import { createPayloadDecoder } from '../../src/sigv4/payload.ts';
import { S3Error } from '../../src/server/errors.ts';
import { SECRET, S3_SCOPE, lookup, signHeader } from './helpers.ts';

const DATE = new Date('2013-05-24T00:00:00Z');
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const key = deriveSigningKey(SECRET, '20130524', 'us-east-1', 's3');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function encode(seed: string, data: Buffer, sizes: number[], trailer: string): Buffer {
  const parts: Buffer[] = [];
  let prev = seed;
  let i = 0;
  let s = 0;
  const sign = (d: Buffer) =>
    createHmac('sha256', key)
      .update(`AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n${prev}\n${EMPTY}\n${sha(d)}`)
      .digest('hex');
  while (i < data.length) {
    const c = data.subarray(i, i + sizes[s++ % sizes.length]!);
    i += c.length;
    prev = sign(c);
    parts.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${prev}\r\n`), c, Buffer.from('\r\n'));
  }
  prev = sign(Buffer.alloc(0));
  parts.push(Buffer.from(`0;chunk-signature=${prev}\r\n`));
  const canonical = `x-amz-checksum-sha256:${trailer}\n`;
  const trailerSig = createHmac('sha256', key)
    .update(`AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n${prev}\n${sha(canonical)}`)
    .digest('hex');
  parts.push(Buffer.from(`x-amz-checksum-sha256:${trailer}\r\nx-amz-trailer-signature:${trailerSig}\r\n\r\n`));
  return Buffer.concat(parts);
}

async function run(auth: AuthResult, headers: Record<string, string>, pieces: Buffer[]): Promise<Buffer | string> {
  const decoder = createPayloadDecoder(auth, headers);
  const out: Buffer[] = [];
  try {
    await pipeline(Readable.from(pieces), decoder, async function (src: AsyncIterable<Buffer>) {
      for await (const c of src) out.push(c);
    });
  } catch (e) {
    if (e instanceof S3Error) return e.code;
    throw e;
  }
  return Buffer.concat(out);
}

function slice(body: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let last = 0;
  for (const p of [...points, body.length]) {
    if (p > last) pieces.push(body.subarray(last, p));
    last = Math.max(last, p);
  }
  return pieces;
}

test('signed trailer variant: slicing-invariant, corruption never yields other data', async () => {
  const arb = fc.record({
    data: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
    sizes: fc.array(fc.integer({ min: 1, max: 1200 }), { minLength: 1, maxLength: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 12 }),
    flip: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  });
  await fc.assert(
    fc.asyncProperty(arb, async ({ data, sizes, cuts, flip, bit }) => {
      const buf = Buffer.from(data);
      const trailer = createHash('sha256').update(buf).digest('base64');
      const req = await signHeader(
        {
          method: 'PUT',
          path: '/b/k',
          headers: {
            'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
            'content-encoding': 'aws-chunked',
            'x-amz-decoded-content-length': String(buf.length),
            'x-amz-trailer': 'x-amz-checksum-sha256',
          },
        },
        DATE,
      );
      const auth = authenticate(req, lookup, S3_SCOPE, DATE);
      const headers = req.headers as Record<string, string>;
      const seed = String(req.headers.authorization).slice(-64);
      const body = encode(seed, buf, sizes, trailer);
      const ok = await run(auth, headers, slice(body, cuts));
      assert.ok(Buffer.isBuffer(ok) && ok.equals(buf));
      const bad = Buffer.from(body);
      const at = flip % bad.length;
      bad[at]! ^= 1 << bit;
      const r = await run(auth, headers, slice(bad, cuts));
      assert.ok(typeof r === 'string' || r.equals(buf), `corruption at ${at} accepted`);
    }),
    { numRuns: 150 },
  );
});
