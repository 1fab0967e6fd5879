// A multipart object = independent part streams stored one after another; ranges span parts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createDecryptor, encryptBuffer, newStreamParams, planPartsRange } from '../../src/crypto/index.ts';
import { randomSlices, run } from './helpers.ts';

test('property: ranges over multipart objects decrypt to the exact plaintext slice', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 900 }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 1, max: 200 }),
      fc.nat(),
      fc.nat(),
      fc.integer(),
      async (sizes, cs, a, b, seed) => {
        const total = sizes.reduce((x, y) => x + y, 0);
        fc.pre(total > 0);
        const parts = sizes.map((size) => ({ p: newStreamParams(cs), plain: randomBytes(size) }));
        const storedParts = parts.map(({ p, plain }) => encryptBuffer(p, plain));
        const stored = Buffer.concat(storedParts);
        const plain = Buffer.concat(parts.map((x) => x.plain));
        let start = a % total;
        let end = b % total;
        if (start > end) [start, end] = [end, start];
        const plans = planPartsRange(
          sizes.map((plainSize) => ({ plainSize, chunkSize: cs })),
          start,
          end,
        );
        const got: Buffer[] = [];
        for (const plan of plans) {
          const slice = stored.subarray(plan.partStoredStart + plan.storedStart, plan.partStoredStart + plan.storedEnd + 1);
          assert.ok(slice.equals(storedParts[plan.part]!.subarray(plan.storedStart, plan.storedEnd + 1)));
          const dec = await run(createDecryptor(parts[plan.part]!.p, sizes[plan.part]!, plan), randomSlices(slice, seed, 500));
          assert.equal(dec.err, undefined);
          got.push(dec.out);
        }
        assert.ok(Buffer.concat(got).equals(plain.subarray(start, end + 1)));
        assert.equal(
          plans.reduce((n, p) => n + p.length, 0),
          end - start + 1,
        );
      },
    ),
    { numRuns: 150 },
  );
});

test("a part stream decrypted with another part's parameters fails", async () => {
  const a = newStreamParams(64);
  const b = newStreamParams(64);
  const plain = randomBytes(300);
  const dec = await run(createDecryptor(b, 300), [encryptBuffer(a, plain)]);
  assert.equal(dec.err?.code, 'KURA_CRYPTO_AUTH_FAILED');
  assert.equal(dec.out.length, 0);
});

test('planPartsRange rejects out-of-range requests and skips empty parts', () => {
  const parts = [
    { plainSize: 10, chunkSize: 4 },
    { plainSize: 0, chunkSize: 4 },
    { plainSize: 10, chunkSize: 4 },
  ];
  assert.throws(() => planPartsRange(parts, 0, 20));
  assert.throws(() => planPartsRange([], 0, 0));
  const plans = planPartsRange(parts, 9, 10);
  assert.deepEqual(
    plans.map((p) => [p.part, p.partStoredStart, p.skip, p.length]),
    [
      [0, 0, 1, 1],
      [2, 10 + 48 + 16, 0, 1],
    ],
  );
});
