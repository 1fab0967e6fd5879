import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { authenticate, canonicalQuery, canonicalUri, isAnonymous, parseQuery, type SignedRequest } from '../../src/sigv4/sigv4.ts';
import { S3Error } from '../../src/server/errors.ts';
import { AKID, KMS_SCOPE, S3_SCOPE, lookup, presign, signHeader } from './helpers.ts';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const DATE = new Date('2013-05-24T00:00:00Z');
const NOW = new Date('2013-05-24T00:05:00Z');

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof S3Error) return e.code;
    throw e;
  }
  return 'OK';
}

function withHeaders(req: SignedRequest, h: Record<string, string | undefined>): SignedRequest {
  const headers = { ...req.headers };
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  return { ...req, headers };
}

describe('AWS published vectors (S3 SigV4 examples)', () => {
  const host = 'examplebucket.s3.amazonaws.com';
  test('GET object with Range', () => {
    const req: SignedRequest = {
      method: 'GET',
      rawPath: '/test.txt',
      rawQuery: '',
      headers: {
        host,
        range: 'bytes=0-9',
        'x-amz-content-sha256': EMPTY,
        'x-amz-date': '20130524T000000Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      },
    };
    const r = authenticate(req, lookup, S3_SCOPE, DATE);
    assert.deepEqual(
      { ...r },
      {
        accessKeyId: AKID,
        service: 's3',
        region: 'us-east-1',
        presigned: false,
        payload: 'signed',
        contentSha256: EMPTY,
        signatureDeferred: false,
      },
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { range: 'bytes=0-10' }), lookup, S3_SCOPE, DATE)),
      'SignatureDoesNotMatch',
    );
  });

  test('PUT object with Date header and storage class', () => {
    const req: SignedRequest = {
      method: 'PUT',
      rawPath: '/test%24file.text',
      rawQuery: '',
      headers: {
        host,
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      },
    };
    assert.equal(authenticate(req, lookup, S3_SCOPE, DATE).payload, 'signed');
  });

  test('GET bucket lifecycle (empty-valued query parameter)', () => {
    const req: SignedRequest = {
      method: 'GET',
      rawPath: '/',
      rawQuery: 'lifecycle',
      headers: {
        host,
        'x-amz-date': '20130524T000000Z',
        'x-amz-content-sha256': EMPTY,
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
      },
    };
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, DATE)),
      'OK',
    );
  });

  test('GET bucket (list objects) with query sorted', () => {
    const req: SignedRequest = {
      method: 'GET',
      rawPath: '/',
      rawQuery: 'prefix=J&max-keys=2',
      headers: {
        host,
        'x-amz-date': '20130524T000000Z',
        'x-amz-content-sha256': EMPTY,
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
      },
    };
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, DATE)),
      'OK',
    );
    assert.equal(
      code(() => authenticate({ ...req, rawQuery: 'prefix=K&max-keys=2' }, lookup, S3_SCOPE, DATE)),
      'SignatureDoesNotMatch',
    );
  });

  test('presigned GET object', () => {
    const req: SignedRequest = {
      method: 'GET',
      rawPath: '/test.txt',
      rawQuery:
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
      headers: { host },
    };
    const r = authenticate(req, lookup, S3_SCOPE, new Date('2013-05-24T12:00:00Z'));
    assert.equal(r.presigned, true);
    assert.equal(r.payload, 'unsigned');
    const expired = new Date('2013-05-25T00:00:01Z');
    assert.throws(
      () => authenticate(req, lookup, S3_SCOPE, expired),
      (e: S3Error) => e.code === 'AccessDenied' && e.message === 'Request has expired',
    );
  });
});

describe('signed with @smithy/signature-v4', () => {
  const base = {
    method: 'PUT',
    path: '/bucket/dir/some%20key%2Bplus%21%28x%29%2A~',
    query: { partNumber: '3', uploadId: 'a b+c/=', 'x-id': 'PutObject', list: ['z', 'a'] },
    headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-type': 'text/plain', 'x-amz-meta-note': '  two   spaces ' },
  };

  test('header auth passes; tampering fails', async () => {
    const req = await signHeader(base, DATE);
    const r = authenticate(req, lookup, S3_SCOPE, NOW);
    assert.equal(r.payload, 'unsigned');
    assert.equal(r.region, 'us-east-1');
    assert.equal(
      code(() => authenticate({ ...req, rawPath: '/bucket/dir/some%20key%2Bplus' }, lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('partNumber=3', 'partNumber=4') }, lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { 'x-amz-meta-note': 'other' }), lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { 'content-type': 'text/html' }), lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { host: 'other.s3.amazonaws.com' }), lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { 'x-amz-date': '20130524T000001Z' }), lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate(req, () => 'wrong-secret', S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate(req, () => undefined, S3_SCOPE, NOW)),
      'InvalidAccessKeyId',
    );
    // Unsigned headers may change freely; an unsigned x-amz-* header is refused.
    assert.equal(
      code(() => authenticate(withHeaders(req, { 'user-agent': 'x' }), lookup, S3_SCOPE, NOW)),
      'OK',
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { 'x-amz-acl': 'public-read' }), lookup, S3_SCOPE, NOW)),
      'AccessDenied',
    );
  });

  test('path signed as sent, or signed AWS-encoded but sent less encoded', async () => {
    const raw = await signHeader({ ...base, path: "/bucket/a+b!c'(d)" }, DATE);
    assert.equal(
      code(() => authenticate(raw, lookup, S3_SCOPE, NOW)),
      'OK',
    );
    const encoded = await signHeader({ ...base, path: '/bucket/a%2Bb%21c%27%28d%29' }, DATE);
    assert.equal(
      code(() => authenticate({ ...encoded, rawPath: "/bucket/a+b!c'(d)" }, lookup, S3_SCOPE, NOW)),
      'OK',
    );
    assert.equal(
      code(() => authenticate({ ...encoded, rawPath: "/bucket/a+b!c'(e)" }, lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    // An encoded slash is a different path from a literal one.
    const slash = await signHeader({ ...base, path: '/bucket/a%2Fb' }, DATE);
    assert.equal(
      code(() => authenticate({ ...slash, rawPath: '/bucket/a/b' }, lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
  });

  test('wire query using + for spaces verifies the same', async () => {
    const req = await signHeader(base, DATE);
    assert.ok(req.rawQuery.includes('a%20b%2Bc%2F%3D'));
    const plus = { ...req, rawQuery: req.rawQuery.replace('a%20b', 'a+b') };
    assert.equal(
      code(() => authenticate(plus, lookup, S3_SCOPE, NOW)),
      'OK',
    );
  });

  test('clock skew', async () => {
    const req = await signHeader(base, DATE);
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() + 15 * 60_000))),
      'OK',
    );
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() + 15 * 60_000 + 1000))),
      'RequestTimeTooSkewed',
    );
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() - 16 * 60_000))),
      'RequestTimeTooSkewed',
    );
  });

  test('missing / invalid x-amz-content-sha256', async () => {
    const { 'x-amz-content-sha256': _, ...headers } = base.headers;
    const req = withHeaders(await signHeader({ ...base, headers }, DATE), { 'x-amz-content-sha256': undefined });
    assert.throws(
      () => authenticate(req, lookup, S3_SCOPE, NOW),
      (e: S3Error) => e.code === 'InvalidRequest' && e.message === 'Missing required header for this request: x-amz-content-sha256',
    );
    const bad = await signHeader({ ...base, headers: { ...headers, 'x-amz-content-sha256': 'nope' } }, DATE);
    assert.equal(
      code(() => authenticate(bad, lookup, S3_SCOPE, NOW)),
      'InvalidArgument',
    );
  });

  test('no credentials at all → AccessDenied; malformed header', async () => {
    const req = await signHeader(base, DATE);
    assert.equal(
      code(() => authenticate(withHeaders(req, { authorization: undefined }), lookup, S3_SCOPE, NOW)),
      'AccessDenied',
    );
    assert.equal(isAnonymous(withHeaders(req, { authorization: undefined })), true);
    assert.equal(isAnonymous(req), false);
    const auth = String(req.headers.authorization);
    const m = (a: string) => code(() => authenticate(withHeaders(req, { authorization: a }), lookup, S3_SCOPE, NOW));
    assert.equal(m(auth.replace(/, Signature=.*/, '')), 'AuthorizationHeaderMalformed');
    assert.equal(m(auth.replace('/20130524/', '/20130525/')), 'AuthorizationHeaderMalformed');
    assert.equal(m(auth.replace('aws4_request', 'aws4_reqest')), 'AuthorizationHeaderMalformed');
    assert.equal(m(auth.replace('/s3/', '/ec2/')), 'AuthorizationHeaderMalformed');
    assert.equal(m(auth.replace(AKID + '/', '')), 'AuthorizationHeaderMalformed');
    assert.equal(m('AWS AKIAIOSFODNN7EXAMPLE:abc'), 'InvalidRequest');
  });

  test('presigned: pass, tamper, expiry', async () => {
    const spec = { method: 'GET', path: '/bucket/key%20with%20space', query: { 'response-content-type': 'text/plain' } };
    const req = await presign(spec, DATE, 600);
    assert.equal(isAnonymous(req), false);
    const r = authenticate(req, lookup, S3_SCOPE, NOW);
    assert.equal(r.presigned, true);
    assert.equal(r.payload, 'unsigned');
    assert.equal(
      code(() => authenticate({ ...req, rawQuery: req.rawQuery.replace('text%2Fplain', 'text%2Fhtml') }, lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() => authenticate({ ...req, rawPath: '/bucket/key' }, lookup, S3_SCOPE, NOW)),
      'SignatureDoesNotMatch',
    );
    assert.equal(
      code(() =>
        authenticate({ ...req, rawQuery: req.rawQuery.replace('X-Amz-Expires=600', 'X-Amz-Expires=6000') }, lookup, S3_SCOPE, NOW),
      ),
      'SignatureDoesNotMatch',
    );
    assert.throws(
      () => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() + 601_000)),
      (e: S3Error) => e.code === 'AccessDenied' && e.message === 'Request has expired',
    );
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() + 600_000))),
      'OK',
    );
    assert.throws(
      () => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() - 16 * 60_000)),
      (e: S3Error) => e.code === 'AccessDenied' && e.message === 'Request is not yet valid',
    );
    assert.equal(
      code(() => authenticate(req, lookup, S3_SCOPE, new Date(DATE.getTime() - 14 * 60_000))),
      'OK',
    );
    assert.equal(
      code(() =>
        authenticate({ ...req, rawQuery: req.rawQuery.replace('X-Amz-Expires=600', 'X-Amz-Expires=604801') }, lookup, S3_SCOPE, NOW),
      ),
      'AuthorizationQueryParametersError',
    );
    assert.equal(
      code(() => authenticate({ ...req, rawQuery: req.rawQuery.replace(/&X-Amz-Signature=[0-9a-f]+/, '') }, lookup, S3_SCOPE, NOW)),
      'AuthorizationQueryParametersError',
    );
    assert.equal(
      code(() => authenticate(withHeaders(req, { authorization: 'AWS4-HMAC-SHA256 x' }), lookup, S3_SCOPE, NOW)),
      'InvalidArgument',
    );
    assert.equal(
      code(() => authenticate(req, () => undefined, S3_SCOPE, NOW)),
      'InvalidAccessKeyId',
    );
  });

  test('presigned with x-amz headers hoisted and a signed payload hash', async () => {
    const req = await presign({ method: 'PUT', path: '/bucket/k', headers: { 'x-amz-meta-a': 'b' } }, DATE, 600);
    assert.ok(req.rawQuery.includes('x-amz-meta-a=b'));
    const r = authenticate(req, lookup, S3_SCOPE, NOW);
    assert.equal(r.payload, 'unsigned');
    assert.ok(req.rawQuery.includes('X-Amz-Content-Sha256=UNSIGNED-PAYLOAD'));
  });

  test('KMS requests (no x-amz-content-sha256) defer the signature to the body', async () => {
    const req = await signHeader(
      {
        method: 'POST',
        path: '/',
        host: 'kms.us-east-1.amazonaws.com',
        headers: { 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' },
        body: '{}',
      },
      DATE,
      { service: 'kms', applyChecksum: false },
    );
    const r = authenticate(req, lookup, KMS_SCOPE, NOW);
    assert.equal(r.service, 'kms');
    assert.equal(r.signatureDeferred, true);
    // The same request is not an S3 request: the S3 API refuses the scope before looking at the signature.
    assert.throws(
      () => authenticate(req, lookup, S3_SCOPE, NOW),
      (e: S3Error) =>
        e.code === 'AuthorizationHeaderMalformed' &&
        e.message === 'The authorization header is malformed; incorrect service "kms". This endpoint uses "s3".',
    );
  });
});

describe('canonical forms', () => {
  test('URI: no double encoding, no normalisation, %2F kept', () => {
    assert.equal(canonicalUri('/b/a%20b/./../c//d'), '/b/a%20b/./../c//d');
    assert.equal(canonicalUri('/b/x%2Fy'), '/b/x%2Fy');
    assert.equal(canonicalUri('/b/%7e%21!'), '/b/~%21%21');
    assert.equal(canonicalUri(''), '/');
    assert.equal(canonicalUri('/b/%E6%97%A5'), '/b/%E6%97%A5');
    assert.equal(canonicalUri('/b/日+%ff'), '/b/%E6%97%A5%2B%FF');
  });
  test('query: decode then AWS-encode, sort by name then value', () => {
    assert.equal(canonicalQuery('b=2&a=z&a=y&c&d=x+y%2b%7E'), 'a=y&a=z&b=2&c=&d=x%20y%2B~');
    assert.equal(canonicalQuery('X-Amz-Signature=1&A=1', 'X-Amz-Signature'), 'A=1');
    assert.equal(canonicalQuery('k=%ff%FE%e6%97%a5%zz'), 'k=%FF%FE%E6%97%A5%25zz');
    assert.deepEqual(parseQuery('a=%E6%97%A5+x&b'), [
      ['a', '日 x'],
      ['b', ''],
    ]);
  });
});
