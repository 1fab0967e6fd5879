// Audit log contents, no key material anywhere on disk, and the in-process API used by SSE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KmsError } from '../../src/kms/index.ts';
import { SEALED_KEY_OVERHEAD } from '../../src/crypto/index.ts';
import { fixture, b64, CALLER, REGION, ACCOUNT } from './helpers.ts';

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

function forms(secret: Buffer): Buffer[] {
  return [
    secret,
    Buffer.from(secret.toString('hex')),
    Buffer.from(secret.toString('hex').toUpperCase()),
    Buffer.from(secret.toString('base64')),
    Buffer.from(secret.toString('base64url')),
  ];
}

test('audit log: one JSON line per request with caller, operation, key, context, result', async () => {
  const f = await fixture();
  try {
    const k = (await f.ok('CreateKey')).KeyMetadata;
    await f.ok('CreateAlias', { AliasName: 'alias/audited', TargetKeyId: k.KeyId });
    const e = await f.ok('Encrypt', {
      KeyId: 'alias/audited',
      Plaintext: b64('PLAINTEXT-MARKER-123'),
      EncryptionContext: { tenant: 'acme' },
    });
    await f.fails('Decrypt', { CiphertextBlob: e.CiphertextBlob, EncryptionContext: { tenant: 'evil' } }, 'InvalidCiphertextException');
    await f.fails('DescribeKey', { KeyId: 'alias/missing' }, 'NotFoundException');
    const lines = (await readFile(f.opts.auditLogPath, 'utf8')).trim().split('\n');
    const entries = lines.map((l) => JSON.parse(l));
    assert.equal(entries.length, 5);
    for (const en of entries) {
      assert.equal(en.accessKeyId, CALLER.accessKeyId);
      assert.ok(!Number.isNaN(Date.parse(en.time)));
    }
    assert.deepEqual(
      entries.map((x) => [x.operation, x.result]),
      [
        ['CreateKey', 'success'],
        ['CreateAlias', 'success'],
        ['Encrypt', 'success'],
        ['Decrypt', 'InvalidCiphertextException'],
        ['DescribeKey', 'NotFoundException'],
      ],
    );
    assert.equal(entries[0].keyId, k.Arn);
    assert.equal(entries[1].aliasName, 'alias/audited');
    assert.equal(entries[2].keyId, k.Arn);
    assert.deepEqual(entries[2].encryptionContext, { tenant: 'acme' });
    assert.equal(entries[3].keyId, k.Arn);
    assert.deepEqual(entries[3].encryptionContext, { tenant: 'evil' });
    const raw = lines.join('\n');
    assert.ok(!raw.includes('PLAINTEXT-MARKER-123') && !raw.includes(b64('PLAINTEXT-MARKER-123')));
    assert.ok(!raw.includes(e.CiphertextBlob));
  } finally {
    await f.cleanup();
  }
});

test('no key material, data key or plaintext on disk or in the audit log (raw, hex, base64)', async () => {
  const f = await fixture();
  try {
    const k = (await f.ok('CreateKey')).KeyMetadata;
    const secrets: Buffer[] = [];
    const blobs: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await f.ok('GenerateDataKey', { KeyId: k.KeyId, KeySpec: 'AES_256', EncryptionContext: { i: String(i) } });
      secrets.push(Buffer.from(r.Plaintext, 'base64'));
      blobs.push(Buffer.from(r.CiphertextBlob, 'base64'));
      await f.ok('Decrypt', { CiphertextBlob: r.CiphertextBlob, EncryptionContext: { i: String(i) } });
    }
    await f.ok('RotateKeyOnDemand', { KeyId: k.KeyId });
    const inproc = await f.kms.generateDataKey(k.KeyId, { 'aws:s3:arn': 'arn:aws:s3:::b/o' }, CALLER);
    secrets.push(inproc.plaintext);
    blobs.push(inproc.ciphertextBlob);
    await f.kms.decrypt(inproc.ciphertextBlob, { 'aws:s3:arn': 'arn:aws:s3:::b/o' }, CALLER);
    const plain = Buffer.from('a very secret plaintext 0123456789');
    blobs.push(Buffer.from((await f.ok('Encrypt', { KeyId: k.KeyId, Plaintext: plain.toString('base64') })).CiphertextBlob, 'base64'));
    secrets.push(plain);
    await f.reopen();

    const files = [...(await allFiles(f.root))];
    assert.ok(files.includes(f.opts.auditLogPath), `audit log missing from ${files}`);
    assert.ok(files.length >= 2, `${files}`);
    for (const file of files) {
      const data = await readFile(file);
      for (const s of secrets) for (const form of forms(s)) assert.ok(!data.includes(form), `${file} contains a secret`);
      for (const blob of blobs) for (const form of forms(blob)) assert.ok(!data.includes(form), `${file} contains a ciphertext blob`);
    }
    // The key record holds sealed material only, and no field of it is the raw material
    // (each version's 'sealed' value is a sealKey() result: overhead + 32 bytes).
    const rec = (await f.storedKey(k.KeyId))!;
    assert.equal(rec.versions.length, 2);
    for (const v of rec.versions) assert.equal(Buffer.from(v.sealed, 'base64').length, SEALED_KEY_OVERHEAD + 32);
  } finally {
    await f.cleanup();
  }
});

test('in-process API: ensureDefaultKey, generateDataKey, decrypt, resolveKeyArn (audited)', async () => {
  const f = await fixture();
  try {
    const arn = await f.kms.ensureDefaultKey('alias/aws/s3');
    assert.match(arn, new RegExp(`^arn:aws:kms:${REGION}:${ACCOUNT}:key/[0-9a-f-]{36}$`));
    assert.equal(await f.kms.ensureDefaultKey('alias/aws/s3'), arn);
    await f.reopen();
    assert.equal(await f.kms.ensureDefaultKey('alias/aws/s3'), arn);
    const m = (await f.ok('DescribeKey', { KeyId: 'alias/aws/s3' })).KeyMetadata;
    assert.equal(m.Arn, arn);
    assert.equal(m.KeyManager, 'AWS');
    assert.equal(m.Description, 'Default key that protects my S3 objects when no other key is defined');
    assert.equal((await f.ok('GetKeyRotationStatus', { KeyId: m.KeyId })).KeyRotationEnabled, true);
    assert.ok((await f.ok('ListAliases')).Aliases.some((a: any) => a.AliasName === 'alias/aws/s3' && a.TargetKeyId === m.KeyId));
    // AWS-managed keys are usable but not manageable.
    await f.fails('DisableKey', { KeyId: m.KeyId }, 'AccessDeniedException', /kms:DisableKey/);
    await f.fails('ScheduleKeyDeletion', { KeyId: m.KeyId }, 'AccessDeniedException');
    await f.fails('UpdateAlias', { AliasName: 'alias/aws/s3', TargetKeyId: m.KeyId }, 'NotAuthorizedException');

    for (const id of ['alias/aws/s3', m.KeyId, arn, `arn:aws:kms:${REGION}:${ACCOUNT}:alias/aws/s3`]) {
      assert.equal(await f.kms.resolveKeyArn(id), arn);
    }
    await assert.rejects(
      f.kms.resolveKeyArn('alias/nope'),
      (e: unknown) => e instanceof KmsError && e.type === 'NotFoundException' && e.status === 400,
    );

    const ctx = { 'aws:s3:arn': 'arn:aws:s3:::bucket/key' };
    const dk = await f.kms.generateDataKey('alias/aws/s3', ctx, CALLER);
    assert.equal(dk.keyArn, arn);
    assert.equal(dk.plaintext.length, 32);
    const back = await f.kms.decrypt(dk.ciphertextBlob, ctx, CALLER);
    assert.equal(back.keyArn, arn);
    assert.ok(back.plaintext.equals(dk.plaintext));
    await assert.rejects(
      f.kms.decrypt(dk.ciphertextBlob, { 'aws:s3:arn': 'arn:aws:s3:::bucket/other' }, CALLER),
      (e: unknown) => e instanceof KmsError && e.type === 'InvalidCiphertextException',
    );
    // Blobs from the JSON API and the in-process API are the same format.
    const viaApi = await f.ok('Decrypt', { CiphertextBlob: dk.ciphertextBlob.toString('base64'), EncryptionContext: ctx });
    assert.equal(viaApi.Plaintext, dk.plaintext.toString('base64'));

    const c = (await f.ok('CreateKey')).KeyMetadata;
    await f.ok('DisableKey', { KeyId: c.KeyId });
    await assert.rejects(f.kms.generateDataKey(c.Arn, {}, CALLER), (e: unknown) => e instanceof KmsError && e.type === 'DisabledException');

    const entries = (await readFile(f.opts.auditLogPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const gdk = entries.filter((x) => x.operation === 'GenerateDataKey');
    assert.deepEqual(
      gdk.map((x) => [x.accessKeyId, x.keyId, x.result]),
      [
        [CALLER.accessKeyId, arn, 'success'],
        [CALLER.accessKeyId, c.Arn, 'DisabledException'],
      ],
    );
    assert.deepEqual(gdk[0].encryptionContext, ctx);
    const dec = entries.filter((x) => x.operation === 'Decrypt' && x.accessKeyId === CALLER.accessKeyId);
    assert.deepEqual(
      dec.map((x) => x.result),
      ['success', 'InvalidCiphertextException', 'success'],
    );
    assert.ok(entries.some((x) => x.operation === 'CreateKey' && x.aliasName === 'alias/aws/s3' && x.keyId === arn));
  } finally {
    await f.cleanup();
  }
});
