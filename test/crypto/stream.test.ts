import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  DEFAULT_CHUNK_SIZE,
  FORMAT_VERSION,
  TAG_SIZE,
  ciphertextSize,
  plaintextSize,
  createDecryptor,
  createEncryptor,
  decryptBuffer,
  encryptBuffer,
  newStreamParams,
  planRange,
  chunkCount,
} from '../../src/crypto/index.ts';
import { bytesOneByOne, randomSlices, run } from './helpers.ts';

const CS = DEFAULT_CHUNK_SIZE;

describe('round trips', () => {
  const sizes = [0, 1, CS - 1, CS, CS + 1, 2 * CS, 5 * CS + 123];
  for (const size of sizes) {
    test(`size ${size}, random slicing, known and unknown plainSize`, async () => {
      const p = newStreamParams();
      const plain = randomBytes(size);
      const expected = encryptBuffer(p, plain);
      assert.equal(expected.length, ciphertextSize(size, CS));
      assert.equal(plaintextSize(expected.length, CS), size);
      for (const [seed, known] of [
        [1, true],
        [2, false],
        [3, true],
      ] as const) {
        const enc = await run(createEncryptor(p, known ? size : undefined), randomSlices(plain, seed));
        assert.equal(enc.err, undefined);
        assert.ok(enc.out.equals(expected), 'streamed encryption matches one-shot encryption');
        const dec = await run(createDecryptor(p, size), randomSlices(enc.out, seed + 10));
        assert.equal(dec.err, undefined);
        assert.ok(dec.out.equals(plain));
      }
      assert.ok(decryptBuffer(p, expected, size).equals(plain));
    });
  }

  test('one byte at a time (small chunks)', async () => {
    for (const size of [0, 1, 255, 256, 257, 1000]) {
      const p = newStreamParams(256);
      const plain = randomBytes(size);
      for (const known of [true, false]) {
        const enc = await run(createEncryptor(p, known ? size : undefined), bytesOneByOne(plain));
        assert.equal(enc.err, undefined);
        assert.equal(enc.out.length, ciphertextSize(size, 256));
        const dec = await run(createDecryptor(p, size), bytesOneByOne(enc.out));
        assert.equal(dec.err, undefined);
        assert.ok(dec.out.equals(plain), `size ${size}`);
      }
    }
  });

  test('one big write of many MiB', async () => {
    const p = newStreamParams();
    const plain = randomBytes(8 * 1024 * 1024 + 7);
    const enc = await run(createEncryptor(p), [plain]);
    assert.equal(enc.err, undefined);
    const dec = await run(createDecryptor(p, plain.length), [enc.out]);
    assert.equal(dec.err, undefined);
    assert.ok(dec.out.equals(plain));
  });

  test('property: random sizes, chunk sizes and slicings round-trip', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.integer(),
        fc.boolean(),
        async (size, cs, seed, known) => {
          const p = newStreamParams(cs);
          const plain = randomBytes(size);
          const enc = await run(createEncryptor(p, known ? size : undefined), randomSlices(plain, seed, 2000));
          assert.equal(enc.err, undefined);
          assert.equal(enc.out.length, ciphertextSize(size, cs));
          const dec = await run(createDecryptor(p, size), randomSlices(enc.out, seed ^ 0x5555, 2000));
          assert.equal(dec.err, undefined);
          assert.ok(dec.out.equals(plain));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('format matches docs/FORMAT.md', () => {
  test('each chunk opens with plain AES-256-GCM using the documented nonce and AAD', () => {
    const cs = 100;
    const p = newStreamParams(cs);
    const plain = randomBytes(250);
    const stored = encryptBuffer(p, plain);
    assert.equal(stored.length, 250 + 3 * TAG_SIZE);
    for (let i = 0; i < 3; i++) {
      const ptLen = Math.min(cs, 250 - i * cs);
      const off = i * (cs + TAG_SIZE);
      const nonce = Buffer.from(p.nonce);
      const idx = Buffer.alloc(8);
      idx.writeBigUInt64BE(BigInt(i));
      for (let j = 0; j < 8; j++) nonce[4 + j]! ^= idx[j]!;
      const aad = Buffer.concat([Buffer.of(FORMAT_VERSION, i === 2 ? 1 : 0), idx]);
      const d = createDecipheriv('aes-256-gcm', p.key, nonce);
      d.setAAD(aad);
      d.setAuthTag(stored.subarray(off + ptLen, off + ptLen + TAG_SIZE));
      const pt = Buffer.concat([d.update(stored.subarray(off, off + ptLen)), d.final()]);
      assert.ok(pt.equals(plain.subarray(i * cs, i * cs + ptLen)));
    }
  });

  test('empty stream is one authenticated final chunk (a bare tag)', () => {
    const p = newStreamParams();
    const stored = encryptBuffer(p, Buffer.alloc(0));
    assert.equal(stored.length, TAG_SIZE);
    assert.equal(chunkCount(0, CS), 1);
  });

  test('sizes', () => {
    assert.equal(ciphertextSize(0, CS), 16);
    assert.equal(ciphertextSize(1, CS), 17);
    assert.equal(ciphertextSize(CS, CS), CS + 16);
    assert.equal(ciphertextSize(CS + 1, CS), CS + 1 + 32);
    for (let n = 0; n < 1000; n++) assert.equal(plaintextSize(ciphertextSize(n, 7), 7), n);
    for (const stored of [0, 1, 15, 7 + 16 + 16, 2 * (7 + 16) + 3]) assert.throws(() => plaintextSize(stored, 7));
    assert.equal(plaintextSize(16, CS), 0);
    assert.throws(() => plaintextSize(CS + 16 + 16, CS)); // a tag-only chunk after a full chunk is never produced
    assert.throws(() => ciphertextSize(-1, CS));
    assert.throws(() => newStreamParams(0));
  });
});

describe('ranges', () => {
  async function checkRange(
    p: ReturnType<typeof newStreamParams>,
    plain: Buffer,
    stored: Buffer,
    start: number,
    end: number,
    seed: number,
  ) {
    const plan = planRange(plain.length, p.chunkSize, start, end);
    assert.equal(plan.length, end - start + 1);
    const slice = stored.subarray(plan.storedStart, plan.storedEnd + 1);
    assert.equal(slice.length, plan.storedEnd - plan.storedStart + 1);
    const dec = await run(
      createDecryptor(p, plain.length, { firstChunk: plan.firstChunk, skip: plan.skip, length: plan.length }),
      randomSlices(slice, seed, 3000),
    );
    assert.equal(dec.err, undefined, `range ${start}-${end}`);
    assert.ok(dec.out.equals(plain.subarray(start, end + 1)), `range ${start}-${end} of ${plain.length}/${p.chunkSize}`);
    // Cost grows with the range: only the covering chunks are read.
    const chunks = Math.floor(end / p.chunkSize) - Math.floor(start / p.chunkSize) + 1;
    assert.ok(slice.length <= chunks * (p.chunkSize + TAG_SIZE));
  }

  test('property: random plaintext and ranges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4000 }),
        fc.integer({ min: 1, max: 500 }),
        fc.nat(),
        fc.nat(),
        fc.integer(),
        async (size, cs, a, b, seed) => {
          const p = newStreamParams(cs);
          const plain = randomBytes(size);
          const stored = encryptBuffer(p, plain);
          let start = a % size;
          let end = b % size;
          if (start > end) [start, end] = [end, start];
          await checkRange(p, plain, stored, start, end, seed);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('chunk-boundary ranges with the default chunk size', async () => {
    const p = newStreamParams();
    const size = 4 * CS + 1000;
    const plain = randomBytes(size);
    const stored = encryptBuffer(p, plain);
    const points = [0, 1, CS - 1, CS, CS + 1, 2 * CS - 1, 2 * CS, 4 * CS - 1, 4 * CS, 4 * CS + 1, size - 2, size - 1];
    let seed = 0;
    for (const s of points) for (const e of points) if (s <= e) await checkRange(p, plain, stored, s, e, seed++);
  });

  test('planRange arithmetic', () => {
    assert.deepEqual(planRange(10, 4, 0, 9), { firstChunk: 0, storedStart: 0, storedEnd: 10 + 3 * 16 - 1, skip: 0, length: 10 });
    assert.deepEqual(planRange(10, 4, 4, 7), { firstChunk: 1, storedStart: 20, storedEnd: 39, skip: 0, length: 4 });
    assert.deepEqual(planRange(10, 4, 5, 9), { firstChunk: 1, storedStart: 20, storedEnd: 20 + 20 + 2 + 16 - 1, skip: 1, length: 5 });
    assert.throws(() => planRange(10, 4, 5, 10));
    assert.throws(() => planRange(10, 4, 6, 5));
    assert.throws(() => planRange(0, 4, 0, 0));
    assert.throws(() => planRange(10, 4, -1, 3));
  });

  test('decryptor from a middle chunk through the end (no length)', async () => {
    const p = newStreamParams(64);
    const plain = randomBytes(1000);
    const stored = encryptBuffer(p, plain);
    const dec = await run(createDecryptor(p, 1000, { firstChunk: 3, skip: 5 }), [stored.subarray(3 * 80)]);
    assert.equal(dec.err, undefined);
    assert.ok(dec.out.equals(plain.subarray(3 * 64 + 5)));
  });

  test('bad decryptor options throw', () => {
    const p = newStreamParams(64);
    assert.throws(() => createDecryptor(p, 100, { firstChunk: 2 }));
    assert.throws(() => createDecryptor(p, 100, { skip: 101 }));
    assert.throws(() => createDecryptor(p, 100, { skip: 10, length: 91 }));
    assert.throws(() => createDecryptor(p, -1));
    assert.throws(() => createDecryptor({ ...p, key: Buffer.alloc(16) }, 100));
    assert.throws(() => createDecryptor({ ...p, nonce: Buffer.alloc(8) }, 100));
  });
});

describe('backpressure', () => {
  test('a slow consumer gets every byte, in order', async () => {
    const { Readable, Writable } = await import('node:stream');
    const { pipeline } = await import('node:stream/promises');
    const p = newStreamParams(1024);
    const plain = randomBytes(300_000);
    const got: Buffer[] = [];
    let writes = 0;
    const slow = new Writable({
      highWaterMark: 1,
      write(c: Buffer, _e, cb) {
        got.push(Buffer.from(c));
        if (++writes % 16 === 0) setTimeout(cb, 1);
        else setImmediate(cb);
      },
    });
    await pipeline(
      Readable.from(randomSlices(plain, 9, 50_000), { objectMode: false }),
      createEncryptor(p),
      createDecryptor(p, plain.length),
      slow,
    );
    assert.ok(Buffer.concat(got).equals(plain));
  });
});
