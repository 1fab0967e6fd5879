// The KMS through a real `kura server`: @aws-sdk/client-kms for every operation and error, the Debian
// AWS CLI (/usr/bin/aws), the separate --kms-address listener, persistence across restarts and
// crypto-shredding once the deletion window has passed (KURA_KMS_CLOCK_OFFSET_DAYS moves the clock).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  KMSClient,
  CreateKeyCommand,
  DescribeKeyCommand,
  ListKeysCommand,
  EnableKeyCommand,
  DisableKeyCommand,
  ScheduleKeyDeletionCommand,
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  UpdateAliasCommand,
  DeleteAliasCommand,
  ListAliasesCommand,
  EncryptCommand,
  DecryptCommand,
  ReEncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  EnableKeyRotationCommand,
  DisableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  RotateKeyOnDemandCommand,
  ListKeyRotationsCommand,
  UpdateKeyDescriptionCommand,
  TagResourceCommand,
  ListResourceTagsCommand,
  paginateListKeys,
  paginateListAliases,
  NotFoundException,
  DisabledException,
  KMSInvalidStateException,
  InvalidCiphertextException,
  AlreadyExistsException,
  IncorrectKeyException,
  InvalidKeyUsageException,
  UnsupportedOperationException,
  InvalidAliasNameException,
  LimitExceededException,
  KMSServiceException,
} from '@aws-sdk/client-kms';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { withMeta } from '../helpers/meta.ts';
import { keys as rowKeys } from '../../src/storage/meta/keys.ts';

/** Whether the server's metadata store holds the row of a KMS key (the only copy of its sealed material). */
const keyRowExists = (dataDir: string, keyId: string) =>
  withMeta(dataDir, (store) => store.read(async (tx) => (await tx.get(rowKeys.kmsKey(keyId))) !== undefined));

const run = promisify(execFile);
const AWS = '/usr/bin/aws';

function kmsClient(
  srv: KuraServer,
  over: { endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string }; region?: string } = {},
): KMSClient {
  return new KMSClient({
    endpoint: over.endpoint ?? srv.endpoint,
    region: over.region ?? 'us-east-1',
    credentials: { ...(over.credentials ?? srv.credentials) },
    maxAttempts: 1,
  });
}

async function rejectsWith(p: Promise<unknown>, cls: new (...a: any[]) => KMSServiceException, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e?.name}: ${e?.message}`);
    assert.equal(e.$metadata.httpStatusCode, 400);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('KMS on the S3 port, via @aws-sdk/client-kms', () => {
  let srv: KuraServer;
  let kms: KMSClient;
  before(async () => {
    srv = await startKura();
    kms = kmsClient(srv);
  });
  after(async () => {
    kms?.destroy();
    await srv?.stop();
  });

  test('key management: create, describe, list, enable/disable, description, tags, deletion', async () => {
    const { KeyMetadata: m } = await kms.send(
      new CreateKeyCommand({ Description: 'integration', Tags: [{ TagKey: 'env', TagValue: 'test' }] }),
    );
    assert.ok(m?.KeyId && m.Arn === `arn:aws:kms:us-east-1:000000000000:key/${m.KeyId}`);
    assert.ok(m.CreationDate instanceof Date);
    assert.equal(m.KeyState, 'Enabled');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: m.Arn }))).KeyMetadata?.Description, 'integration');
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: m.KeyId, Description: 'changed' }));
    await kms.send(new TagResourceCommand({ KeyId: m.KeyId, Tags: [{ TagKey: 'owner', TagValue: 'me' }] }));
    assert.deepEqual((await kms.send(new ListResourceTagsCommand({ KeyId: m.KeyId }))).Tags?.map((t) => t.TagKey).sort(), ['env', 'owner']);

    for (let i = 0; i < 3; i++) await kms.send(new CreateKeyCommand({}));
    const ids: string[] = [];
    for await (const page of paginateListKeys({ client: kms, pageSize: 2 }, {})) ids.push(...(page.Keys ?? []).map((k) => k.KeyId!));
    assert.ok(ids.length >= 4 && ids.includes(m.KeyId));
    assert.equal(new Set(ids).size, ids.length);

    await kms.send(new DisableKeyCommand({ KeyId: m.KeyId }));
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: Buffer.from('x') })), DisabledException, /is disabled/);
    await kms.send(new EnableKeyCommand({ KeyId: m.KeyId }));
    await rejectsWith(kms.send(new EnableKeyCommand({ KeyId: 'alias/whatever' })), NotFoundException);

    const s = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId, PendingWindowInDays: 7 }));
    assert.equal(s.KeyState, 'PendingDeletion');
    assert.ok(s.DeletionDate instanceof Date && Math.abs(s.DeletionDate.getTime() - (Date.now() + 7 * 86_400_000)) < 60_000);
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: Buffer.from('x') })),
      KMSInvalidStateException,
      /pending deletion/,
    );
    await rejectsWith(
      kms.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId, PendingWindowInDays: 3 })),
      KMSServiceException,
      /pendingWindowInDays/,
    );
    assert.equal((await kms.send(new CancelKeyDeletionCommand({ KeyId: m.KeyId }))).KeyId, m.Arn);
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: m.KeyId }))).KeyMetadata?.KeyState, 'Disabled');
    await rejectsWith(kms.send(new CancelKeyDeletionCommand({ KeyId: m.KeyId })), KMSInvalidStateException);
    await rejectsWith(
      kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' })),
      NotFoundException,
      /does not exist/,
    );
    await rejectsWith(kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048' })), UnsupportedOperationException);
  });

  test('aliases', async () => {
    const k1 = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const k2 = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-app', TargetKeyId: k1.KeyId }));
    await rejectsWith(kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-app', TargetKeyId: k2.KeyId })), AlreadyExistsException);
    // Not in the SDK's model (so a generic KMSServiceException), but what AWS answers for the reserved prefix.
    await assert.rejects(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/sdk', TargetKeyId: k2.KeyId })),
      (e: any) => e.name === 'NotAuthorizedException' && e.$metadata.httpStatusCode === 400,
    );
    await rejectsWith(kms.send(new CreateAliasCommand({ AliasName: 'alias/a:b', TargetKeyId: k2.KeyId })), InvalidAliasNameException);
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/sdk-app' }))).KeyMetadata?.KeyId, k1.KeyId);
    await kms.send(new UpdateAliasCommand({ AliasName: 'alias/sdk-app', TargetKeyId: k2.Arn }));
    const names: string[] = [];
    for await (const page of paginateListAliases({ client: kms, pageSize: 1 }, { KeyId: k2.KeyId }))
      names.push(...(page.Aliases ?? []).map((a) => a.AliasName!));
    assert.deepEqual(names, ['alias/sdk-app']);
    const all = await kms.send(new ListAliasesCommand({}));
    const a = all.Aliases?.find((x) => x.AliasName === 'alias/sdk-app');
    assert.equal(a?.TargetKeyId, k2.KeyId);
    assert.ok(a?.CreationDate instanceof Date);
    await kms.send(new DeleteAliasCommand({ AliasName: 'alias/sdk-app' }));
    await rejectsWith(kms.send(new DeleteAliasCommand({ AliasName: 'alias/sdk-app' })), NotFoundException, /is not found/);
  });

  test('cryptographic operations and their errors', async () => {
    const k1 = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const k2 = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/crypto', TargetKeyId: k1.KeyId }));
    const ctx = { app: 'kura', id: '42' };
    const enc = await kms.send(new EncryptCommand({ KeyId: 'alias/crypto', Plaintext: Buffer.from('top secret'), EncryptionContext: ctx }));
    assert.equal(enc.KeyId, k1.Arn);
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx }));
    assert.equal(Buffer.from(dec.Plaintext!).toString(), 'top secret');
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { ...ctx, id: '43' } })),
      InvalidCiphertextException,
    );
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx, KeyId: k2.KeyId })),
      IncorrectKeyException,
    );
    await rejectsWith(
      kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('garbage garbage garbage garbage garbage garbage') })),
      InvalidCiphertextException,
    );
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: k1.KeyId, Plaintext: Buffer.alloc(4097) })), KMSServiceException, /4096/);
    await rejectsWith(
      kms.send(new EncryptCommand({ KeyId: k1.KeyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })),
      InvalidKeyUsageException,
    );

    const re = await kms.send(
      new ReEncryptCommand({
        CiphertextBlob: enc.CiphertextBlob,
        SourceEncryptionContext: ctx,
        DestinationKeyId: k2.KeyId,
        DestinationEncryptionContext: { other: 'ctx' },
      }),
    );
    assert.equal(re.SourceKeyId, k1.Arn);
    assert.equal(re.KeyId, k2.Arn);
    assert.equal(
      Buffer.from(
        (await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { other: 'ctx' } }))).Plaintext!,
      ).toString(),
      'top secret',
    );

    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: k1.KeyId, KeySpec: 'AES_128', EncryptionContext: ctx }));
    assert.equal(dk.Plaintext?.length, 16);
    assert.deepEqual(
      (await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx }))).Plaintext,
      dk.Plaintext,
    );
    const dk2 = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: k1.Arn, NumberOfBytes: 64 }));
    assert.equal((dk2 as { Plaintext?: unknown }).Plaintext, undefined);
    assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: dk2.CiphertextBlob }))).Plaintext?.length, 64);
    await rejectsWith(kms.send(new GenerateDataKeyCommand({ KeyId: k1.KeyId, NumberOfBytes: 2000 })), KMSServiceException, /numberOfBytes/);
    assert.equal((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 100 }))).Plaintext?.length, 100);
  });

  test('rotation keeps old ciphertexts decryptable', async () => {
    const k = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const old = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('v1') }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: k.KeyId, RotationPeriodInDays: 120 }));
    const st = await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.Arn }));
    assert.equal(st.KeyRotationEnabled, true);
    assert.equal(st.RotationPeriodInDays, 120);
    assert.ok(st.NextRotationDate instanceof Date);
    assert.equal((await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }))).KeyId, k.KeyId);
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: k.KeyId }));
    assert.equal(rotations.Rotations?.[0]?.RotationType, 'ON_DEMAND');
    assert.ok(rotations.Rotations?.[0]?.RotationDate instanceof Date);
    const fresh = await kms.send(new EncryptCommand({ KeyId: k.KeyId, Plaintext: Buffer.from('v2') }));
    assert.notEqual(Buffer.from(old.CiphertextBlob!).readUInt32BE(19), Buffer.from(fresh.CiphertextBlob!).readUInt32BE(19));
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }))).Plaintext!).toString(), 'v1');
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob }))).Plaintext!).toString(), 'v2');
    await kms.send(new DisableKeyRotationCommand({ KeyId: k.KeyId }));
    assert.equal((await kms.send(new GetKeyRotationStatusCommand({ KeyId: k.KeyId }))).KeyRotationEnabled, false);
    for (let i = 0; i < 9; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId }));
    await rejectsWith(kms.send(new RotateKeyOnDemandCommand({ KeyId: k.KeyId })), LimitExceededException);
  });

  test('authentication failures are KMS JSON errors; S3 keeps working on the same port', async () => {
    const cases: [KMSClient, string][] = [
      [kmsClient(srv, { credentials: { ...srv.credentials, secretAccessKey: 'not-the-secret' } }), 'InvalidSignatureException'],
      [kmsClient(srv, { credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' } }), 'UnrecognizedClientException'],
      [kmsClient(srv, { region: 'eu-central-1' }), 'InvalidSignatureException'],
    ];
    for (const [c, type] of cases) {
      await assert.rejects(c.send(new ListKeysCommand({})), (e: any) => e.name === type && e.$metadata.httpStatusCode === 400);
      c.destroy();
    }
    const res = await fetch(`${srv.endpoint}/`, {
      method: 'POST',
      headers: { 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' },
      body: '{}',
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1');
    assert.equal(((await res.json()) as any).__type, 'MissingAuthenticationTokenException');
    const s3 = srv.client();
    assert.ok(Array.isArray((await s3.send(new ListBucketsCommand({}))).Buckets));
    s3.destroy();
  });

  test('AWS CLI v2: create-key, aliases, encrypt/decrypt, data keys, errors', async () => {
    const env = { ...process.env, ...srv.env(), AWS_PAGER: '', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const aws = async (...args: string[]) =>
      JSON.parse((await run(AWS, ['kms', ...args, '--endpoint-url', srv.endpoint, '--output', 'json'], { env })).stdout || '{}');
    const key = (await aws('create-key', '--description', 'from the cli')).KeyMetadata;
    assert.equal(key.Description, 'from the cli');
    await aws('create-alias', '--alias-name', 'alias/cli', '--target-key-id', key.KeyId);
    const aliases = (await aws('list-aliases', '--key-id', key.KeyId)).Aliases;
    assert.deepEqual(
      aliases.map((a: any) => a.AliasName),
      ['alias/cli'],
    );
    assert.equal((await aws('describe-key', '--key-id', 'alias/cli')).KeyMetadata.KeyId, key.KeyId);
    const enc = await aws(
      'encrypt',
      '--key-id',
      'alias/cli',
      '--plaintext',
      Buffer.from('cli secret').toString('base64'),
      '--encryption-context',
      'purpose=test',
    );
    assert.equal(enc.KeyId, key.Arn);
    const dec = await aws('decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=test');
    assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'cli secret');
    const dk = await aws('generate-data-key', '--key-id', key.KeyId, '--key-spec', 'AES_256');
    assert.equal(Buffer.from(dk.Plaintext, 'base64').length, 32);
    assert.ok((await aws('list-keys')).Keys.some((k: any) => k.KeyId === key.KeyId));
    assert.equal((await aws('get-key-rotation-status', '--key-id', key.KeyId)).KeyRotationEnabled, false);
    await assert.rejects(aws('decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=other'), (e: any) => {
      assert.equal(e.code, 254);
      assert.match(e.stderr, /InvalidCiphertextException/);
      return true;
    });
    await assert.rejects(aws('describe-key', '--key-id', 'alias/none'), (e: any) =>
      /NotFoundException.*alias\/none is not found/.test(e.stderr),
    );
    await aws('schedule-key-deletion', '--key-id', key.KeyId, '--pending-window-in-days', '7');
    assert.equal((await aws('describe-key', '--key-id', key.KeyId)).KeyMetadata.KeyState, 'PendingDeletion');
  });
});

test('--kms-address listener, persistence across restart, shredding after the window, audit log', async () => {
  const srv = await startKura({ args: ['--kms-address', '127.0.0.1:0'] });
  let restarted: KuraServer | undefined;
  try {
    const listening = srv.stdout
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return {};
        }
      })
      .find((j) => j.msg === 'listening');
    assert.match(String(listening?.kms), /^127\.0\.0\.1:\d+$/);
    const kmsEndpoint = `http://${listening.kms}`;
    const kms = kmsClient(srv, { endpoint: kmsEndpoint });
    const doomed = (await kms.send(new CreateKeyCommand({ Description: 'doomed' }))).KeyMetadata!;
    const kept = (await kms.send(new CreateKeyCommand({ Description: 'kept' }))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/kept', TargetKeyId: kept.KeyId }));
    const doomedBlob = (
      await kms.send(new EncryptCommand({ KeyId: doomed.KeyId, Plaintext: Buffer.from('shred me'), EncryptionContext: { a: 'b' } }))
    ).CiphertextBlob!;
    const keptBlob = (await kms.send(new EncryptCommand({ KeyId: 'alias/kept', Plaintext: Buffer.from('keep me') }))).CiphertextBlob!;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: doomed.KeyId, PendingWindowInDays: 7 }));
    // The same KMS answers on the S3 port.
    const viaS3Port = kmsClient(srv);
    assert.equal((await viaS3Port.send(new DescribeKeyCommand({ KeyId: 'alias/kept' }))).KeyMetadata?.KeyId, kept.KeyId);
    viaS3Port.destroy();
    // Non-KMS requests on the KMS listener.
    const other = await fetch(`${kmsEndpoint}/bucket/key`);
    assert.equal(other.status, 400);
    assert.equal(((await other.json()) as any).__type, 'UnknownOperationException');
    kms.destroy();
    assert.equal(await srv.stop({ keepData: true }), 0);

    assert.ok(await keyRowExists(srv.dataDir, doomed.KeyId!));
    const audit = (await readFile(join(srv.dataDir, '.kura', 'audit.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const encryptEntry = audit.find((e) => e.operation === 'Encrypt' && e.keyId === doomed.Arn);
    assert.equal(encryptEntry?.accessKeyId, srv.credentials.accessKeyId);
    assert.deepEqual(encryptEntry?.encryptionContext, { a: 'b' });
    assert.equal(encryptEntry?.result, 'success');

    // Eight days later the seven-day window has passed: the key material is destroyed.
    restarted = await startKura({ dataDir: srv.dataDir, env: { KURA_KMS_CLOCK_OFFSET_DAYS: '8' } });
    const kms2 = kmsClient(restarted);
    await rejectsWith(
      kms2.send(new DecryptCommand({ CiphertextBlob: doomedBlob, EncryptionContext: { a: 'b' } })),
      NotFoundException,
      new RegExp(doomed.KeyId!),
    );
    await rejectsWith(kms2.send(new DescribeKeyCommand({ KeyId: doomed.KeyId })), NotFoundException);
    assert.equal(await keyRowExists(srv.dataDir, doomed.KeyId!), false);
    assert.equal(Buffer.from((await kms2.send(new DecryptCommand({ CiphertextBlob: keptBlob }))).Plaintext!).toString(), 'keep me');
    assert.equal((await kms2.send(new DescribeKeyCommand({ KeyId: 'alias/kept' }))).KeyMetadata?.Description, 'kept');
    kms2.destroy();
    const audit2 = (await readFile(join(srv.dataDir, '.kura', 'audit.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(audit2.some((e) => e.operation === 'DeleteKey' && e.keyId === doomed.Arn));
  } finally {
    await restarted?.stop();
    await srv.stop();
  }
});
