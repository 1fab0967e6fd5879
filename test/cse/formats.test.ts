// The S3EC v2, OSS and Kura formats in memory: round trips, independent parts, ranges, tampering, and
// vectors built step by step from the published sources (cited in docs/CSE-FORMATS.md).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  constants,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type CipherGCM,
  type DecipherGCM,
} from 'node:crypto';
import { createObjectEncryptor, openObjectDecryptor, resumeObjectEncryptor, describeObject } from '../../src/cse/formats.ts';
import { aesKey, rsaKey, type MasterKey } from '../../src/cse/keys.ts';
import { rsaPkcs1Decrypt } from '../../src/cse/keyrings/rsa.ts';
import type { CseFormat } from '../../src/cse/format.ts';
import { CseError } from '../../src/cse/errors.ts';
import { aesBytes, flipBit, rsaPem, through } from './helpers.ts';

const pair = rsaPem();
const kek = aesBytes();
const keyKinds: Array<[string, () => MasterKey]> = [
  ['rsa', () => rsaKey(pair.privatePem)],
  ['aes', () => aesKey(kek)],
];
const sizes = [0, 1, 15, 16, 17, 70_000, 200_003];

async function roundTrip(format: CseFormat, key: MasterKey, data: Buffer, opts: { withSize?: boolean } = {}) {
  const md5 = createHash('md5').update(data).digest();
  const enc = await createObjectEncryptor(format, key, opts.withSize === false ? {} : { plainSize: data.length, md5 });
  const stored = await through(enc.stream(), data);
  assert.equal(stored.length, enc.cipherSize(data.length), 'cipherSize');
  const dec = await openObjectDecryptor(format, enc.metadata, [key], stored.length);
  assert.deepEqual(await through(dec.stream(), stored), data);
  return { enc, stored, dec };
}

for (const format of ['s3ec', 'oss', 'kura'] as const) {
  describe(`${format} format`, () => {
    for (const [kind, mk] of keyKinds) {
      test(`round trips with a ${kind} master key`, async () => {
        for (const n of sizes) await roundTrip(format, mk(), randomBytes(n));
      });
    }

    test('ranges decrypt exactly the bytes asked for', async () => {
      const key = mk0();
      const data = randomBytes(150_001);
      // Kura: 32 KiB segments (the part size sets them), so that ranges cross segment boundaries.
      const segment = 32 * 1024;
      const enc = await createObjectEncryptor(format, key, { plainSize: data.length, ...(format === 'kura' ? { partSize: segment } : {}) });
      const stored = await through(enc.stream(), data);
      if (format === 'kura') {
        assert.equal(enc.metadata['kura-cse-segment-size'], String(segment));
        // One 16-byte tag per segment (each is one chunk of the 64 KiB chunk size): 5 segments, not one stream of 3 chunks.
        assert.equal(stored.length, data.length + 16 * Math.ceil(data.length / segment));
      }
      const dec = await openObjectDecryptor(format, enc.metadata, [key], stored.length);
      for (const [s, e] of [
        [0, 0],
        [0, 15],
        [1, 16],
        [65_535, 65_537],
        [100, 150_000],
        [150_000, 150_000],
        [17, 131_100],
      ] as const) {
        const r = dec.range!(s, e);
        const got = await through(r.transform(), stored.subarray(r.storedStart, r.storedEnd + 1));
        assert.deepEqual(got, data.subarray(s, e + 1), `range ${s}-${e}`);
        assert.equal(r.authenticated, format === 'kura');
      }
    });

    test('a flipped bit in the body or in any metadata value fails', async () => {
      const key = mk0();
      const data = randomBytes(5000);
      const md5 = createHash('md5').update(data).digest();
      const enc = await createObjectEncryptor(format, key, { plainSize: data.length, md5 });
      const stored = await through(enc.stream(), data);
      for (const at of [0, 2500, stored.length - 1]) {
        const dec = await openObjectDecryptor(format, enc.metadata, [key], stored.length);
        await assert.rejects(
          through(dec.stream(), flipBit(stored, at)),
          (e: Error) => e instanceof CseError && e.code === 'IntegrityError',
          `body bit ${at}`,
        );
      }
      await assert.rejects(async () => {
        const dec = await openObjectDecryptor(format, enc.metadata, [key], stored.length - 1);
        await through(dec.stream(), stored.subarray(0, stored.length - 1));
      }, 'truncated');
      for (const name of Object.keys(enc.metadata)) {
        const v = enc.metadata[name]!;
        const bad = { ...enc.metadata, [name]: v.length > 2 ? v.slice(0, 2) + (v[2] === 'A' ? 'B' : 'A') + v.slice(3) : v + '1' };
        await assert.rejects(async () => {
          const dec = await openObjectDecryptor(format, bad, [key], stored.length);
          await through(dec.stream(), stored);
        }, `metadata ${name}`);
      }
    });

    test('picks the key whose material description matches, and names the needed one otherwise', async () => {
      const a = rsaKey(pair.privatePem, { description: { app: 'one' } });
      const other = rsaPem(1024);
      const b = rsaKey(other.privatePem, { description: { app: 'two' } });
      const c = aesKey(aesBytes(), { description: { app: 'three' } });
      const data = randomBytes(1000);
      const enc = await createObjectEncryptor(format, b, { plainSize: data.length });
      const stored = await through(enc.stream(), data);
      const dec = await openObjectDecryptor(format, enc.metadata, [a, c, b], stored.length);
      assert.deepEqual(await through(dec.stream(), stored), data);
      await assert.rejects(
        openObjectDecryptor(format, enc.metadata, [a, c], stored.length),
        (e: Error) => e instanceof CseError && e.code === 'NoMatchingKey' && e.message.includes('{"app":"two"}'),
      );
      assert.match((await describeObject(enc.metadata))!.keys, /"app":"two"/);
    });

    test('resuming from stored metadata gives the same encryption', async () => {
      const key = mk0();
      const data = randomBytes(40_000);
      const enc = await createObjectEncryptor(format, key, { plainSize: data.length, partSize: 16 * 1024 });
      const again = await resumeObjectEncryptor(enc.metadata, [key]);
      assert.deepEqual(await through(again.stream(), data), await through(enc.stream(), data));
    });
  });
}
function mk0() {
  return rsaKey(pair.privatePem);
}

describe('independent parts', () => {
  for (const format of ['oss', 'kura'] as const) {
    test(`${format}: parts encrypted separately concatenate to the whole object`, async () => {
      const key = aesKey(kek);
      const partSize = 32 * 1024;
      const data = randomBytes(3 * partSize + 1234);
      const enc = await createObjectEncryptor(format, key, { plainSize: data.length, partSize });
      assert.equal(partSize % enc.partAlign!, 0);
      const parts: Buffer[] = [];
      for (let off = 0; off < data.length; off += partSize) {
        const len = Math.min(partSize, data.length - off);
        const p = await through(enc.part!(off, len, off + len === data.length), data.subarray(off, off + len));
        assert.equal(p.length, enc.partCipherSize!(off, len, off + len === data.length));
        parts.push(p);
      }
      const stored = Buffer.concat(parts);
      assert.deepEqual(stored, await through(enc.stream(), data));
      const dec = await openObjectDecryptor(format, enc.metadata, [key], stored.length);
      assert.deepEqual(await through(dec.stream(), stored), data);
      if (format === 'kura') {
        // Swapping two parts is caught (each segment's nonce depends on its position).
        const swapped = Buffer.concat([parts[1]!, parts[0]!, parts[2]!, parts[3]!]);
        await assert.rejects(through((await openObjectDecryptor(format, enc.metadata, [key], stored.length)).stream(), swapped));
      }
    });
  }

  test('kura: undeclared size (stdin) ends with a terminator; dropping a whole segment is caught', async () => {
    const key = aesKey(kek);
    const seg = 16 * 1024;
    for (const n of [0, seg, 3 * seg, 3 * seg + 5]) {
      const data = randomBytes(n);
      const enc = await createObjectEncryptor('kura', key, { partSize: seg });
      const stored = await through(enc.stream(), data);
      const dec = await openObjectDecryptor('kura', enc.metadata, [key], stored.length);
      assert.deepEqual(await through(dec.stream(), stored), data);
      if (n >= 2 * seg) {
        const full = seg + 16; // one chunk of 16 KiB per segment at 64 KiB chunks
        const cut = Buffer.concat([stored.subarray(0, full), stored.subarray(2 * full)]);
        await assert.rejects(async () => through((await openObjectDecryptor('kura', enc.metadata, [key], cut.length)).stream(), cut));
      }
    }
  });
});

describe('vectors from the published sources', () => {
  test('S3EC v2 RSA-OAEP-SHA1 + AES/GCM/NoPadding exactly as RsaKeyring.java / ObjectMetadataEncodingStrategy.java', async () => {
    // Writer side built step by step from the Java source.
    const data = Buffer.from('The quick brown fox jumps over the lazy dog, S3EC edition.');
    const dataKey = randomBytes(32),
      iv = randomBytes(12);
    const pseudo = Buffer.concat([Buffer.from([32]), dataKey, Buffer.from('AES/GCM/NoPadding')]);
    const wrapped = publicEncrypt({ key: pair.publicPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, pseudo);
    const c = createCipheriv('aes-256-gcm', dataKey, iv) as CipherGCM;
    const body = Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
    const meta = {
      'x-amz-key-v2': wrapped.toString('base64'),
      'x-amz-iv': iv.toString('base64'),
      'x-amz-cek-alg': 'AES/GCM/NoPadding',
      'x-amz-tag-len': '128',
      'x-amz-wrap-alg': 'RSA-OAEP-SHA1',
      'x-amz-matdesc': '{}',
    };
    const dec = await openObjectDecryptor('s3ec', meta, [rsaKey(pair.privatePem)], body.length);
    assert.deepEqual(await through(dec.stream(), body), data);
    // Reader side: what Kura writes opens with the same steps.
    const enc = await createObjectEncryptor('s3ec', rsaKey(pair.publicPem), { plainSize: data.length });
    const stored = await through(enc.stream(), data);
    const p2 = privateDecrypt(
      { key: pair.privatePem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      Buffer.from(enc.metadata['x-amz-key-v2']!, 'base64'),
    );
    assert.equal(p2[0], 32);
    assert.equal(p2.subarray(33).toString(), 'AES/GCM/NoPadding');
    const d = createDecipheriv('aes-256-gcm', p2.subarray(1, 33), Buffer.from(enc.metadata['x-amz-iv']!, 'base64')) as DecipherGCM;
    d.setAuthTag(stored.subarray(stored.length - 16));
    assert.deepEqual(Buffer.concat([d.update(stored.subarray(0, stored.length - 16)), d.final()]), data);
    assert.equal(enc.metadata['x-amz-unencrypted-content-length'], String(data.length));
  });

  test('S3EC v2 AES/GCM key wrap exactly as AesKeyring.java (IV ‖ ciphertext ‖ tag, AAD = cek alg)', async () => {
    const data = randomBytes(999);
    const dataKey = randomBytes(32),
      iv = randomBytes(12),
      wiv = randomBytes(12);
    const w = createCipheriv('aes-256-gcm', kek, wiv) as CipherGCM;
    w.setAAD(Buffer.from('AES/GCM/NoPadding'));
    const wrapped = Buffer.concat([wiv, w.update(dataKey), w.final(), w.getAuthTag()]);
    const c = createCipheriv('aes-256-gcm', dataKey, iv) as CipherGCM;
    const body = Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
    const meta = {
      'x-amz-key-v2': wrapped.toString('base64'),
      'x-amz-iv': iv.toString('base64'),
      'x-amz-cek-alg': 'AES/GCM/NoPadding',
      'x-amz-tag-len': '128',
      'x-amz-wrap-alg': 'AES/GCM',
      'x-amz-matdesc': '{}',
    };
    const dec = await openObjectDecryptor('s3ec', meta, [aesKey(kek)], body.length);
    assert.deepEqual(await through(dec.stream(), body), data);
    // Ranged read = CTR from J0+1 (RangedGetUtils.java / the GCM spec): counter block IV ‖ 00000002.
    const r = dec.range!(100, 300);
    assert.deepEqual(await through(r.transform(), body.subarray(r.storedStart, r.storedEnd + 1)), data.subarray(100, 301));
  });

  test('OSS: the Go SDK sample metadata (aliyun-oss-python-sdk tests/encrypted_go_example_meta.json) unwraps with PKCS#1 v1.5', () => {
    // tests/common.py private_key_compact, a published test key of the OSS SDK.
    const pem = [
      '-----BEGIN RSA PRIVATE KEY-----',
      'MIICWwIBAAKBgQCokfiAVXXf5ImFzKDw+XO/UByW6mse2QsIgz3ZwBtMNu59fR5z',
      'ttSx+8fB7vR4CN3bTztrP9A6bjoN0FFnhlQ3vNJC5MFO1PByrE/MNd5AAfSVba93',
      'I6sx8NSk5MzUCA4NJzAUqYOEWGtGBcom6kEF6MmR1EKib1Id8hpooY5xaQIDAQAB',
      'AoGAOPUZgkNeEMinrw31U3b2JS5sepG6oDG2CKpPu8OtdZMaAkzEfVTJiVoJpP2Y',
      'nPZiADhFW3e0ZAnak9BPsSsySRaSNmR465cG9tbqpXFKh9Rp/sCPo4Jq2n65yood',
      'JBrnGr6/xhYvNa14sQ6xjjfSgRNBSXD1XXNF4kALwgZyCAECQQDV7t4bTx9FbEs5',
      '36nAxPsPM6aACXaOkv6d9LXI7A0J8Zf42FeBV6RK0q7QG5iNNd1WJHSXIITUizVF',
      '6aX5NnvFAkEAybeXNOwUvYtkgxF4s28s6gn11c5HZw4/a8vZm2tXXK/QfTQrJVXp',
      'VwxmSr0FAajWAlcYN/fGkX1pWA041CKFVQJAG08ozzekeEpAuByTIOaEXgZr5MBQ',
      'gBbHpgZNBl8Lsw9CJSQI15wGfv6yDiLXsH8FyC9TKs+d5Tv4Cvquk0efOQJAd9OC',
      'lCKFs48hdyaiz9yEDsc57PdrvRFepVdj/gpGzD14mVerJbOiOF6aSV19ot27u4on',
      'Td/3aifYs0CveHzFPQJAWb4LCDwqLctfzziG7/S7Z74gyq5qZF4FUElOAZkz718E',
      'yZvADwuz/4aK0od0lX9c4Jp7Mo5vQ4TvdoBnPuGoyw==',
      '-----END RSA PRIVATE KEY-----',
    ].join('\n');
    const k = rsaKey(pem);
    const key = rsaPkcs1Decrypt(
      k.privateKey!,
      Buffer.from(
        'F2L5QjyA2s85tPvaGdQ5EKnU/XN5dUWqZfgwcM4gfzPMcDWR93AZGSpeB9VSJBYPdIqhy1cevKEJv+Dv2ckDuDJ7nzijwcBnO5tPl5jXYlWxgzj6t1gMqQr/LENbB5iC8hzGkkoVWjWtSPDB+uE3+qf4V1A0308OqSM3OKxV0VI=',
        'base64',
      ),
    );
    const iv = rsaPkcs1Decrypt(
      k.privateKey!,
      Buffer.from(
        'D+3z6ftLp500eVnvsat5awYdYI/jTeSRlGlmHNrhTm3l1bonYP1v72vGqZhvOpT++9ZXOhdePu82gjhqVfh8Qv2HZsVGeJLzQJRU8kIKc7PRI4SoqpHZh2VYsASvnDtxVy2MQmpJzvG8xr4j3I29EgsEha7NV+2hGq/dolxLHNc=',
        'base64',
      ),
    );
    assert.equal(key.length, 32);
    assert.equal(iv.toString('hex'), '5649ca0d16946d8100000000e649d194'); // bytes 8..11 zero, as the SDKs generate
  });

  test('OSS v2 object exactly as oss2 RsaProvider + AESCTRCipher writes it, multipart offsets included', async () => {
    const data = randomBytes(3 * 1024 + 7);
    const dataKey = randomBytes(32),
      iv = randomBytes(16);
    iv.fill(0, 8, 12);
    const body = Buffer.concat([createCipheriv('aes-256-ctr', dataKey, iv).update(data)]);
    const meta = {
      'client-side-encryption-key': publicEncrypt({ key: pair.publicPem, padding: constants.RSA_PKCS1_PADDING }, dataKey).toString(
        'base64',
      ),
      'client-side-encryption-start': publicEncrypt({ key: pair.publicPem, padding: constants.RSA_PKCS1_PADDING }, iv).toString('base64'),
      'client-side-encryption-cek-alg': 'AES/CTR/NoPadding',
      'client-side-encryption-wrap-alg': 'RSA/NONE/PKCS1Padding',
      'client-side-encryption-unencrypted-content-length': String(data.length),
      'client-side-encryption-unencrypted-content-md5': createHash('md5').update(data).digest('base64'),
    };
    const dec = await openObjectDecryptor('oss', meta, [rsaKey(pair.privatePem)], body.length);
    assert.deepEqual(await through(dec.stream(), body), data);
    // What Kura writes: part 2 of 1 KiB parts starts its counter at IV + 1024/16.
    const enc = await createObjectEncryptor('oss', rsaKey(pair.publicPem), { plainSize: data.length, partSize: 1024 });
    assert.equal(enc.metadata['client-side-encryption-part-size'], '1024');
    assert.equal(enc.metadata['client-side-encryption-data-size'], String(data.length));
    assert.equal(enc.metadata['client-side-encryption-wrap-alg'], 'RSA/NONE/PKCS1Padding');
    const k2 = rsaKey(pair.privatePem);
    const dk = rsaPkcs1Decrypt(k2.privateKey!, Buffer.from(enc.metadata['client-side-encryption-key']!, 'base64'));
    const iv2 = rsaPkcs1Decrypt(k2.privateKey!, Buffer.from(enc.metadata['client-side-encryption-start']!, 'base64'));
    assert.equal(iv2.readUInt32BE(8), 0);
    const part2 = await through(enc.part!(1024, 1024, false), data.subarray(1024, 2048));
    const ctr = BigInt('0x' + iv2.toString('hex')) + 64n;
    const iv2at = Buffer.from(ctr.toString(16).padStart(32, '0'), 'hex');
    assert.deepEqual(createDecipheriv('aes-256-ctr', dk, iv2at).update(part2), data.subarray(1024, 2048));
  });
});
