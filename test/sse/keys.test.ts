// Unit tests: key handling per mode and the encrypted segment pipelines (ranges across parts, tampering).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import {
  RootKeyProvider,
  newObjectKeys,
  openObjectKeys,
  checkCustomerKey,
  encryptingStream,
  decryptingStream,
  openPlaintext,
  primed,
  READ_AHEAD,
  type Segment,
  type CustomerKey,
  type SseKeyServices,
} from '../../src/sse/index.ts';
import { S3Error } from '../../src/server/errors.ts';

const customer = (k = randomBytes(32)): CustomerKey => ({ key: k, keyMd5: createHash('md5').update(k).digest('base64') });
const svc: SseKeyServices = { serverKeys: new RootKeyProvider(randomBytes(32)) };

function code(e: unknown): string {
  assert.ok(e instanceof S3Error, String(e));
  return `${e.status} ${e.code}`;
}

describe('SSE-C keys', () => {
  test('record holds a salted fingerprint, never the key or its MD5', async () => {
    const c = customer();
    const { record } = await newObjectKeys({ mode: 'SSE-C', customer: c }, 'b', 'k', svc);
    const s = JSON.stringify(record);
    for (const form of [c.key.toString('base64'), c.key.toString('hex'), c.keyMd5, c.key.toString('latin1')]) assert.ok(!s.includes(form));
    assert.equal(record.mode, 'SSE-C');
    // Two objects under the same key get different salts and fingerprints.
    const again = await newObjectKeys({ mode: 'SSE-C', customer: c }, 'b', 'k', svc);
    assert.notEqual(JSON.stringify(again.record), s);
  });
  test('the right key opens the KEK; a wrong key is 403; none is 400', async () => {
    const c = customer();
    const { record, kek } = await newObjectKeys({ mode: 'SSE-C', customer: c }, 'b', 'k', svc);
    assert.deepEqual(await openObjectKeys(record, c, 'b', 'k', svc, 'read'), kek);
    await assert.rejects(openObjectKeys(record, customer(), 'b', 'k', svc, 'read'), (e) => code(e) === '403 AccessDenied');
    await assert.rejects(openObjectKeys(record, undefined, 'b', 'k', svc, 'read'), (e) => code(e) === '400 InvalidRequest');
    await assert.rejects(openObjectKeys(record, customer(), 'b', 'k', svc, 'part'), (e) => code(e) === '400 InvalidArgument');
    await assert.rejects(openObjectKeys(record, undefined, 'b', 'k', svc, 'part'), (e) => code(e) === '400 InvalidRequest');
  });
  test('the KEK is bound to bucket/key', async () => {
    const c = customer();
    const a = await newObjectKeys({ mode: 'SSE-C', customer: c }, 'b', 'k', svc);
    assert.notDeepEqual(await openObjectKeys(a.record, c, 'b', 'k2', svc, 'read'), a.kek);
  });
  test('SSE-C key on an SSE-S3 object → 400 InvalidRequest', async () => {
    const { record } = await newObjectKeys({ mode: 'SSE-S3' }, 'b', 'k', svc);
    assert.throws(
      () => checkCustomerKey(record, customer(), 'read'),
      (e) => code(e) === '400 InvalidRequest',
    );
  });
});

describe('SSE-S3 keys', () => {
  test('default and SSE-S3 give the same kind of record; KEK per object', async () => {
    const a = await newObjectKeys({ mode: 'default' }, 'b', 'k1', svc);
    const b = await newObjectKeys({ mode: 'SSE-S3' }, 'b', 'k2', svc);
    assert.equal(a.record.mode, 'SSE-S3');
    assert.notDeepEqual(a.kek, b.kek);
    assert.deepEqual(await openObjectKeys(a.record, undefined, 'b', 'k1', svc, 'read'), a.kek);
  });
  test('another root key cannot open it (500, not wrong plaintext)', async () => {
    const a = await newObjectKeys({ mode: 'SSE-S3' }, 'b', 'k', svc);
    const other: SseKeyServices = { serverKeys: new RootKeyProvider(randomBytes(32)) };
    await assert.rejects(openObjectKeys(a.record, undefined, 'b', 'k', other, 'read'), (e) => code(e) === '500 InternalError');
  });
});

// In-memory "storage": the concatenated stored segments.
async function store(kek: Buffer, parts: Buffer[], chunkSize: number): Promise<{ stored: Buffer; segments: Segment[] }> {
  const out: Buffer[] = [];
  const segments: Segment[] = [];
  for (const p of parts) {
    const { stream, record } = encryptingStream(kek, 'b', 'k', chunkSize);
    const got: Buffer[] = [];
    stream.on('data', (c: Buffer) => got.push(c));
    await pipeline(Readable.from([p]), stream);
    const s = Buffer.concat(got);
    out.push(s);
    segments.push({ size: p.length, storedSize: s.length, encryption: record });
  }
  return { stored: Buffer.concat(out), segments };
}

const opener = (stored: Buffer) => (r: { start: number; end: number }) => Readable.from([stored.subarray(r.start, r.end + 1)]);

async function collect(r: Readable): Promise<Buffer> {
  const got: Buffer[] = [];
  for await (const c of r) got.push(c as Buffer);
  return Buffer.concat(got);
}

describe('segment pipelines', () => {
  test('property: random parts and ranges decrypt to exactly the plaintext slice', async () => {
    const kek = randomBytes(32);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(3000), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 700 }),
        fc.nat(),
        fc.nat(),
        async (sizes, chunkSize, a, b) => {
          const parts = sizes.map((n) => randomBytes(n));
          const plain = Buffer.concat(parts);
          const { stored, segments } = await store(kek, parts, chunkSize);
          assert.deepEqual(await collect(decryptingStream(segments, opener(stored), kek, 'b', 'k')), plain);
          if (plain.length === 0) return;
          const s = a % plain.length;
          const e = s + (b % (plain.length - s));
          assert.deepEqual(
            await collect(decryptingStream(segments, opener(stored), kek, 'b', 'k', { start: s, end: e })),
            plain.subarray(s, e + 1),
          );
        },
      ),
      { numRuns: 60 },
    );
  });
  test('chunk- and part-boundary ranges', async () => {
    const kek = randomBytes(32);
    const cs = 64;
    const parts = [randomBytes(3 * cs), randomBytes(cs + 1), randomBytes(0), randomBytes(2 * cs - 1)];
    const plain = Buffer.concat(parts);
    const { stored, segments } = await store(kek, parts, cs);
    const edges = [0, cs - 1, cs, 3 * cs - 1, 3 * cs, 4 * cs, 4 * cs + 1, plain.length - 1];
    for (const s of edges)
      for (const e of edges) {
        if (e < s) continue;
        assert.deepEqual(
          await collect(decryptingStream(segments, opener(stored), kek, 'b', 'k', { start: s, end: e })),
          plain.subarray(s, e + 1),
          `${s}-${e}`,
        );
      }
  });
  test('a range reads only the stored bytes that cover it', async () => {
    const kek = randomBytes(32);
    const { stored, segments } = await store(kek, [randomBytes(10_000), randomBytes(10_000)], 1000);
    const asked: Array<{ start: number; end: number }> = [];
    const open = (r: { start: number; end: number }) => {
      asked.push(r);
      return opener(stored)(r);
    };
    await collect(decryptingStream(segments, open, kek, 'b', 'k', { start: 9_990, end: 10_010 }));
    assert.deepEqual(asked, [{ start: 9 * 1016, end: 10_160 + 1016 - 1 }]);
  });
  test('tampering: flipped bit, truncation, swapped chunks, wrong object → error, never wrong bytes', async () => {
    const kek = randomBytes(32);
    const plain = randomBytes(5 * 100 + 7);
    const { stored, segments } = await store(kek, [plain], 100);
    const S = 116;
    const cases: Array<[string, Buffer, Segment[]]> = [];
    const flipped = Buffer.from(stored);
    flipped[250]! ^= 1;
    cases.push(['flip', flipped, segments]);
    cases.push(['truncate', stored.subarray(0, stored.length - 1), segments]);
    const swapped = Buffer.concat([stored.subarray(S, 2 * S), stored.subarray(0, S), stored.subarray(2 * S)]);
    cases.push(['swap', swapped, segments]);
    for (const [name, data, segs] of cases) {
      let got = Buffer.alloc(0);
      await assert.rejects(async () => {
        const r = decryptingStream(segs, opener(data), kek, 'b', 'k');
        for await (const c of r) got = Buffer.concat([got, c as Buffer]);
      }, name);
      assert.deepEqual(got, plain.subarray(0, got.length), `${name}: released bytes are a correct prefix`);
    }
    // Metadata tampering: size changed, sealed key moved to another object name.
    await assert.rejects(
      async () => collect(decryptingStream([{ ...segments[0]!, size: plain.length - 1 }], opener(stored), kek, 'b', 'k')),
      (e) => code(e) === '500 InternalError',
    );
    await assert.rejects(
      async () => collect(decryptingStream(segments, opener(stored), kek, 'b', 'other')),
      (e) => code(e) === '500 InternalError',
    );
  });
  test('primed turns a first-chunk failure into an error before any byte', async () => {
    const kek = randomBytes(32);
    const { stored, segments } = await store(kek, [randomBytes(50)], 100);
    const bad = Buffer.from(stored);
    bad[0]! ^= 0x80;
    await assert.rejects(primed(decryptingStream(segments, opener(bad), kek, 'b', 'k')), (e) => code(e) === '500 InternalError');
    assert.equal((await collect(await primed(decryptingStream(segments, opener(stored), kek, 'b', 'k')))).length, 50);
  });
  test('openPlaintext: small spans are authenticated whole before returning, large ones stream', async () => {
    const kek = randomBytes(32);
    const small = [randomBytes(100_000), randomBytes(100_000)];
    const { stored, segments } = await store(kek, small, 65536);
    assert.deepEqual(await collect(await openPlaintext(segments, opener(stored), kek, 'b', 'k')), Buffer.concat(small));
    assert.deepEqual(
      await collect(await openPlaintext(segments, opener(stored), kek, 'b', 'k', { start: 99_990, end: 100_010 })),
      Buffer.concat(small).subarray(99_990, 100_011),
    );
    const bad = Buffer.from(stored);
    bad[bad.length - 3]! ^= 1; // last chunk of the last part
    await assert.rejects(openPlaintext(segments, opener(bad), kek, 'b', 'k'), (e) => code(e) === '500 InternalError');
    await assert.rejects(
      openPlaintext(segments, opener(stored.subarray(0, stored.length - 1)), kek, 'b', 'k'),
      (e) => code(e) === '500 InternalError',
    );
    const big = randomBytes(3 * READ_AHEAD); // more than the read-ahead, so the tampered end is not reached before streaming starts
    const b2 = await store(kek, [big], 65536);
    const late = Buffer.from(b2.stored);
    late[late.length - 3]! ^= 1;
    // Stored bytes arrive in 64 KiB reads (as from a file): the first chunk verifies, streaming starts.
    const chunked = (r: { start: number; end: number }) =>
      Readable.from(
        (function* () {
          for (let o = r.start; o <= r.end; o += 65536) yield late.subarray(o, Math.min(o + 65536, r.end + 1));
        })(),
      );
    const r = await openPlaintext(b2.segments, chunked, kek, 'b', 'k');
    await assert.rejects(collect(r));
  });
});
