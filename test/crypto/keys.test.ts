import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import {
  FORMAT_VERSION,
  SEALED_KEY_OVERHEAD,
  chunkNonce,
  constantTimeEqual,
  deriveKey,
  encryptBuffer,
  keyFingerprint,
  newFingerprintSalt,
  newStreamParams,
  sealKey,
  unsealKey,
  verifyKeyFingerprint,
  createEncryptor,
} from '../../src/crypto/index.ts';
import { run } from './helpers.ts';

describe('sealKey / unsealKey', () => {
  const kek = randomBytes(32);
  const dek = randomBytes(32);
  const aad = Buffer.from('bucket/photos/cat.jpg');

  test('round trip; layout version ‖ IV ‖ ciphertext ‖ tag; random IV', () => {
    const sealed = sealKey(kek, dek, aad);
    assert.equal(sealed.length, SEALED_KEY_OVERHEAD + 32);
    assert.equal(sealed.length, 61);
    assert.equal(sealed[0], FORMAT_VERSION);
    assert.ok(unsealKey(kek, sealed, aad).equals(dek));
    assert.ok(!sealed.includes(dek));
    assert.ok(!sealKey(kek, dek, aad).equals(sealed), 'a fresh IV each time');
  });

  test('wrong KEK or AAD (another object) fails', () => {
    const sealed = sealKey(kek, dek, aad);
    const fails = (f: () => unknown) => assert.throws(f, (e: Error & { code?: string }) => e.code === 'KURA_CRYPTO_UNSEAL_FAILED');
    fails(() => unsealKey(randomBytes(32), sealed, aad));
    fails(() => unsealKey(kek, sealed, Buffer.from('bucket/photos/dog.jpg')));
    fails(() => unsealKey(kek, sealed, Buffer.from('other/photos/cat.jpg')));
    fails(() => unsealKey(kek, sealed, Buffer.alloc(0)));
  });

  test('any flipped bit, truncation, extension or other version fails', () => {
    const sealed = sealKey(kek, dek, aad);
    for (let i = 0; i < sealed.length * 8; i++) {
      const bad = Buffer.from(sealed);
      bad[i >> 3]! ^= 1 << (i & 7);
      assert.throws(() => unsealKey(kek, bad, aad));
    }
    for (let n = 0; n < sealed.length; n++) assert.throws(() => unsealKey(kek, sealed.subarray(0, n), aad));
    assert.throws(() => unsealKey(kek, Buffer.concat([sealed, Buffer.of(0)]), aad));
  });

  test('seals values of any length (e.g. an ETag), empty included', () => {
    for (const v of [Buffer.alloc(0), randomBytes(1), randomBytes(100)]) {
      const sealed = sealKey(kek, v, aad);
      assert.equal(sealed.length, SEALED_KEY_OVERHEAD + v.length);
      assert.ok(unsealKey(kek, sealed, aad).equals(v));
      assert.throws(() => unsealKey(kek, sealed, Buffer.from('x')));
    }
  });

  test('KEK must be 32 bytes', () => {
    assert.throws(() => sealKey(randomBytes(16), dek, aad));
    assert.throws(() => unsealKey(randomBytes(16), sealKey(kek, dek, aad), aad));
  });
});

describe('deriveKey', () => {
  test('matches the documented HMAC construction', () => {
    const secret = Buffer.alloc(32, 7);
    const expected = createHmac('sha256', secret).update(Buffer.from('kura/v1\0SSE-C\0bucket/key', 'utf8')).digest();
    assert.ok(deriveKey(secret, 'SSE-C', 'bucket/key').equals(expected));
    assert.ok(deriveKey(secret, 'SSE-C', Buffer.from('bucket/key')).equals(expected));
    assert.equal(expected.toString('hex'), deriveKey(Buffer.alloc(32, 7), 'SSE-C', 'bucket/key').toString('hex'));
  });

  test('distinct labels, contexts and secrets give distinct keys', () => {
    const s = randomBytes(32);
    const keys = [
      deriveKey(s, 'SSE-C', 'b/k'),
      deriveKey(s, 'SSE-S3', 'b/k'),
      deriveKey(s, 'SSE-KMS', 'b/k'),
      deriveKey(s, 'SSE-C', 'b/k2'),
      deriveKey(s, 'SSE-C', 'b2/k'),
      deriveKey(randomBytes(32), 'SSE-C', 'b/k'),
    ].map((k) => k.toString('hex'));
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(deriveKey(s, 'SSE-C', 'b/k').length, 32);
  });

  test('labels must not contain NUL; secret must not be empty', () => {
    assert.throws(() => deriveKey(randomBytes(32), 'a\0b', 'x'));
    assert.throws(() => deriveKey(randomBytes(32), '', 'x'));
    assert.throws(() => deriveKey(Buffer.alloc(0), 'SSE-C', 'x'));
  });

  test('long contexts (1024-byte object keys) work', () => {
    assert.equal(deriveKey(randomBytes(32), 'SSE-C', `bucket/${'k'.repeat(1024)}`).length, 32);
  });
});

describe('SSE-C key fingerprint and constant-time compare', () => {
  test('fingerprint verifies the right key only, depends on the salt', () => {
    const key = randomBytes(32);
    const salt = newFingerprintSalt();
    const fp = keyFingerprint(key, salt);
    assert.equal(fp.length, 32);
    assert.ok(verifyKeyFingerprint(key, salt, fp));
    assert.ok(!verifyKeyFingerprint(randomBytes(32), salt, fp));
    assert.ok(!verifyKeyFingerprint(key, newFingerprintSalt(), fp));
    assert.ok(!verifyKeyFingerprint(key, salt, fp.subarray(0, 31)));
    assert.ok(!keyFingerprint(key, newFingerprintSalt()).equals(fp));
    assert.throws(() => keyFingerprint(key, Buffer.alloc(8)));
  });

  test('constantTimeEqual', () => {
    assert.ok(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc')));
    assert.ok(!constantTimeEqual(Buffer.from('abc'), Buffer.from('abd')));
    assert.ok(!constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd')));
    assert.ok(constantTimeEqual('', ''));
    assert.ok(constantTimeEqual('sig', 'sig'));
    assert.ok(!constantTimeEqual('sig', 'Sig'));
  });
});

describe('nonces', () => {
  test('distinct per chunk within a stream, including past 2^32 chunks', () => {
    const nonce = randomBytes(12);
    const seen = new Set<string>();
    const indices = [...Array(20000).keys(), 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER];
    for (const i of indices) seen.add(chunkNonce(nonce, i).toString('hex'));
    assert.equal(seen.size, indices.length);
    assert.ok(chunkNonce(nonce, 0).equals(nonce));
  });

  test('distinct across streams: fresh key and nonce per stream', () => {
    const keys = new Set<string>();
    const nonces = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = newStreamParams();
      keys.add(p.key.toString('hex'));
      nonces.add(p.nonce.toString('hex'));
    }
    assert.equal(keys.size, 2000);
    assert.equal(nonces.size, 2000);
  });

  test('identical plaintext chunks encrypt differently at each position and in each stream', async () => {
    const p = newStreamParams(32);
    const plain = Buffer.alloc(32 * 50, 0x41);
    const stored = (await run(createEncryptor(p), [plain])).out;
    const chunks = new Set<string>();
    for (let i = 0; i < 50; i++) chunks.add(stored.subarray(i * 48, i * 48 + 32).toString('hex'));
    assert.equal(chunks.size, 50);
    const other = encryptBuffer(newStreamParams(32), plain);
    assert.ok(!other.subarray(0, 32).equals(stored.subarray(0, 32)));
  });
});
