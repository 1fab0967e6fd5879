// Key lifecycle: rotation (old blobs still decrypt), scheduled deletion and crypto-shredding
// (with the clock moved past the window), persistence across re-opening, the root-key check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { KeyManagementService } from '../../src/kms/index.ts';
import { fixture, b64 } from './helpers.ts';

test('rotation: on demand and automatic; every older blob still decrypts', async () => {
  const f = await fixture();
  try {
    const k = (await f.ok('CreateKey')).KeyMetadata;
    const blobs: string[] = [(await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('v1') })).CiphertextBlob];
    assert.deepEqual(await f.ok('GetKeyRotationStatus', { KeyId: k.KeyId }), { KeyRotationEnabled: false, KeyId: k.Arn });

    assert.deepEqual(await f.ok('RotateKeyOnDemand', { KeyId: k.Arn }), { KeyId: k.KeyId });
    blobs.push((await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('v2') })).CiphertextBlob);
    // A new version encrypts differently: the blob header names version 2.
    assert.equal(Buffer.from(blobs[1]!, 'base64').readUInt32BE(19), 2);

    await f.fails('EnableKeyRotation', { KeyId: k.KeyId, RotationPeriodInDays: 89 }, 'ValidationException', /greater than or equal to 90/);
    await f.fails('EnableKeyRotation', { KeyId: k.KeyId, RotationPeriodInDays: 2561 }, 'ValidationException');
    await f.fails('EnableKeyRotation', { KeyId: 'alias/x' }, 'NotFoundException');
    await f.ok('EnableKeyRotation', { KeyId: k.KeyId, RotationPeriodInDays: 90 });
    const st = await f.ok('GetKeyRotationStatus', { KeyId: k.KeyId });
    assert.equal(st.KeyRotationEnabled, true);
    assert.equal(st.RotationPeriodInDays, 90);
    assert.ok(Math.abs(st.NextRotationDate - (Date.now() / 1000 + 90 * 86400)) < 60);

    f.advanceDays(91); // the next request performs the due rotation
    blobs.push((await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('v3') })).CiphertextBlob);
    assert.equal(Buffer.from(blobs[2]!, 'base64').readUInt32BE(19), 3);
    const rot = await f.ok('ListKeyRotations', { KeyId: k.KeyId });
    assert.deepEqual(
      rot.Rotations.map((r: any) => r.RotationType),
      ['ON_DEMAND', 'AUTOMATIC'],
    );
    assert.equal(rot.Truncated, false);
    for (const r of rot.Rotations) assert.equal(r.KeyId, k.KeyId);
    const page = await f.ok('ListKeyRotations', { KeyId: k.KeyId, Limit: 1 });
    assert.equal(page.Truncated, true);
    assert.equal((await f.ok('ListKeyRotations', { KeyId: k.KeyId, Marker: page.NextMarker })).Rotations[0].RotationType, 'AUTOMATIC');

    for (const [i, blob] of blobs.entries()) {
      assert.equal((await f.ok('Decrypt', { CiphertextBlob: blob })).Plaintext, b64(`v${i + 1}`));
    }

    await f.ok('DisableKeyRotation', { KeyId: k.KeyId });
    assert.equal((await f.ok('GetKeyRotationStatus', { KeyId: k.KeyId })).KeyRotationEnabled, false);
    f.advanceDays(400);
    await f.ok('DescribeKey', { KeyId: k.KeyId });
    assert.equal((await f.ok('ListKeyRotations', { KeyId: k.KeyId })).Rotations.length, 2, 'no rotation once disabled');

    await f.ok('DisableKey', { KeyId: k.KeyId });
    await f.fails('RotateKeyOnDemand', { KeyId: k.KeyId }, 'DisabledException');
    await f.fails('EnableKeyRotation', { KeyId: k.KeyId }, 'DisabledException');
    assert.equal((await f.ok('GetKeyRotationStatus', { KeyId: k.KeyId })).KeyRotationEnabled, false);
    await f.ok('EnableKey', { KeyId: k.KeyId });
    for (let i = 0; i < 9; i++) await f.ok('RotateKeyOnDemand', { KeyId: k.KeyId });
    await f.fails('RotateKeyOnDemand', { KeyId: k.KeyId }, 'LimitExceededException');
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: blobs[0] })).Plaintext, b64('v1'));
  } finally {
    await f.cleanup();
  }
});

test('scheduled deletion: usable never, shredded after the window (blobs never decrypt again)', async () => {
  const f = await fixture();
  try {
    const k = (await f.ok('CreateKey')).KeyMetadata;
    const keep = (await f.ok('CreateKey')).KeyMetadata;
    await f.ok('CreateAlias', { AliasName: 'alias/doomed', TargetKeyId: k.KeyId });
    const blob = (await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('gone soon'), EncryptionContext: { c: '1' } })).CiphertextBlob;
    const keptBlob = (await f.ok('Encrypt', { KeyId: keep.KeyId, Plaintext: b64('stays') })).CiphertextBlob;
    await f.ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 7 });
    assert.ok(await f.storedKey(k.KeyId));

    f.advanceDays(6.9);
    await f.fails('Decrypt', { CiphertextBlob: blob, EncryptionContext: { c: '1' } }, 'KMSInvalidStateException', /pending deletion/);
    assert.equal((await f.ok('DescribeKey', { KeyId: k.KeyId })).KeyMetadata.KeyState, 'PendingDeletion');

    f.advanceDays(0.2);
    const notFound = new RegExp(`^Key '${k.Arn}' does not exist$`);
    await f.fails('DescribeKey', { KeyId: k.KeyId }, 'NotFoundException', notFound);
    await f.fails('Decrypt', { CiphertextBlob: blob, EncryptionContext: { c: '1' } }, 'NotFoundException', notFound);
    await f.fails('CancelKeyDeletion', { KeyId: k.KeyId }, 'NotFoundException');
    await f.fails('Encrypt', { KeyId: 'alias/doomed', Plaintext: b64('x') }, 'NotFoundException', /alias\/doomed is not found/);
    assert.ok(!(await f.ok('ListKeys')).Keys.some((x: any) => x.KeyId === k.KeyId));
    assert.equal((await f.ok('ListAliases')).Aliases.filter((a: any) => a.AliasName === 'alias/doomed').length, 0);
    // The key's row (the only copy of its sealed material) and its aliases' rows are gone.
    assert.equal(await f.storedKey(k.KeyId), undefined);
    assert.ok(!Object.values(await f.storedAliases()).some((a) => a.targetKeyId === k.KeyId));
    // Other keys are untouched, also after re-opening.
    await f.reopen();
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: keptBlob })).Plaintext, b64('stays'));
    await f.fails('Decrypt', { CiphertextBlob: blob, EncryptionContext: { c: '1' } }, 'NotFoundException');
    const audit = (await readFile(f.opts.auditLogPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(audit.some((e) => e.operation === 'DeleteKey' && e.keyId === k.Arn && e.result === 'success'));
  } finally {
    await f.cleanup();
  }
});

test('background maintenance shreds an expired key without any request', async () => {
  const f = await fixture();
  let offset = 0;
  const opts = { ...f.opts, now: () => new Date(Date.now() + offset), maintenanceIntervalMs: 50 };
  await f.kms.close();
  f.kms = await KeyManagementService.open(opts);
  try {
    const k = (await f.ok('CreateKey')).KeyMetadata;
    await f.ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 7 });
    offset = 8 * 86_400_000;
    for (let i = 0; i < 100; i++) {
      if (!(await f.storedKey(k.KeyId))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await f.storedKey(k.KeyId), undefined);
  } finally {
    await f.cleanup();
  }
});

test('persistence: keys, states, aliases, rotation survive re-opening; the audit log is 0600', async () => {
  const f = await fixture();
  try {
    const k = (await f.ok('CreateKey', { Description: 'persist', Tags: [{ TagKey: 't', TagValue: 'v' }] })).KeyMetadata;
    const d = (await f.ok('CreateKey')).KeyMetadata;
    await f.ok('CreateAlias', { AliasName: 'alias/persist', TargetKeyId: k.KeyId });
    const before = (await f.ok('Encrypt', { KeyId: 'alias/persist', Plaintext: b64('before rotation'), EncryptionContext: { x: 'y' } }))
      .CiphertextBlob;
    await f.ok('RotateKeyOnDemand', { KeyId: k.KeyId });
    await f.ok('EnableKeyRotation', { KeyId: k.KeyId, RotationPeriodInDays: 180 });
    await f.ok('DisableKey', { KeyId: d.KeyId });
    const after = (await f.ok('Encrypt', { KeyId: 'alias/persist', Plaintext: b64('after rotation') })).CiphertextBlob;

    await f.reopen();
    const m = (await f.ok('DescribeKey', { KeyId: 'alias/persist' })).KeyMetadata;
    assert.deepEqual(m, k);
    assert.equal((await f.ok('DescribeKey', { KeyId: d.KeyId })).KeyMetadata.KeyState, 'Disabled');
    assert.equal((await f.ok('GetKeyRotationStatus', { KeyId: k.KeyId })).RotationPeriodInDays, 180);
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: before, EncryptionContext: { x: 'y' } })).Plaintext, b64('before rotation'));
    assert.equal((await f.ok('Decrypt', { CiphertextBlob: after })).Plaintext, b64('after rotation'));
    assert.deepEqual((await f.ok('ListResourceTags', { KeyId: k.KeyId })).Tags, [{ TagKey: 't', TagValue: 'v' }]);

    assert.equal((await stat(f.opts.auditLogPath)).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(await f.storedAliases()), ['alias/persist']);
    assert.equal((await f.storedKey(k.KeyId))?.versions.length, 2);

    // Another root key cannot open the store.
    await f.kms.close();
    await assert.rejects(KeyManagementService.open({ ...f.opts, rootKey: randomBytes(32) }), /root key/);
    f.kms = await KeyManagementService.open(f.opts);
  } finally {
    await f.cleanup();
  }
});
