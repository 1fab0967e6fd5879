// KeyManagementService.handle: every JSON 1.1 operation and its AWS errors, on a real key store.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, b64, REGION, ACCOUNT, type Fixture } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

async function newKey(body: unknown = {}): Promise<any> {
  return (await f.ok('CreateKey', body)).KeyMetadata;
}

describe('CreateKey / DescribeKey', () => {
  test('CreateKey returns AWS KeyMetadata', async () => {
    const before = Date.now() / 1000;
    const m = await newKey({ Description: 'orders', Tags: [{ TagKey: 'team', TagValue: 'db' }] });
    assert.match(m.KeyId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(m.Arn, `arn:aws:kms:${REGION}:${ACCOUNT}:key/${m.KeyId}`);
    assert.equal(m.AWSAccountId, ACCOUNT);
    assert.equal(m.Description, 'orders');
    assert.equal(m.Enabled, true);
    assert.equal(m.KeyState, 'Enabled');
    assert.equal(m.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.equal(m.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(m.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(m.Origin, 'AWS_KMS');
    assert.equal(m.KeyManager, 'CUSTOMER');
    assert.deepEqual(m.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.equal(typeof m.CreationDate, 'number');
    assert.ok(m.CreationDate >= before - 1 && m.CreationDate <= Date.now() / 1000 + 1);
    assert.equal(m.DeletionDate, undefined);
    const tags = await f.ok('ListResourceTags', { KeyId: m.KeyId });
    assert.deepEqual(tags.Tags, [{ TagKey: 'team', TagValue: 'db' }]);
  });

  test('CreateKey rejects what a symmetric-only KMS cannot do', async () => {
    await f.fails('CreateKey', { KeySpec: 'RSA_2048' }, 'UnsupportedOperationException');
    await f.fails('CreateKey', { KeySpec: 'AES_999' }, 'ValidationException', /Member must satisfy enum value set/);
    await f.fails('CreateKey', { KeyUsage: 'SIGN_VERIFY' }, 'ValidationException', /not compatible/);
    await f.fails('CreateKey', { Origin: 'EXTERNAL' }, 'UnsupportedOperationException');
    await f.fails('CreateKey', { Description: 'x'.repeat(8193) }, 'ValidationException', /length less than or equal to 8192/);
    await f.fails('CreateKey', { Tags: [{ TagKey: 'aws:x', TagValue: 'y' }] }, 'TagException');
  });

  test('DescribeKey accepts key id, key ARN, alias name and alias ARN', async () => {
    const m = await newKey();
    await f.ok('CreateAlias', { AliasName: 'alias/describe-me', TargetKeyId: m.KeyId });
    for (const id of [m.KeyId, m.Arn, 'alias/describe-me', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/describe-me`, m.KeyId.toUpperCase()]) {
      assert.equal((await f.ok('DescribeKey', { KeyId: id })).KeyMetadata.KeyId, m.KeyId, id);
    }
  });

  test('DescribeKey errors', async () => {
    const missing = '11111111-2222-3333-4444-555555555555';
    await f.fails(
      'DescribeKey',
      { KeyId: missing },
      'NotFoundException',
      new RegExp(`^Key 'arn:aws:kms:${REGION}:${ACCOUNT}:key/${missing}' does not exist$`),
    );
    await f.fails('DescribeKey', { KeyId: 'not-a-key' }, 'NotFoundException', /^Invalid keyId not-a-key$/);
    await f.fails(
      'DescribeKey',
      { KeyId: 'alias/nope' },
      'NotFoundException',
      new RegExp(`^Alias arn:aws:kms:${REGION}:${ACCOUNT}:alias/nope is not found.$`),
    );
    const m = await newKey();
    await f.fails('DescribeKey', { KeyId: m.Arn.replace(REGION, 'eu-west-1') }, 'NotFoundException');
    await f.fails('DescribeKey', {}, 'ValidationException', /Value null at 'keyId' failed to satisfy constraint: Member must not be null/);
    await f.fails('DescribeKey', { KeyId: 42 }, 'SerializationException');
  });

  test('UpdateKeyDescription, TagResource, UntagResource', async () => {
    const m = await newKey({ Description: 'a' });
    await f.ok('UpdateKeyDescription', { KeyId: m.KeyId, Description: 'b' });
    assert.equal((await f.ok('DescribeKey', { KeyId: m.KeyId })).KeyMetadata.Description, 'b');
    await f.ok('TagResource', {
      KeyId: m.KeyId,
      Tags: [
        { TagKey: 'k1', TagValue: 'v1' },
        { TagKey: 'k2', TagValue: 'v2' },
      ],
    });
    await f.ok('TagResource', { KeyId: m.KeyId, Tags: [{ TagKey: 'k1', TagValue: 'v1b' }] });
    await f.ok('UntagResource', { KeyId: m.KeyId, TagKeys: ['k2'] });
    assert.deepEqual((await f.ok('ListResourceTags', { KeyId: m.KeyId })).Tags, [{ TagKey: 'k1', TagValue: 'v1b' }]);
  });
});

describe('ListKeys', () => {
  test('pages with Limit / Marker / Truncated / NextMarker', async () => {
    for (let i = 0; i < 5; i++) await newKey();
    const all = (await f.ok('ListKeys', { Limit: 1000 })).Keys;
    assert.ok(all.length >= 5);
    for (const k of all) assert.equal(k.KeyArn, `arn:aws:kms:${REGION}:${ACCOUNT}:key/${k.KeyId}`);
    const seen: string[] = [];
    let marker: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const r = await f.ok('ListKeys', { Limit: 2, ...(marker ? { Marker: marker } : {}) });
      assert.ok(r.Keys.length <= 2);
      seen.push(...r.Keys.map((k: any) => k.KeyId));
      if (!r.Truncated) {
        assert.equal(r.NextMarker, undefined);
        break;
      }
      assert.equal(typeof r.NextMarker, 'string');
      marker = r.NextMarker;
    }
    assert.deepEqual(
      seen,
      all.map((k: any) => k.KeyId),
    );
    await f.fails('ListKeys', { Marker: '!!garbage!!' }, 'InvalidMarkerException');
    await f.fails('ListKeys', { Limit: 0 }, 'ValidationException', /greater than or equal to 1/);
    await f.fails('ListKeys', { Limit: 1001 }, 'ValidationException', /less than or equal to 1000/);
  });
});

describe('EnableKey / DisableKey', () => {
  test('a disabled key cannot encrypt or decrypt; enabling restores it', async () => {
    const m = await newKey();
    const blob = (await f.ok('Encrypt', { KeyId: m.KeyId, Plaintext: b64('hello') })).CiphertextBlob;
    await f.ok('DisableKey', { KeyId: m.Arn });
    const d = (await f.ok('DescribeKey', { KeyId: m.KeyId })).KeyMetadata;
    assert.equal(d.KeyState, 'Disabled');
    assert.equal(d.Enabled, false);
    await f.fails('Encrypt', { KeyId: m.KeyId, Plaintext: b64('x') }, 'DisabledException', new RegExp(`^${m.Arn} is disabled.$`));
    await f.fails('Decrypt', { CiphertextBlob: blob }, 'DisabledException');
    await f.fails('GenerateDataKey', { KeyId: m.KeyId, KeySpec: 'AES_256' }, 'DisabledException');
    await f.ok('EnableKey', { KeyId: m.KeyId });
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: blob })).Plaintext, b64('hello'));
  });

  test('EnableKey / DisableKey do not accept aliases', async () => {
    const m = await newKey();
    await f.ok('CreateAlias', { AliasName: 'alias/no-enable', TargetKeyId: m.KeyId });
    await f.fails('EnableKey', { KeyId: 'alias/no-enable' }, 'NotFoundException', /Invalid keyId/);
    await f.fails('DisableKey', { KeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/no-enable` }, 'NotFoundException', /Invalid keyId/);
    await f.fails('DisableKey', { KeyId: '11111111-2222-3333-4444-555555555555' }, 'NotFoundException', /does not exist/);
  });
});

describe('ScheduleKeyDeletion / CancelKeyDeletion', () => {
  test('window validation, pending state, cancel back to Disabled', async () => {
    const m = await newKey();
    await f.fails(
      'ScheduleKeyDeletion',
      { KeyId: m.KeyId, PendingWindowInDays: 6 },
      'ValidationException',
      /Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7/,
    );
    await f.fails('ScheduleKeyDeletion', { KeyId: m.KeyId, PendingWindowInDays: 31 }, 'ValidationException', /less than or equal to 30/);
    await f.fails('ScheduleKeyDeletion', { KeyId: 'alias/x' }, 'NotFoundException');
    const now = Date.now() / 1000;
    const r = await f.ok('ScheduleKeyDeletion', { KeyId: m.KeyId });
    assert.equal(r.KeyId, m.Arn);
    assert.equal(r.KeyState, 'PendingDeletion');
    assert.equal(r.PendingWindowInDays, 30);
    assert.ok(Math.abs(r.DeletionDate - (now + 30 * 86400)) < 60);
    const d = (await f.ok('DescribeKey', { KeyId: m.KeyId })).KeyMetadata;
    assert.equal(d.KeyState, 'PendingDeletion');
    assert.equal(d.Enabled, false);
    assert.equal(d.DeletionDate, r.DeletionDate);
    assert.equal(d.PendingDeletionWindowInDays, 30);
    const pending = new RegExp(`^${m.Arn} is pending deletion.$`);
    await f.fails('Encrypt', { KeyId: m.KeyId, Plaintext: b64('x') }, 'KMSInvalidStateException', pending);
    await f.fails('EnableKey', { KeyId: m.KeyId }, 'KMSInvalidStateException', pending);
    await f.fails('DisableKey', { KeyId: m.KeyId }, 'KMSInvalidStateException', pending);
    await f.fails('ScheduleKeyDeletion', { KeyId: m.KeyId }, 'KMSInvalidStateException', pending);
    await f.fails('CreateAlias', { AliasName: 'alias/to-pending', TargetKeyId: m.KeyId }, 'KMSInvalidStateException');
    await f.fails('GetKeyRotationStatus', { KeyId: m.KeyId }, 'KMSInvalidStateException');
    assert.deepEqual(await f.ok('CancelKeyDeletion', { KeyId: m.KeyId }), { KeyId: m.Arn });
    const c = (await f.ok('DescribeKey', { KeyId: m.KeyId })).KeyMetadata;
    assert.equal(c.KeyState, 'Disabled');
    assert.equal(c.DeletionDate, undefined);
    await f.fails('CancelKeyDeletion', { KeyId: m.KeyId }, 'KMSInvalidStateException', /is not pending deletion/);
  });
});

describe('Aliases', () => {
  test('CreateAlias / UpdateAlias / DeleteAlias / ListAliases', async () => {
    const k1 = await newKey();
    const k2 = await newKey();
    await f.ok('CreateAlias', { AliasName: 'alias/app', TargetKeyId: k1.Arn });
    await f.fails(
      'CreateAlias',
      { AliasName: 'alias/app', TargetKeyId: k2.KeyId },
      'AlreadyExistsException',
      new RegExp(`^An alias with the name arn:aws:kms:${REGION}:${ACCOUNT}:alias/app already exists$`),
    );
    const enc1 = await f.ok('Encrypt', { KeyId: 'alias/app', Plaintext: b64('one') });
    assert.equal(enc1.KeyId, k1.Arn);
    await f.ok('UpdateAlias', { AliasName: 'alias/app', TargetKeyId: k2.KeyId });
    const enc2 = await f.ok('Encrypt', { KeyId: 'alias/app', Plaintext: b64('two') });
    assert.equal(enc2.KeyId, k2.Arn);
    // The blob names its key: the old one still decrypts under k1.
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: enc1.CiphertextBlob })).KeyId, k1.Arn);

    const listed = await f.ok('ListAliases', { KeyId: k2.KeyId });
    assert.equal(listed.Truncated, false);
    assert.equal(listed.Aliases.length, 1);
    const a = listed.Aliases[0];
    assert.equal(a.AliasName, 'alias/app');
    assert.equal(a.AliasArn, `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app`);
    assert.equal(a.TargetKeyId, k2.KeyId);
    assert.equal(typeof a.CreationDate, 'number');
    assert.ok(a.LastUpdatedDate >= a.CreationDate);
    assert.equal((await f.ok('ListAliases', { KeyId: k1.KeyId })).Aliases.length, 0);
    await f.fails('ListAliases', { KeyId: 'alias/app' }, 'NotFoundException');

    await f.ok('DeleteAlias', { AliasName: 'alias/app' });
    await f.fails('DeleteAlias', { AliasName: 'alias/app' }, 'NotFoundException', /is not found/);
    await f.fails('Encrypt', { KeyId: 'alias/app', Plaintext: b64('x') }, 'NotFoundException');
    await f.fails('UpdateAlias', { AliasName: 'alias/app', TargetKeyId: k1.KeyId }, 'NotFoundException');
  });

  test('alias name and target validation', async () => {
    const k = await newKey();
    await f.fails(
      'CreateAlias',
      { AliasName: 'app', TargetKeyId: k.KeyId },
      'ValidationException',
      /Alias must start with the prefix "alias\/"/,
    );
    await f.fails('CreateAlias', { AliasName: 'alias/aws/s3', TargetKeyId: k.KeyId }, 'NotAuthorizedException');
    await f.fails('CreateAlias', { AliasName: 'alias/aws/mine', TargetKeyId: k.KeyId }, 'NotAuthorizedException');
    await f.fails(
      'CreateAlias',
      { AliasName: 'alias/has space', TargetKeyId: k.KeyId },
      'ValidationException',
      /regular expression pattern/,
    );
    await f.fails('CreateAlias', { AliasName: 'alias/a:b', TargetKeyId: k.KeyId }, 'InvalidAliasNameException');
    await f.fails('CreateAlias', { AliasName: 'alias/x', TargetKeyId: 'alias/y' }, 'ValidationException', /Aliases must refer to keys/);
    await f.fails('CreateAlias', { AliasName: 'alias/x', TargetKeyId: '11111111-2222-3333-4444-555555555555' }, 'NotFoundException');
    await f.fails('CreateAlias', { AliasName: 'alias/x' }, 'ValidationException', /'targetKeyId'/);
    await f.fails('DeleteAlias', { AliasName: 'alias/aws/s3' }, 'NotAuthorizedException');
  });

  test('ListAliases pages', async () => {
    const k = await newKey();
    for (let i = 0; i < 5; i++) await f.ok('CreateAlias', { AliasName: `alias/page-${i}`, TargetKeyId: k.KeyId });
    const names: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const r = await f.ok('ListAliases', { KeyId: k.Arn, Limit: 2, ...(marker ? { Marker: marker } : {}) });
      names.push(...r.Aliases.map((a: any) => a.AliasName));
      if (!r.Truncated) break;
      marker = r.NextMarker;
    }
    assert.deepEqual(
      names,
      [0, 1, 2, 3, 4].map((i) => `alias/page-${i}`),
    );
    await f.fails('ListAliases', { Limit: 101 }, 'ValidationException');
  });
});

describe('Encrypt / Decrypt / ReEncrypt', () => {
  test('round trip with encryption context; context must match exactly', async () => {
    const k = await newKey();
    const ctx = { bucket: 'b1', 'object key': 'a/b.txt' };
    const e = await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('secret data'), EncryptionContext: ctx });
    assert.equal(e.KeyId, k.Arn);
    assert.equal(e.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.ok(!Buffer.from(e.CiphertextBlob, 'base64').includes(Buffer.from('secret data')));
    // Order of the context's pairs does not matter.
    const d = await f.ok('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: { 'object key': 'a/b.txt', bucket: 'b1' } });
    assert.deepEqual(d, { KeyId: k.Arn, Plaintext: b64('secret data'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    await f.fails('Decrypt', { CiphertextBlob: e.CiphertextBlob }, 'InvalidCiphertextException');
    await f.fails(
      'Decrypt',
      { CiphertextBlob: e.CiphertextBlob, EncryptionContext: { bucket: 'b1', 'object key': 'a/B.txt' } },
      'InvalidCiphertextException',
    );
    await f.fails('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: { ...ctx, extra: '' } }, 'InvalidCiphertextException');
    // A context without pairs equals no context.
    const e0 = await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('p') });
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: e0.CiphertextBlob, EncryptionContext: {} })).Plaintext, b64('p'));
  });

  test('Decrypt with a KeyId: must be the blob key (IncorrectKeyException otherwise)', async () => {
    const k1 = await newKey();
    const k2 = await newKey();
    await f.ok('CreateAlias', { AliasName: 'alias/dec-k1', TargetKeyId: k1.KeyId });
    const e = await f.ok('Encrypt', { KeyId: k1.KeyId, Plaintext: b64('x') });
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: e.CiphertextBlob, KeyId: 'alias/dec-k1' })).Plaintext, b64('x'));
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: e.CiphertextBlob, KeyId: k1.Arn })).Plaintext, b64('x'));
    await f.fails('Decrypt', { CiphertextBlob: e.CiphertextBlob, KeyId: k2.KeyId }, 'IncorrectKeyException');
    await f.fails('Decrypt', { CiphertextBlob: e.CiphertextBlob, KeyId: '11111111-2222-3333-4444-555555555555' }, 'NotFoundException');
  });

  test('tampered or foreign blobs are InvalidCiphertextException', async () => {
    const k = await newKey();
    const blob = Buffer.from((await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('tamper me') })).CiphertextBlob, 'base64');
    for (const i of [2, 19, 22, 30, blob.length - 1]) {
      const t = Buffer.from(blob);
      t[i]! ^= 1;
      const r = await f.call('Decrypt', { CiphertextBlob: t.toString('base64') });
      assert.equal(r.status, 400);
      // Flipping a byte of the key id names another (absent) key: NotFoundException, as AWS for unknown keys.
      assert.ok(['InvalidCiphertextException', 'NotFoundException'].includes(r.body.__type), `byte ${i}: ${r.body.__type}`);
    }
    await f.fails('Decrypt', { CiphertextBlob: b64('not a kms blob at all, just some bytes here') }, 'InvalidCiphertextException');
    await f.fails('Decrypt', { CiphertextBlob: b64(blob.subarray(0, 40)) }, 'InvalidCiphertextException');
    await f.fails('Decrypt', { CiphertextBlob: '***' }, 'SerializationException');
    await f.fails('Decrypt', {}, 'ValidationException', /'ciphertextBlob'/);
  });

  test('plaintext size limits and algorithm', async () => {
    const k = await newKey();
    const max = Buffer.alloc(4096, 7);
    const e = await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: max.toString('base64') });
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: e.CiphertextBlob })).Plaintext, max.toString('base64'));
    await f.fails(
      'Encrypt',
      { KeyId: k.KeyId, Plaintext: Buffer.alloc(4097).toString('base64') },
      'ValidationException',
      /at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096/,
    );
    await f.fails('Encrypt', { KeyId: k.KeyId, Plaintext: '' }, 'ValidationException', /greater than or equal to 1/);
    await f.fails(
      'Encrypt',
      { KeyId: k.KeyId, Plaintext: b64('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' },
      'InvalidKeyUsageException',
    );
    await f.fails('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x'), EncryptionAlgorithm: 'ROT13' }, 'ValidationException');
    await f.fails('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x'), EncryptionContext: { a: 1 } }, 'SerializationException');
    await f.fails('Encrypt', { Plaintext: b64('x') }, 'ValidationException', /'keyId'/);
  });

  test('ReEncrypt moves a blob to another key and context', async () => {
    const k1 = await newKey();
    const k2 = await newKey();
    const e = await f.ok('Encrypt', { KeyId: k1.KeyId, Plaintext: b64('move me'), EncryptionContext: { a: '1' } });
    await f.fails('ReEncrypt', { CiphertextBlob: e.CiphertextBlob, DestinationKeyId: k2.KeyId }, 'InvalidCiphertextException');
    await f.fails(
      'ReEncrypt',
      { CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: '1' }, SourceKeyId: k2.KeyId, DestinationKeyId: k2.KeyId },
      'IncorrectKeyException',
    );
    const r = await f.ok('ReEncrypt', {
      CiphertextBlob: e.CiphertextBlob,
      SourceEncryptionContext: { a: '1' },
      DestinationKeyId: k2.Arn,
      DestinationEncryptionContext: { b: '2' },
    });
    assert.equal(r.SourceKeyId, k1.Arn);
    assert.equal(r.KeyId, k2.Arn);
    assert.equal(r.SourceEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.equal(r.DestinationEncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const d = await f.ok('Decrypt', { CiphertextBlob: r.CiphertextBlob, EncryptionContext: { b: '2' } });
    assert.equal(d.KeyId, k2.Arn);
    assert.equal(d.Plaintext, b64('move me'));
    await f.ok('DisableKey', { KeyId: k2.KeyId });
    await f.fails(
      'ReEncrypt',
      { CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: '1' }, DestinationKeyId: k2.KeyId },
      'DisabledException',
    );
    await f.fails(
      'ReEncrypt',
      { CiphertextBlob: e.CiphertextBlob, SourceEncryptionContext: { a: '1' } },
      'ValidationException',
      /'destinationKeyId'/,
    );
  });
});

describe('GenerateDataKey / GenerateDataKeyWithoutPlaintext / GenerateRandom', () => {
  test('data keys of every size decrypt back to their plaintext', async () => {
    const k = await newKey();
    for (const [req, len] of [
      [{ KeySpec: 'AES_256' }, 32],
      [{ KeySpec: 'AES_128' }, 16],
      [{ NumberOfBytes: 1 }, 1],
      [{ NumberOfBytes: 1024 }, 1024],
    ] as const) {
      const r = await f.ok('GenerateDataKey', { KeyId: k.KeyId, EncryptionContext: { purpose: 'test' }, ...req });
      assert.equal(r.KeyId, k.Arn);
      assert.equal(Buffer.from(r.Plaintext, 'base64').length, len);
      const d = await f.ok('Decrypt', { CiphertextBlob: r.CiphertextBlob, EncryptionContext: { purpose: 'test' } });
      assert.equal(d.Plaintext, r.Plaintext);
    }
    const a = await f.ok('GenerateDataKey', { KeyId: k.KeyId, KeySpec: 'AES_256' });
    const b = await f.ok('GenerateDataKey', { KeyId: k.KeyId, KeySpec: 'AES_256' });
    assert.notEqual(a.Plaintext, b.Plaintext);
  });

  test('GenerateDataKeyWithoutPlaintext', async () => {
    const k = await newKey();
    const r = await f.ok('GenerateDataKeyWithoutPlaintext', { KeyId: k.KeyId, KeySpec: 'AES_256' });
    assert.equal(r.Plaintext, undefined);
    assert.equal(r.KeyId, k.Arn);
    assert.equal(Buffer.from((await f.ok('Decrypt', { CiphertextBlob: r.CiphertextBlob })).Plaintext, 'base64').length, 32);
  });

  test('data key parameter errors', async () => {
    const k = await newKey();
    await f.fails('GenerateDataKey', { KeyId: k.KeyId }, 'ValidationException', /either number of bytes or key spec/);
    await f.fails('GenerateDataKey', { KeyId: k.KeyId, KeySpec: 'AES_256', NumberOfBytes: 32 }, 'ValidationException');
    await f.fails(
      'GenerateDataKey',
      { KeyId: k.KeyId, NumberOfBytes: 1025 },
      'ValidationException',
      /Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024/,
    );
    await f.fails('GenerateDataKey', { KeyId: k.KeyId, NumberOfBytes: 0 }, 'ValidationException');
    await f.fails('GenerateDataKey', { KeyId: k.KeyId, KeySpec: 'AES_512' }, 'ValidationException', /enum value set: \[AES_256, AES_128\]/);
    await f.fails('GenerateDataKeyWithoutPlaintext', { KeyId: 'alias/none', KeySpec: 'AES_256' }, 'NotFoundException');
  });

  test('GenerateRandom', async () => {
    const r = await f.ok('GenerateRandom', { NumberOfBytes: 1024 });
    assert.equal(Buffer.from(r.Plaintext, 'base64').length, 1024);
    assert.notEqual(r.Plaintext, (await f.ok('GenerateRandom', { NumberOfBytes: 1024 })).Plaintext);
    await f.fails('GenerateRandom', { NumberOfBytes: 1025 }, 'ValidationException', /less than or equal to 1024/);
    await f.fails('GenerateRandom', { NumberOfBytes: 0 }, 'ValidationException', /greater than or equal to 1/);
  });
});

describe('protocol', () => {
  test('unknown operations and malformed bodies', async () => {
    const r = await f.kms.handle('TrentService.MakeCoffee', {}, { accessKeyId: 'x' });
    assert.equal(r.status, 400);
    assert.equal((r.body as any).__type, 'UnknownOperationException');
    assert.equal(((await f.kms.handle('Other.CreateKey', {}, { accessKeyId: 'x' })).body as any).__type, 'UnknownOperationException');
    assert.equal(
      ((await f.kms.handle('TrentService.constructor', {}, { accessKeyId: 'x' })).body as any).__type,
      'UnknownOperationException',
    );
    const bad = await f.kms.handle('TrentService.ListKeys', Buffer.from('{not json'), { accessKeyId: 'x' });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as any).__type, 'SerializationException');
    const str = await f.kms.handle('TrentService.ListKeys', '{"Limit": 1}', { accessKeyId: 'x' });
    assert.equal(str.status, 200);
    assert.ok((str.body as any).Keys.length <= 1);
  });
});
