// SSE-KMS key handling against a real KMS on a temp dir: data keys, the bucket-key / SSE-S3 caches and
// their KMS call counts (from the audit log), key state changes, contexts, S3's KMS.* errors.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fixture, CALLER, type Fixture } from '../kms/helpers.ts';
import { KmsKeyCache, KmsServerKeys, SSE_S3_KEY_ALIAS } from '../../src/sse/kms-keys.ts';
import {
  bucketKeyContext,
  newSseKms,
  objectKmsContext,
  openSseKms,
  parseContextHeader,
  parseBucketKeyHeader,
  sseKmsResponseHeaders,
} from '../../src/sse/sse-kms.ts';
import { S3Error } from '../../src/server/errors.ts';
import { RootKeyProvider } from '../../src/sse/sse-s3.ts';

async function audit(
  f: Fixture,
): Promise<{ operation: string; keyId?: string; result: string; accessKeyId: string; encryptionContext?: Record<string, string> }[]> {
  return (await readFile(f.opts.auditLogPath, 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function rejectsS3(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3Error, String(e));
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');

describe('SSE-KMS keys over the real KMS', () => {
  let f: Fixture;
  let keys: KmsKeyCache;
  let keyId: string;
  let keyArn: string;
  before(async () => {
    f = await fixture();
    keys = new KmsKeyCache(f.kms);
    const m = (await f.ok('CreateKey', {})).KeyMetadata;
    keyId = m.KeyId;
    keyArn = m.Arn;
    await f.ok('CreateAlias', { AliasName: 'alias/app', TargetKeyId: keyId });
  });
  after(async () => {
    keys?.clear();
    await f?.cleanup();
  });

  test('round trip by key id, alias and ARN; the default key alias/aws/s3 is created on first use', async () => {
    for (const id of [keyId, 'alias/app', keyArn, 'arn:aws:kms:us-east-1:000000000000:alias/app', undefined]) {
      const w = await newSseKms(keys, { keyId: id, bucketKey: false }, 'b', 'k', CALLER);
      if (id !== undefined) assert.equal(w.record.keyArn, keyArn);
      assert.deepEqual(w.record.context, { 'aws:s3:arn': 'arn:aws:s3:::b/k' });
      const kek = await openSseKms(keys, w.record, 'b', 'k', CALLER);
      assert.ok(kek.equals(w.kek));
      // Another object path gives another KEK from the same data key.
      assert.ok(!(await openSseKms(keys, w.record, 'b', 'other', CALLER)).equals(w.kek));
    }
    const aliases = (await f.ok('ListAliases', {})).Aliases.map((a: { AliasName: string }) => a.AliasName);
    assert.ok(aliases.includes('alias/aws/s3'));
    const d = await newSseKms(keys, { bucketKey: false }, 'b', 'k', CALLER);
    const described = (await f.ok('DescribeKey', { KeyId: 'alias/aws/s3' })).KeyMetadata;
    assert.equal(d.record.keyArn, described.Arn);
    assert.equal(described.KeyManager, 'AWS');
  });

  test('contexts: client context merged with the object ARN; bad headers are InvalidArgument', async () => {
    const w = await newSseKms(keys, { keyId, context: b64({ dept: 'x' }), bucketKey: false }, 'b', 'k', CALLER);
    assert.deepEqual(w.record.context, { dept: 'x', 'aws:s3:arn': 'arn:aws:s3:::b/k' });
    const h = sseKmsResponseHeaders(w.record, true);
    assert.deepEqual(JSON.parse(Buffer.from(h['x-amz-server-side-encryption-context']!, 'base64').toString()), {
      'aws:s3:arn': 'arn:aws:s3:::b/k',
      dept: 'x',
    });
    assert.equal(h['x-amz-server-side-encryption-aws-kms-key-id'], keyArn);
    assert.equal(sseKmsResponseHeaders(w.record, false)['x-amz-server-side-encryption-context'], undefined);
    // The blob is bound to its context: another context does not open it (KMS says InvalidCiphertext).
    await assert.rejects(f.kms.decrypt(Buffer.from(w.record.blob, 'base64'), { 'aws:s3:arn': 'arn:aws:s3:::b/k' }, CALLER), {
      type: 'InvalidCiphertextException',
    });
    await rejectsS3(openSseKms(keys, { ...w.record, context: { 'aws:s3:arn': 'arn:aws:s3:::b/k' } }, 'b', 'k', CALLER), 'InternalError');
    for (const bad of ['not base64!', b64([1]), b64({ a: 1 }), Buffer.from('{').toString('base64'), b64('s')]) {
      assert.throws(
        () => parseContextHeader(bad),
        (e: unknown) => e instanceof S3Error && e.code === 'InvalidArgument' && /string-string map/.test(e.message),
      );
    }
    assert.deepEqual(parseContextHeader(b64({})), {});
    assert.throws(() => objectKmsContext('b', 'k', { 'aws:s3:arn': 'arn:aws:s3:::b/other' }), /object ARN/);
    assert.deepEqual(bucketKeyContext({ a: '1', 'aws:s3:arn': 'arn:aws:s3:::b/k' }, 'b'), { a: '1', 'aws:s3:arn': 'arn:aws:s3:::b' });
    assert.equal(parseBucketKeyHeader('TRUE'), true);
    assert.throws(() => parseBucketKeyHeader('yes'), /true or false/);
  });

  test('bucket keys: many objects, one GenerateDataKey; reads need no Decrypt; audit log proves it', async () => {
    const before = (await audit(f)).length;
    const records = [];
    for (let i = 0; i < 50; i++) records.push(await newSseKms(keys, { keyId: 'alias/app', bucketKey: true }, 'bk', `o${i}`, CALLER));
    for (const [i, w] of records.entries()) {
      assert.equal(w.record.bucketKey, true);
      assert.deepEqual(w.record.context, { 'aws:s3:arn': `arn:aws:s3:::bk/o${i}` });
      assert.ok((await openSseKms(keys, w.record, 'bk', `o${i}`, CALLER)).equals(w.kek));
    }
    const calls = (await audit(f)).slice(before);
    assert.deepEqual(
      calls.map((c) => c.operation),
      ['GenerateDataKey'],
    );
    assert.deepEqual(calls[0]!.encryptionContext, { 'aws:s3:arn': 'arn:aws:s3:::bk' });
    assert.equal(calls[0]!.accessKeyId, CALLER.accessKeyId);
    assert.equal(calls[0]!.keyId, keyArn);
    // Without bucket keys: one GenerateDataKey per object and one Decrypt per read.
    const n0 = (await audit(f)).length;
    for (let i = 0; i < 3; i++) {
      const w = await newSseKms(keys, { keyId, bucketKey: false }, 'nbk', `o${i}`, CALLER);
      await openSseKms(keys, w.record, 'nbk', `o${i}`, CALLER);
    }
    assert.deepEqual(
      (await audit(f)).slice(n0).map((c) => c.operation),
      ['GenerateDataKey', 'Decrypt', 'GenerateDataKey', 'Decrypt', 'GenerateDataKey', 'Decrypt'],
    );

    // A fresh cache (a restarted server) opens a bucket-key object with one Decrypt, then none.
    const cold = new KmsKeyCache(f.kms);
    const n1 = (await audit(f)).length;
    for (const [i, w] of records.entries()) await openSseKms(cold, w.record, 'bk', `o${i}`, CALLER);
    assert.deepEqual(
      (await audit(f)).slice(n1).map((c) => c.operation),
      ['Decrypt'],
    );
  });

  test('a disabled key stops cached bucket keys at once; enabling it again restores them', async () => {
    const w = await newSseKms(keys, { keyId, bucketKey: true }, 'dis', 'o', CALLER);
    await f.ok('DisableKey', { KeyId: keyId });
    await rejectsS3(newSseKms(keys, { keyId, bucketKey: true }, 'dis', 'o2', CALLER), 'KMS.DisabledException', /is disabled/);
    await rejectsS3(openSseKms(keys, w.record, 'dis', 'o', CALLER), 'KMS.DisabledException', /is disabled/);
    await f.ok('EnableKey', { KeyId: keyId });
    assert.ok((await openSseKms(keys, w.record, 'dis', 'o', CALLER)).equals(w.kek));
    await rejectsS3(newSseKms(keys, { keyId: 'alias/nope', bucketKey: false }, 'b', 'k', CALLER), 'KMS.NotFoundException');
    await rejectsS3(
      newSseKms(keys, { keyId: '11111111-2222-3333-4444-555555555555', bucketKey: true }, 'b', 'k', CALLER),
      'KMS.NotFoundException',
    );
  });

  test('pending deletion and deletion: KMS.KMSInvalidStateException, then KMS.NotFoundException', async () => {
    const m = (await f.ok('CreateKey', {})).KeyMetadata;
    const w = await newSseKms(keys, { keyId: m.KeyId, bucketKey: true }, 'del', 'o', CALLER);
    await f.ok('ScheduleKeyDeletion', { KeyId: m.KeyId, PendingWindowInDays: 7 });
    await rejectsS3(openSseKms(keys, w.record, 'del', 'o', CALLER), 'KMS.KMSInvalidStateException', /pending deletion/);
    f.advanceDays(8);
    await rejectsS3(openSseKms(keys, w.record, 'del', 'o', CALLER), 'KMS.NotFoundException', /does not exist/);
  });

  test('SSE-S3 secrets come from a managed KMS key, one data key for many objects', async () => {
    const s3keys = new KmsServerKeys(new KmsKeyCache(f.kms));
    const n0 = (await audit(f)).length;
    const a = await s3keys.newSecret();
    const b = await s3keys.newSecret();
    assert.ok(a.ref.provider === 'kms' && b.ref.provider === 'kms');
    assert.equal(a.ref.blob, b.ref.blob);
    assert.ok((await s3keys.openSecret(a.ref, 'b/k')).equals(a.secret));
    const ops = (await audit(f)).slice(n0).map((c) => c.operation);
    assert.deepEqual(ops, ['CreateKey', 'GenerateDataKey']);
    const m = (await f.ok('DescribeKey', { KeyId: SSE_S3_KEY_ALIAS })).KeyMetadata;
    assert.equal(m.KeyManager, 'AWS');
    assert.equal(a.ref.keyArn, m.Arn);
    // Objects written under the root-key master key (before the KMS held SSE-S3's key) stay readable.
    const root = new RootKeyProvider(Buffer.alloc(32, 7));
    const legacy = await root.newSecret();
    assert.ok((await new KmsServerKeys(new KmsKeyCache(f.kms), root).openSecret(legacy.ref, 'b/k')).equals(legacy.secret));
    await assert.rejects(s3keys.openSecret(legacy.ref, 'b/k'), /not available/);
    await f.fails('DisableKey', { KeyId: m.KeyId }, 'AccessDeniedException');
    // A restarted server opens old refs.
    assert.ok((await new KmsServerKeys(new KmsKeyCache(f.kms)).openSecret(a.ref, 'b/k')).equals(a.secret));
  });
});
