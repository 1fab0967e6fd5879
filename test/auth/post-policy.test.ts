import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { deriveSigningKey } from '../../src/sigv4/sigv4.ts';
import { verifyPostPolicy } from '../../src/sigv4/post-policy.ts';
import { S3Error } from '../../src/server/errors.ts';
import { AKID, SECRET, lookup } from './helpers.ts';

const NOW = new Date('2015-12-29T12:00:00Z');
const CREDENTIAL = `${AKID}/20151229/us-east-1/s3/aws4_request`;

function form(policy: object, extra: Record<string, string> = {}, secret = SECRET): Record<string, string> {
  const b64 = Buffer.from(JSON.stringify(policy)).toString('base64');
  const sig = createHmac('sha256', deriveSigningKey(secret, '20151229', 'us-east-1', 's3'))
    .update(b64)
    .digest('hex');
  return {
    bucket: 'sigv4examplebucket',
    key: 'user/user1/photo.jpg',
    acl: 'public-read',
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': CREDENTIAL,
    'x-amz-date': '20151229T000000Z',
    policy: b64,
    'x-amz-signature': sig,
    ...extra,
  };
}

const basePolicy = {
  expiration: '2015-12-30T12:00:00.000Z',
  conditions: [
    { bucket: 'sigv4examplebucket' },
    ['starts-with', '$key', 'user/user1/'],
    { acl: 'public-read' },
    ['starts-with', '$Content-Type', 'image/'],
    ['content-length-range', 1, 1048576],
    { 'x-amz-meta-uuid': '14365123651274' },
    ['starts-with', '$x-amz-meta-tag', ''],
    { 'x-amz-credential': CREDENTIAL },
    { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
    { 'x-amz-date': '20151229T000000Z' },
  ],
};
const okFields = {
  'content-type': 'image/jpeg',
  'x-amz-meta-uuid': '14365123651274',
  'x-amz-meta-tag': 'anything',
  file: '',
  'x-ignore-me': '1',
};

function failure(fields: Record<string, string>, now = NOW): { code: string; message: string } {
  try {
    verifyPostPolicy(fields, lookup, 'us-east-1', now);
  } catch (e) {
    if (e instanceof S3Error) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: 'OK', message: '' };
}

describe('POST policy', () => {
  test('accepts a valid form and reports the length range', () => {
    const r = verifyPostPolicy(form(basePolicy, okFields), lookup, 'us-east-1', NOW);
    assert.deepEqual(r, { accessKeyId: AKID, region: 'us-east-1', contentLengthRange: [1, 1048576] });
  });

  test('signature, key id, expiry', () => {
    assert.equal(failure(form(basePolicy, okFields, 'other-secret')).code, 'SignatureDoesNotMatch');
    assert.equal(failure({ ...form(basePolicy, okFields), 'x-amz-signature': '0'.repeat(64) }).code, 'SignatureDoesNotMatch');
    assert.equal(
      failure(form(basePolicy, { ...okFields }), new Date('2015-12-30T12:00:01Z')).message,
      'Invalid according to Policy: Policy expired.',
    );
    const f = form(basePolicy, okFields);
    assert.equal(failure({ ...f, 'x-amz-credential': f['x-amz-credential']!.replace(AKID, 'AKIDUNKNOWN') }).code, 'InvalidAccessKeyId');
    // Editing the policy breaks the signature.
    const edited = {
      ...f,
      policy: Buffer.from(JSON.stringify({ ...basePolicy, expiration: '2016-12-30T12:00:00.000Z' })).toString('base64'),
    };
    assert.equal(failure(edited).code, 'SignatureDoesNotMatch');
  });

  test('conditions', () => {
    assert.deepEqual(failure(form(basePolicy, { ...okFields, key: 'user/user2/photo.jpg' })), {
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/user1/"]',
    });
    assert.deepEqual(failure(form(basePolicy, { ...okFields, acl: 'private' })), {
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Policy Condition failed: ["eq", "$acl", "public-read"]',
    });
    assert.equal(failure(form(basePolicy, { ...okFields, bucket: 'otherbucket' })).code, 'AccessDenied');
    assert.equal(failure(form(basePolicy, { ...okFields, 'content-type': 'text/plain' })).code, 'AccessDenied');
    assert.equal(failure(form(basePolicy, { ...okFields, 'content-type': 'image/png, image/gif' })).code, 'OK');
    assert.equal(failure(form(basePolicy, { ...okFields, 'content-type': 'image/png, text/html' })).code, 'AccessDenied');
    const { 'x-amz-meta-uuid': _, ...noUuid } = okFields;
    assert.equal(failure(form(basePolicy, noUuid)).code, 'AccessDenied');
  });

  test('extra fields are refused', () => {
    assert.deepEqual(failure(form(basePolicy, { ...okFields, 'x-amz-meta-other': '1', success_action_status: '201' })), {
      code: 'AccessDenied',
      message: 'Invalid according to Policy: Extra input fields: x-amz-meta-other, success_action_status',
    });
  });

  test('malformed input', () => {
    const f = form(basePolicy, okFields);
    const { policy: _, ...noPolicy } = f;
    assert.equal(failure(noPolicy).code, 'InvalidArgument');
    assert.equal(failure({ ...f, 'x-amz-algorithm': 'AWS4-HMAC-SHA1' }).code, 'InvalidArgument');
    assert.equal(failure({ ...f, 'x-amz-date': '20151230T000000Z' }).code, 'InvalidArgument');
    assert.equal(failure(form({ conditions: [] }, okFields)).code, 'InvalidPolicyDocument');
    assert.equal(
      failure(form({ expiration: '2015-12-30T12:00:00.000Z', conditions: [['matches', '$key', 'x']] }, okFields)).code,
      'InvalidPolicyDocument',
    );
  });
});
