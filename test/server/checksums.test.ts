// The flexible-checksum primitives: CRC-64/NVME against its catalogue check value and byte-at-a-time
// reference, and the FULL_OBJECT combination of part CRCs against the CRC of the whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Crc64Nvme, combineCrcs, newChecksum } from '../../src/hashing/checksums.ts';

/** Bit-at-a-time CRC-64/NVME with BigInt: slow, obviously the catalogue definition. */
function crc64NvmeReference(data: Uint8Array): bigint {
  let crc = 0xffffffffffffffffn;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let i = 0; i < 8; i++) crc = crc & 1n ? (crc >> 1n) ^ 0x9a6c9329ac4bc9b5n : crc >> 1n;
  }
  return crc ^ 0xffffffffffffffffn;
}

function digestOf(alg: 'CRC32' | 'CRC32C' | 'CRC64NVME', chunks: Uint8Array[]): Buffer {
  const h = newChecksum(alg);
  for (const c of chunks) h.update(Buffer.from(c));
  return h.digest();
}

test('CRC-64/NVME of "123456789" is the catalogue check value 0xae8b14860a799888', () => {
  const c = new Crc64Nvme();
  c.update(Buffer.from('123456789'));
  assert.equal(c.digest().toString('hex'), 'ae8b14860a799888');
  assert.equal(new Crc64Nvme().digest().toString('hex'), '0000000000000000');
});

test('CRC-64/NVME slice-by-8 equals the bit-at-a-time reference, however the input is split', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
      const whole = Buffer.concat(chunks);
      const got = digestOf('CRC64NVME', chunks);
      assert.equal(got.toString('hex'), crc64NvmeReference(whole).toString(16).padStart(16, '0'));
    }),
    { numRuns: 300 },
  );
});

test('FULL_OBJECT: combined part CRCs equal the CRC of the whole object (CRC32, CRC32C, CRC64NVME)', () => {
  for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 5 }), (parts) => {
        const combined = combineCrcs(
          alg,
          parts.map((p) => ({ checksum: digestOf(alg, [p]).toString('base64'), size: p.length })),
        );
        assert.equal(combined, digestOf(alg, parts).toString('base64'), alg);
      }),
      { numRuns: 100 },
    );
  }
});
