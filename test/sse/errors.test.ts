// The exact errors for malformed or mismatched SSE requests (raw signed requests over HTTPS), and the
// operator's --allow-insecure-ssec option.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startKura, xmlValue, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecHeaders, raw } from './helpers.ts';

const P = 'x-amz-server-side-encryption-customer-';
const CP = 'x-amz-copy-source-server-side-encryption-customer-';

describe('SSE request errors', () => {
  let srv: KuraServer;
  const bucket = 'sse-errors';
  const k = newKey();

  before(async () => {
    srv = await startKura();
    assert.equal((await raw(srv, 'PUT', `/${bucket}`)).status, 200);
    assert.equal((await raw(srv, 'PUT', `/${bucket}/c`, { body: 'data', headers: ssecHeaders(k) })).status, 200);
    assert.equal((await raw(srv, 'PUT', `/${bucket}/s`, { body: 'data' })).status, 200);
  });
  after(async () => {
    await srv.stop();
  });

  async function expectError(method: string, path: string, headers: Record<string, string>, status: number, code: string, message?: RegExp, query?: Record<string, string>): Promise<void> {
    const r = await raw(srv, method, path, { headers, query, body: method === 'PUT' || method === 'POST' ? 'x' : undefined });
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(headers)}: ${r.text}`);
    if (method === 'HEAD') return;
    assert.equal(xmlValue(r.text, 'Code'), code, r.text);
    if (message) assert.match(xmlValue(r.text, 'Message') ?? '', message);
    // Error bodies never carry the key.
    assert.ok(!r.text.includes(k.b64));
  }

  const badKeys: Array<[string, Record<string, string>, RegExp]> = [
    ['key of 16 bytes', { ...ssecHeaders(k), [`${P}key`]: randomBytes(16).toString('base64'), [`${P}key-md5`]: k.md5 }, /secret key was invalid/],
    ['key of 33 bytes', { ...ssecHeaders(k), [`${P}key`]: randomBytes(33).toString('base64') }, /secret key was invalid/],
    ['key not base64', { ...ssecHeaders(k), [`${P}key`]: '#'.repeat(44) }, /secret key was invalid/],
    ['MD5 of another key', { ...ssecHeaders(k), [`${P}key-md5`]: createHash('md5').update(randomBytes(32)).digest('base64') }, /calculated MD5 hash of the key did not match/],
    ['MD5 not base64', { ...ssecHeaders(k), [`${P}key-md5`]: 'not-an-md5' }, /MD5/],
    ['algorithm AES128', { ...ssecHeaders(k), [`${P}algorithm`]: 'AES128' }, /valid encryption algorithm/],
    ['no algorithm', { [`${P}key`]: k.b64, [`${P}key-md5`]: k.md5 }, /valid encryption algorithm/],
    ['no key', { [`${P}algorithm`]: 'AES256', [`${P}key-md5`]: k.md5 }, /appropriate secret key/],
    ['no MD5', { [`${P}algorithm`]: 'AES256', [`${P}key`]: k.b64 }, /MD5 of the secret key/],
  ];

  test('malformed SSE-C keys → 400 InvalidArgument on PUT, GET, HEAD, CreateMultipartUpload', async () => {
    for (const [what, headers, message] of badKeys) {
      await expectError('PUT', `/${bucket}/new`, headers, 400, 'InvalidArgument', message);
      await expectError('GET', `/${bucket}/c`, headers, 400, 'InvalidArgument', message);
      await expectError('HEAD', `/${bucket}/c`, headers, 400, 'InvalidArgument');
      await expectError('POST', `/${bucket}/new`, headers, 400, 'InvalidArgument', message, { uploads: '' });
      void what;
    }
  });

  test('malformed copy-source SSE-C keys → 400 InvalidArgument', async () => {
    for (const [, headers, message] of badKeys) {
      const copy = Object.fromEntries(Object.entries(headers).map(([h, v]) => [h.replace(P, CP), v]));
      await expectError('PUT', `/${bucket}/copy`, { ...copy, 'x-amz-copy-source': `/${bucket}/c` }, 400, 'InvalidArgument', message);
    }
  });

  test('unknown x-amz-server-side-encryption, or SSE-S3 with SSE-C → 400 InvalidArgument', async () => {
    await expectError('PUT', `/${bucket}/u`, { 'x-amz-server-side-encryption': 'AES512' }, 400, 'InvalidArgument', /not supported/);
    await expectError('PUT', `/${bucket}/u`, { 'x-amz-server-side-encryption': 'aes256' }, 400, 'InvalidArgument');
    await expectError('PUT', `/${bucket}/u`, { 'x-amz-server-side-encryption': 'AES256', ...ssecHeaders(k) }, 400, 'InvalidArgument', /incompatible/);
    await expectError('POST', `/${bucket}/u`, { 'x-amz-server-side-encryption': 'AES256', ...ssecHeaders(k) }, 400, 'InvalidArgument', /incompatible/, { uploads: '' });
    await expectError('PUT', `/${bucket}/u`, { 'x-amz-copy-source': `/${bucket}/s`, 'x-amz-server-side-encryption': 'DES' }, 400, 'InvalidArgument');
  });

  test('reads: no key 400, wrong key 403, key for a non-SSE-C object 400, x-amz-server-side-encryption 400', async () => {
    await expectError('GET', `/${bucket}/c`, {}, 400, 'InvalidRequest', /^The object was stored using a form of Server Side Encryption\. The correct parameters must be provided to retrieve the object\.$/);
    await expectError('HEAD', `/${bucket}/c`, {}, 400, 'InvalidRequest');
    await expectError('GET', `/${bucket}/c`, ssecHeaders(newKey()), 403, 'AccessDenied');
    await expectError('HEAD', `/${bucket}/c`, ssecHeaders(newKey()), 403, 'AccessDenied');
    await expectError('GET', `/${bucket}/s`, ssecHeaders(k), 400, 'InvalidRequest', /not applicable/);
    await expectError('GET', `/${bucket}/s`, { 'x-amz-server-side-encryption': 'AES256' }, 400, 'InvalidArgument');
    const ok = await raw(srv, 'GET', `/${bucket}/c`, { headers: ssecHeaders(k) });
    assert.equal(ok.status, 200);
    assert.equal(ok.text, 'data');
    assert.equal(ok.headers[`${P}algorithm`], 'AES256');
    assert.equal(ok.headers[`${P}key-md5`], k.md5);
  });

  test('SSE-C over plain HTTP → 400 InvalidRequest, also for copy-source keys', async () => {
    for (const [method, path, headers] of [
      ['PUT', `/${bucket}/h`, ssecHeaders(k)],
      ['GET', `/${bucket}/c`, ssecHeaders(k)],
      ['HEAD', `/${bucket}/c`, ssecHeaders(k)],
      ['PUT', `/${bucket}/h`, { ...ssecHeaders(k, true), 'x-amz-copy-source': `/${bucket}/c` }],
    ] as const) {
      const r = await raw(srv, method, path, { https: false, headers, body: method === 'PUT' && !('x-amz-copy-source' in headers) ? 'x' : undefined });
      assert.equal(r.status, 400, `${method} ${path}`);
      if (method !== 'HEAD') {
        assert.equal(xmlValue(r.text, 'Code'), 'InvalidRequest');
        assert.equal(xmlValue(r.text, 'Message'), 'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.');
      }
    }
  });
});

test('--allow-insecure-ssec lets SSE-C through over plain HTTP', async () => {
  const srv = await startKura({ args: ['--allow-insecure-ssec'] });
  try {
    const k = newKey();
    assert.equal((await raw(srv, 'PUT', '/insecure', { https: false })).status, 200);
    assert.equal((await raw(srv, 'PUT', '/insecure/o', { https: false, body: 'over http', headers: ssecHeaders(k) })).status, 200);
    const r = await raw(srv, 'GET', '/insecure/o', { https: false, headers: ssecHeaders(k) });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'over http');
    assert.equal((await raw(srv, 'GET', '/insecure/o', { https: false, headers: ssecHeaders(newKey()) })).status, 403);
  } finally {
    await srv.stop();
  }
});
