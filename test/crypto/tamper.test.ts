// Every modification of stored bytes or stream parameters must fail the read, and what was emitted before
// the failure must be a true prefix of the plaintext (a chunk is released only after its tag verified).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  TAG_SIZE,
  createDecryptor,
  createEncryptor,
  encryptBuffer,
  decryptBuffer,
  newStreamParams,
  planRange,
  type StreamParams,
} from '../../src/crypto/index.ts';
import { isPrefixOf, randomSlices, run } from './helpers.ts';

async function expectFailure(p: StreamParams, plainSize: number, stored: Buffer, truth: Buffer, seed = 1, codes?: string[]) {
  const dec = await run(createDecryptor(p, plainSize), randomSlices(stored, seed, 500));
  assert.ok(dec.err, 'decryption must fail');
  if (codes) assert.ok(codes.includes(dec.err.code ?? ''), `unexpected error code ${dec.err.code}`);
  assert.ok(isPrefixOf(dec.out, truth), 'emitted bytes are a prefix of the plaintext');
  assert.throws(() => decryptBuffer(p, stored, plainSize));
  return dec;
}

const CS = 64;
const stored1 = CS + TAG_SIZE;
function fixture(size = 5 * CS + 20) {
  const p = newStreamParams(CS);
  const plain = randomBytes(size);
  return { p, plain, stored: encryptBuffer(p, plain) };
}

describe('tampering', () => {
  test('a flipped bit anywhere fails (exhaustive over a small stream)', async () => {
    const { p, plain, stored } = fixture(3 * CS + 5);
    for (let i = 0; i < stored.length; i++) {
      const bad = Buffer.from(stored);
      bad[i]! ^= 1 << (i % 8);
      await expectFailure(p, plain.length, bad, plain, i, ['KURA_CRYPTO_AUTH_FAILED']);
    }
  });

  test('property: random bit flips in random streams fail', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        fc.nat(7),
        async (size, cs, pos, bit) => {
          const p = newStreamParams(cs);
          const plain = randomBytes(size);
          const bad = encryptBuffer(p, plain);
          bad[pos % bad.length]! ^= 1 << bit;
          await expectFailure(p, size, bad, plain, pos);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('truncation at every length fails, including at chunk boundaries and to zero', async () => {
    const { p, plain, stored } = fixture(3 * CS + 5);
    for (let len = 0; len < stored.length; len++) {
      await expectFailure(p, plain.length, stored.subarray(0, len), plain, len);
    }
  });

  test('dropping the last whole chunk fails even when plainSize is adjusted to match', async () => {
    const { p, plain, stored } = fixture(4 * CS);
    const cut = stored.subarray(0, 3 * stored1);
    await expectFailure(p, 4 * CS, cut, plain, 1, ['KURA_CRYPTO_TRUNCATED']);
    // Metadata says 3 chunks: chunk 2 was sealed as non-final, so it does not open as the final one.
    await expectFailure(p, 3 * CS, cut, plain, 2, ['KURA_CRYPTO_AUTH_FAILED']);
  });

  test('an empty stream truncated to nothing fails', async () => {
    const p = newStreamParams();
    await expectFailure(p, 0, Buffer.alloc(0), Buffer.alloc(0), 1, ['KURA_CRYPTO_TRUNCATED']);
  });

  test('two swapped chunks fail', async () => {
    const { p, plain, stored } = fixture();
    for (const [a, b] of [
      [0, 1],
      [1, 3],
      [2, 4],
    ] as const) {
      const bad = Buffer.from(stored);
      stored.copy(bad, a * stored1, b * stored1, (b + 1) * stored1);
      stored.copy(bad, b * stored1, a * stored1, (a + 1) * stored1);
      await expectFailure(p, plain.length, bad, plain, a, ['KURA_CRYPTO_AUTH_FAILED']);
    }
  });

  test('a duplicated chunk fails (with and without adjusting plainSize)', async () => {
    const { p, plain, stored } = fixture(4 * CS);
    for (const i of [0, 2, 3]) {
      const dup = Buffer.concat([stored.subarray(0, (i + 1) * stored1), stored.subarray(i * stored1)]);
      await expectFailure(p, plain.length, dup, plain, i);
      await expectFailure(p, plain.length + CS, dup, plain, i);
    }
  });

  test('appended bytes fail', async () => {
    const { p, plain, stored } = fixture(3 * CS + 7);
    for (const extra of [Buffer.of(0), randomBytes(TAG_SIZE), stored.subarray(0, stored1), stored.subarray(stored.length - 7 - TAG_SIZE)]) {
      await expectFailure(p, plain.length, Buffer.concat([stored, extra]), plain, extra.length, ['KURA_CRYPTO_TRAILING_DATA']);
    }
    const empty = newStreamParams();
    await expectFailure(empty, 0, Buffer.concat([encryptBuffer(empty, Buffer.alloc(0)), Buffer.of(1)]), Buffer.alloc(0));
  });

  test('wrong key, nonce or chunk size fails', async () => {
    const { p, plain, stored } = fixture();
    await expectFailure({ ...p, key: randomBytes(32) }, plain.length, stored, plain, 1, ['KURA_CRYPTO_AUTH_FAILED']);
    await expectFailure({ ...p, nonce: randomBytes(12) }, plain.length, stored, plain, 2, ['KURA_CRYPTO_AUTH_FAILED']);
    await expectFailure({ ...p, chunkSize: CS + 1 }, plain.length, stored, plain, 3);
    await expectFailure({ ...p, chunkSize: CS - 1 }, plain.length, stored, plain, 4);
  });

  test('wrong plainSize fails', async () => {
    const { p, plain, stored } = fixture();
    for (const size of [0, 1, plain.length - 1, plain.length + 1, plain.length - CS, plain.length + CS, plain.length - 20, 5 * CS + 1]) {
      if (size === plain.length) continue;
      await expectFailure(p, size, stored, plain, size);
    }
  });

  test('range reads detect tampering inside the range and wrong slices', async () => {
    const { p, plain, stored } = fixture(6 * CS + 9);
    const plan = planRange(plain.length, CS, CS + 3, 3 * CS + 10);
    const slice = stored.subarray(plan.storedStart, plan.storedEnd + 1);
    const truth = plain.subarray(CS + 3, 3 * CS + 11);
    const opts = { firstChunk: plan.firstChunk, skip: plan.skip, length: plan.length };
    for (let i = 0; i < slice.length; i += 7) {
      const bad = Buffer.from(slice);
      bad[i]! ^= 0x80;
      const dec = await run(createDecryptor(p, plain.length, opts), randomSlices(bad, i, 100));
      assert.ok(dec.err);
      assert.ok(isPrefixOf(dec.out, truth));
    }
    // The stored bytes of a different chunk, a shorter slice, or a longer slice.
    const shifted = stored.subarray(plan.storedStart + stored1, plan.storedEnd + 1 + stored1);
    for (const wrong of [shifted, slice.subarray(0, slice.length - 1), Buffer.concat([slice, Buffer.of(0)])]) {
      const dec = await run(createDecryptor(p, plain.length, opts), [wrong]);
      assert.ok(dec.err);
      assert.ok(isPrefixOf(dec.out, truth));
    }
    // A correct slice from a different stream position is not accepted as another index.
    const dec = await run(createDecryptor(p, plain.length, { ...opts, firstChunk: plan.firstChunk + 1 }), [slice]);
    assert.ok(dec.err);
  });

  test('streams of another object (same key) do not splice', async () => {
    const p = newStreamParams(CS);
    const q = { ...p, nonce: randomBytes(12) };
    const a = randomBytes(3 * CS);
    const sa = encryptBuffer(p, a);
    const sb = encryptBuffer(q, randomBytes(3 * CS));
    const spliced = Buffer.concat([sa.subarray(0, stored1), sb.subarray(stored1, 2 * stored1), sa.subarray(2 * stored1)]);
    await expectFailure(p, a.length, spliced, a, 1, ['KURA_CRYPTO_AUTH_FAILED']);
  });
});

describe('encryptor input size', () => {
  test('more or fewer bytes than the declared plainSize fail', async () => {
    const p = newStreamParams(CS);
    assert.equal((await run(createEncryptor(p, 100), [randomBytes(101)])).err?.code, 'KURA_CRYPTO_SIZE_MISMATCH');
    assert.equal((await run(createEncryptor(p, 100), [randomBytes(99)])).err?.code, 'KURA_CRYPTO_SIZE_MISMATCH');
    assert.equal((await run(createEncryptor(p, 0), [randomBytes(1)])).err?.code, 'KURA_CRYPTO_SIZE_MISMATCH');
    assert.equal((await run(createEncryptor(p, 1), [])).err?.code, 'KURA_CRYPTO_SIZE_MISMATCH');
  });
});

describe('release granularity', () => {
  test('a tampered chunk releases nothing of itself; earlier chunks are released whole', async () => {
    const { p, plain, stored } = fixture(5 * CS + 20);
    for (const pos of [3 * stored1, 3 * stored1 + CS - 1, 3 * stored1 + CS + 5]) {
      // first byte, last ct byte, a tag byte
      const bad = Buffer.from(stored);
      bad[pos]! ^= 0x01;
      for (const pieces of [[bad], randomSlices(bad, pos, 7)]) {
        const dec = await run(createDecryptor(p, plain.length), pieces);
        assert.equal(dec.err?.code, 'KURA_CRYPTO_AUTH_FAILED');
        assert.equal(dec.out.length, 3 * CS);
        assert.ok(dec.out.equals(plain.subarray(0, 3 * CS)));
      }
    }
  });
});
