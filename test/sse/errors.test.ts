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

  async function expectError(
    method: string,
    path: string,
    headers: Record<string, string>,
    status: number,
    code: string,
    message?: RegExp,
    query?: Record<string, string>,
  ): Promise<void> {
    const r = await raw(srv, method, path, { headers, query, body: method === 'PUT' || method === 'POST' ? 'x' : undefined });
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(headers)}: ${r.text}`);
    if (method === 'HEAD') return;
    assert.equal(xmlValue(r.text, 'Code'), code, r.text);
    if (message) assert.match(xmlValue(r.text, 'Message') ?? '', message);
    // Error bodies never carry the key.
    assert.ok(!r.text.includes(k.b64));
  }

  // S3's exact codes and messages (sources: the header comment of src/sse/errors.ts).
  const MSG = {
    badKey: 'The secret key was invalid for the specified algorithm.',
    md5: 'The calculated MD5 hash of the key did not match the hash that was provided.',
    badAlgorithm: 'The Encryption request you specified is not valid. Supported value: AES256.',
    noAlgorithm: 'Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.',
    noKey: 'Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.',
    noMd5:
      'Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.',
  };
  const badKeys: Array<[string, Record<string, string>, string, string]> = [
    [
      'key of 16 bytes',
      { ...ssecHeaders(k), [`${P}key`]: randomBytes(16).toString('base64'), [`${P}key-md5`]: k.md5 },
      'InvalidArgument',
      MSG.badKey,
    ],
    ['key of 33 bytes', { ...ssecHeaders(k), [`${P}key`]: randomBytes(33).toString('base64') }, 'InvalidArgument', MSG.badKey],
    ['key not base64', { ...ssecHeaders(k), [`${P}key`]: '#'.repeat(44) }, 'InvalidArgument', MSG.badKey],
    [
      'MD5 of another key',
      { ...ssecHeaders(k), [`${P}key-md5`]: createHash('md5').update(randomBytes(32)).digest('base64') },
      'InvalidArgument',
      MSG.md5,
    ],
    ['MD5 not base64', { ...ssecHeaders(k), [`${P}key-md5`]: 'not-an-md5' }, 'InvalidArgument', MSG.md5],
    ['algorithm AES128', { ...ssecHeaders(k), [`${P}algorithm`]: 'AES128' }, 'InvalidEncryptionAlgorithmError', MSG.badAlgorithm],
    ['no algorithm', { [`${P}key`]: k.b64, [`${P}key-md5`]: k.md5 }, 'InvalidArgument', MSG.noAlgorithm],
    ['no key', { [`${P}algorithm`]: 'AES256', [`${P}key-md5`]: k.md5 }, 'InvalidArgument', MSG.noKey],
    ['no MD5', { [`${P}algorithm`]: 'AES256', [`${P}key`]: k.b64 }, 'InvalidArgument', MSG.noMd5],
  ];
  const exactly = (m: string): RegExp => new RegExp(`^${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

  test("malformed SSE-C keys → 400 with S3's code and message on PUT, GET, HEAD, CreateMultipartUpload", async () => {
    for (const [what, headers, code, message] of badKeys) {
      await expectError('PUT', `/${bucket}/new`, headers, 400, code, exactly(message));
      await expectError('GET', `/${bucket}/c`, headers, 400, code, exactly(message));
      await expectError('HEAD', `/${bucket}/c`, headers, 400, code);
      await expectError('POST', `/${bucket}/new`, headers, 400, code, exactly(message), { uploads: '' });
      void what;
    }
  });

  test('a bad customer algorithm names the argument as S3 does', async () => {
    const r = await raw(srv, 'PUT', `/${bucket}/new`, { body: 'x', headers: { ...ssecHeaders(k), [`${P}algorithm`]: 'AES251' } });
    assert.equal(xmlValue(r.text, 'ArgumentName'), 'x-amz-server-side-encryption');
    assert.equal(xmlValue(r.text, 'ArgumentValue'), 'AES251');
  });

  test('malformed copy-source SSE-C keys → 400 with the same codes', async () => {
    for (const [, headers, code, message] of badKeys) {
      const copy = Object.fromEntries(Object.entries(headers).map(([h, v]) => [h.replace(P, CP), v]));
      await expectError('PUT', `/${bucket}/copy`, { ...copy, 'x-amz-copy-source': `/${bucket}/c` }, 400, code, exactly(message));
    }
  });

  test("UploadPart: without the upload's key 400 InvalidRequest, with another key 400 InvalidArgument", async () => {
    const created = await raw(srv, 'POST', `/${bucket}/mp`, { query: { uploads: '' }, headers: ssecHeaders(k) });
    assert.equal(created.status, 200, created.text);
    const uploadId = xmlValue(created.text, 'UploadId')!;
    const part = { partNumber: '1', uploadId };
    await expectError(
      'PUT',
      `/${bucket}/mp`,
      {},
      400,
      'InvalidRequest',
      /^The multipart upload initiate requested encryption\. Subsequent part requests must include the appropriate encryption parameters\.$/,
      part,
    );
    await expectError(
      'PUT',
      `/${bucket}/mp`,
      ssecHeaders(newKey()),
      400,
      'InvalidArgument',
      /^The provided encryption parameters did not match the ones used originally\.$/,
      part,
    );
    assert.equal((await raw(srv, 'PUT', `/${bucket}/mp`, { query: part, headers: ssecHeaders(k), body: 'part' })).status, 200);
    assert.equal((await raw(srv, 'DELETE', `/${bucket}/mp`, { query: { uploadId } })).status, 204);
  });

  test('unknown x-amz-server-side-encryption, or SSE-S3 with SSE-C → 400 InvalidArgument', async () => {
    await expectError(
      'PUT',
      `/${bucket}/u`,
      { 'x-amz-server-side-encryption': 'AES512' },
      400,
      'InvalidArgument',
      /^The encryption method specified is not supported$/,
    );
    await expectError('PUT', `/${bucket}/u`, { 'x-amz-server-side-encryption': 'aes256' }, 400, 'InvalidArgument');
    await expectError(
      'PUT',
      `/${bucket}/u`,
      { 'x-amz-server-side-encryption': 'AES256', ...ssecHeaders(k) },
      400,
      'InvalidArgument',
      /^Server Side Encryption with Customer provided key is incompatible with the encryption method specified$/,
    );
    await expectError(
      'POST',
      `/${bucket}/u`,
      { 'x-amz-server-side-encryption': 'AES256', ...ssecHeaders(k) },
      400,
      'InvalidArgument',
      /incompatible/,
      { uploads: '' },
    );
    await expectError(
      'PUT',
      `/${bucket}/u`,
      { 'x-amz-copy-source': `/${bucket}/s`, 'x-amz-server-side-encryption': 'DES' },
      400,
      'InvalidArgument',
    );
  });

  test('reads: no key 400, wrong key 403, key for a non-SSE-C object 400, x-amz-server-side-encryption 400', async () => {
    await expectError(
      'GET',
      `/${bucket}/c`,
      {},
      400,
      'InvalidRequest',
      /^The object was stored using a form of Server Side Encryption\. The correct parameters must be provided to retrieve the object\.$/,
    );
    await expectError('HEAD', `/${bucket}/c`, {}, 400, 'InvalidRequest');
    await expectError('GET', `/${bucket}/c`, ssecHeaders(newKey()), 403, 'AccessDenied');
    await expectError('HEAD', `/${bucket}/c`, ssecHeaders(newKey()), 403, 'AccessDenied');
    await expectError(
      'GET',
      `/${bucket}/s`,
      ssecHeaders(k),
      400,
      'InvalidRequest',
      /^The encryption parameters are not applicable to this object\.$/,
    );
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
      const r = await raw(srv, method, path, {
        https: false,
        headers,
        body: method === 'PUT' && !('x-amz-copy-source' in headers) ? 'x' : undefined,
      });
      assert.equal(r.status, 400, `${method} ${path}`);
      if (method !== 'HEAD') {
        assert.equal(xmlValue(r.text, 'Code'), 'InvalidRequest');
        assert.equal(
          xmlValue(r.text, 'Message'),
          'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.',
        );
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
