// Unit tests: SSE request fields → EncryptionRequest, with AWS's error codes and messages.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { parseWriteRequest, parseReadRequest, parseCustomerKey, responseHeadersFor } from '../../src/sse/index.ts';
import { S3Error } from '../../src/server/errors.ts';

const key = Buffer.from('32bytesOfTotallyRandomCharacters');
const md5 = createHash('md5').update(key).digest('base64');
const fields = (o: Record<string, string>) => (n: string) => o[n];
const ssec = (k = key, m = md5, alg = 'AES256', prefix = 'x-amz-server-side-encryption-customer-') => ({
  [`${prefix}algorithm`]: alg,
  [`${prefix}key`]: k.toString('base64'),
  [`${prefix}key-md5`]: m,
});

function rejects(fn: () => unknown, code: string, status: number, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof S3Error, String(e));
    assert.equal(e.code, code);
    assert.equal(e.status, status);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('write requests', () => {
  test('no fields → default (SSE-S3)', () => assert.deepEqual(parseWriteRequest(fields({})), { mode: 'default' }));
  test('AES256 → SSE-S3', () =>
    assert.deepEqual(parseWriteRequest(fields({ 'x-amz-server-side-encryption': 'AES256' })), { mode: 'SSE-S3' }));
  test('aws:kms → SSE-KMS with key id', () => {
    assert.deepEqual(
      parseWriteRequest(fields({ 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'alias/x' })),
      { mode: 'SSE-KMS', dsse: false, keyId: 'alias/x' },
    );
  });
  test('SSE-C (the cloud.ru example key)', () => {
    const r = parseWriteRequest(fields(ssec()));
    assert.equal(r.mode, 'SSE-C');
    if (r.mode !== 'SSE-C') return;
    assert.deepEqual(r.customer.key, key);
    assert.equal(r.customer.keyMd5, md5);
  });
  test('unknown method → 400 InvalidArgument', () =>
    rejects(() => parseWriteRequest(fields({ 'x-amz-server-side-encryption': 'AES128' })), 'InvalidArgument', 400));
  test('lower-case aes256 is not AES256', () =>
    rejects(() => parseWriteRequest(fields({ 'x-amz-server-side-encryption': 'aes256' })), 'InvalidArgument', 400));
  test('SSE-S3 and SSE-C together → 400 InvalidArgument', () =>
    rejects(
      () => parseWriteRequest(fields({ ...ssec(), 'x-amz-server-side-encryption': 'AES256' })),
      'InvalidArgument',
      400,
      /incompatible/,
    ));
  test('KMS key id without aws:kms → 400 InvalidArgument', () =>
    rejects(() => parseWriteRequest(fields({ 'x-amz-server-side-encryption-aws-kms-key-id': 'k' })), 'InvalidArgument', 400));
});

describe('SSE-C key validation', () => {
  test('key of 31 or 33 bytes → InvalidArgument', () => {
    for (const n of [16, 31, 33, 64]) {
      const k = randomBytes(n);
      rejects(
        () => parseCustomerKey(fields(ssec(k, createHash('md5').update(k).digest('base64')))),
        'InvalidArgument',
        400,
        /secret key was invalid/,
      );
    }
  });
  test('bad base64 → InvalidArgument', () => {
    rejects(
      () => parseCustomerKey(fields({ ...ssec(), 'x-amz-server-side-encryption-customer-key': '!!!not base64!!!' })),
      'InvalidArgument',
      400,
      /secret key was invalid/,
    );
    rejects(
      () => parseCustomerKey(fields({ ...ssec(), 'x-amz-server-side-encryption-customer-key': key.toString('base64').slice(0, 43) })),
      'InvalidArgument',
      400,
    );
  });
  test('raw (not base64) 32-byte key → InvalidArgument', () =>
    rejects(
      () => parseCustomerKey(fields({ ...ssec(), 'x-amz-server-side-encryption-customer-key': key.toString('latin1') })),
      'InvalidArgument',
      400,
    ));
  test('MD5 mismatch → InvalidArgument', () => {
    const other = createHash('md5').update(randomBytes(32)).digest('base64');
    rejects(() => parseCustomerKey(fields(ssec(key, other))), 'InvalidArgument', 400, /calculated MD5 hash of the key did not match/);
    rejects(() => parseCustomerKey(fields(ssec(key, 'garbage'))), 'InvalidArgument', 400, /MD5/);
  });
  test('missing fields → InvalidArgument naming what is missing', () => {
    const full = ssec();
    const without = (n: string) => Object.fromEntries(Object.entries(full).filter(([k]) => k !== n));
    rejects(
      () => parseCustomerKey(fields(without('x-amz-server-side-encryption-customer-algorithm'))),
      'InvalidArgument',
      400,
      /valid encryption algorithm/,
    );
    rejects(
      () => parseCustomerKey(fields(without('x-amz-server-side-encryption-customer-key'))),
      'InvalidArgument',
      400,
      /appropriate secret key/,
    );
    rejects(
      () => parseCustomerKey(fields(without('x-amz-server-side-encryption-customer-key-md5'))),
      'InvalidArgument',
      400,
      /MD5 of the secret key/,
    );
  });
  test('algorithm other than AES256 → InvalidEncryptionAlgorithmError (as S3)', () =>
    rejects(
      () => parseCustomerKey(fields(ssec(key, md5, 'AES128'))),
      'InvalidEncryptionAlgorithmError',
      400,
      /^The Encryption request you specified is not valid\. Supported value: AES256\.$/,
    ));
  test('copy-source fields are read separately', () => {
    const f = fields(ssec(key, md5, 'AES256', 'x-amz-copy-source-server-side-encryption-customer-'));
    assert.equal(parseCustomerKey(f, 'target'), undefined);
    assert.deepEqual(parseCustomerKey(f, 'source')?.key, key);
  });
  test('errors never carry the key', () => {
    // assert.throws, not try/catch: a parse that wrongly succeeded must fail the test.
    assert.throws(
      () => parseCustomerKey(fields(ssec(key, createHash('md5').update('x').digest('base64')))),
      (e: S3Error) => {
        assert.ok(e instanceof S3Error, 'an S3 error');
        const s = JSON.stringify({ m: e.message, d: e.details });
        return !s.includes(key.toString('base64')) && !s.includes('32bytesOfTotally');
      },
    );
  });
});

describe('read requests', () => {
  test('x-amz-server-side-encryption on GET → 400 InvalidArgument', () =>
    rejects(() => parseReadRequest(fields({ 'x-amz-server-side-encryption': 'AES256' })), 'InvalidArgument', 400));
  test('SSE-C key on GET', () => assert.equal(parseReadRequest(fields(ssec()))?.keyMd5, md5));
  test('nothing → undefined', () => assert.equal(parseReadRequest(fields({})), undefined));
});

test('response headers', () => {
  assert.deepEqual(responseHeadersFor('SSE-S3'), { 'x-amz-server-side-encryption': 'AES256' });
  assert.deepEqual(responseHeadersFor('SSE-C', { keyMd5: md5 }), {
    'x-amz-server-side-encryption-customer-algorithm': 'AES256',
    'x-amz-server-side-encryption-customer-key-md5': md5,
  });
  assert.deepEqual(responseHeadersFor(undefined), {});
});
