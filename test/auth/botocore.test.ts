// Cross-check with another implementation: requests signed by botocore (Debian's python3-boto3).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { authenticate, type SignedRequest } from '../../src/sigv4/sigv4.ts';
import { createPayloadDecoder } from '../../src/sigv4/payload.ts';
import { verifyPostPolicy } from '../../src/sigv4/post-policy.ts';
import { S3Error } from '../../src/server/errors.ts';
import { AKID, SECRET, S3_SCOPE, lookup } from './helpers.ts';

const SCRIPT = fileURLToPath(new URL('./fixtures/botocore-sign.py', import.meta.url));
const HOST = '127.0.0.1:9000';

interface Signed {
  header: SignedRequest & { body: string };
  presigned: string;
  post: { url: string; fields: Record<string, string> };
}

describe('botocore-signed requests', () => {
  let signed: Signed;
  before(() => {
    const r = spawnSync('/usr/bin/python3', [SCRIPT, AKID, SECRET, `http://${HOST}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    signed = JSON.parse(r.stdout) as Signed;
  });

  test('header auth with a signed payload', async () => {
    const { body, ...wire } = signed.header;
    const req: SignedRequest = { ...wire, headers: { ...wire.headers, host: HOST } };
    const auth = authenticate(req, lookup, S3_SCOPE);
    assert.equal(auth.payload, 'signed');
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([Buffer.from(body)]),
      createPayloadDecoder(auth, req.headers),
      async function (src: AsyncIterable<Buffer>) {
        for await (const c of src) out.push(c);
      },
    );
    assert.equal(Buffer.concat(out).toString(), body);
    assert.throws(
      () => authenticate({ ...req, rawQuery: req.rawQuery.replace('partNumber=2', 'partNumber=3') }, lookup, S3_SCOPE),
      (e: S3Error) => e.code === 'SignatureDoesNotMatch',
    );
  });

  test('presigned URL', () => {
    const url = new URL(signed.presigned);
    const req: SignedRequest = { method: 'GET', rawPath: url.pathname, rawQuery: url.search.slice(1), headers: { host: url.host } };
    assert.equal(authenticate(req, lookup, S3_SCOPE).presigned, true);
    assert.throws(
      () => authenticate({ ...req, rawPath: url.pathname.replace('%2Bc', '%2Bd') }, lookup, S3_SCOPE),
      (e: S3Error) => e.code === 'SignatureDoesNotMatch',
    );
  });

  test('presigned POST policy', () => {
    const fields: Record<string, string> = { bucket: 'bkt' };
    for (const [k, v] of Object.entries(signed.post.fields)) fields[k.toLowerCase()] = v;
    fields['key'] = fields['key']!.replace('${filename}', 'photo.png');
    assert.deepEqual(verifyPostPolicy(fields, lookup, 'us-east-1'), {
      accessKeyId: AKID,
      region: 'us-east-1',
      contentLengthRange: [1, 1000],
    });
    assert.throws(
      () => verifyPostPolicy({ ...fields, key: 'elsewhere/photo.png' }, lookup, 'us-east-1'),
      (e: S3Error) => e.code === 'AccessDenied',
    );
    assert.throws(
      () => verifyPostPolicy({ ...fields, 'content-type': 'text/html' }, lookup, 'us-east-1'),
      (e: S3Error) => e.code === 'AccessDenied',
    );
  });
});
