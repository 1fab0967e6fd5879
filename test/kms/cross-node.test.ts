// The KMS on several nodes: two KeyManagementService instances ("nodes") over two PgMetaStore connections
// to one real PostgreSQL database (Debian's binaries, started by the test). A key created, disabled,
// enabled, rotated, scheduled for deletion or destroyed on node A takes effect on node B — at once for what
// B reads from the store (a key or alias it has not cached, a key version it does not know), and within
// the cache bound (cacheTtlMs) for what B has cached; so do S3 bucket keys cached over B's KMS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KeyManagementService } from '../../src/kms/index.ts';
import { PgMetaStore } from '../../src/storage/meta/pg-store.ts';
import { KmsKeyCache } from '../../src/sse/kms-keys.ts';
import { S3Error } from '../../src/server/errors.ts';
import { startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { ACCOUNT, CALLER, REGION, b64 } from './helpers.ts';

const TTL_MS = 800;
const DAY_MS = 86_400_000;

interface Node {
  kms: KeyManagementService;
  meta: PgMetaStore;
  call(op: string, body?: unknown): Promise<{ status: number; body: any }>;
  ok(op: string, body?: unknown): Promise<any>;
}

let pg: PostgresServer;
let dir: string;
let a: Node;
let b: Node;
let offset = 0; // both nodes' clock (the deletion window is days)

async function node(url: string, rootKey: Buffer, name: string): Promise<Node> {
  const meta = await PgMetaStore.open({ url, poolSize: 3 });
  const kms = await KeyManagementService.open({
    meta,
    rootKey,
    auditLogPath: join(dir, `${name}-audit.log`),
    region: REGION,
    accountId: ACCOUNT,
    cacheTtlMs: TTL_MS,
    now: () => new Date(Date.now() + offset),
  });
  const n: Node = {
    kms,
    meta,
    call: (op, body = {}) => kms.handle(`TrentService.${op}`, body, CALLER) as Promise<{ status: number; body: any }>,
    async ok(op, body = {}) {
      const r = await n.call(op, body);
      assert.equal(r.status, 200, `${name} ${op} failed: ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
  return n;
}

before(async () => {
  pg = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'kura-kms-nodes-'));
  const url = await pg.createDatabase();
  const rootKey = randomBytes(32); // the nodes of one deployment share the root key
  a = await node(url, rootKey, 'a');
  b = await node(url, rootKey, 'b');
});

after(async () => {
  for (const n of [a, b]) {
    await n?.kms.close();
    await n?.meta.close();
  }
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Polls `attempt` until `done` holds; returns the time it took. Fails past the cache bound (plus a margin
 * for the polling and the database round trips): the bound is what the nodes promise.
 */
async function within(what: string, attempt: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await attempt()) return performance.now() - start;
    const elapsed = performance.now() - start;
    assert.ok(elapsed < TTL_MS + 700, `${what}: not seen within the cache bound (${TTL_MS} ms), ${Math.round(elapsed)} ms so far`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const blobVersion = (blob: string) => Buffer.from(blob, 'base64').readUInt32BE(19);

test('a key and an alias created on A are usable on B at once; blobs cross both ways', async () => {
  const k = (await a.ok('CreateKey', { Description: 'made on A' })).KeyMetadata;
  await a.ok('CreateAlias', { AliasName: 'alias/shared', TargetKeyId: k.KeyId });
  const fromB = (await b.ok('Encrypt', { KeyId: 'alias/shared', Plaintext: b64('from B'), EncryptionContext: { n: 'b' } })).CiphertextBlob;
  assert.equal((await a.ok('Decrypt', { CiphertextBlob: fromB, EncryptionContext: { n: 'b' } })).Plaintext, b64('from B'));
  const fromA = (await a.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('from A') })).CiphertextBlob;
  assert.equal((await b.ok('Decrypt', { CiphertextBlob: fromA })).Plaintext, b64('from A'));
  assert.equal((await b.ok('DescribeKey', { KeyId: 'alias/shared' })).KeyMetadata.Description, 'made on A');
  assert.ok((await b.ok('ListKeys')).Keys.some((x: { KeyId: string }) => x.KeyId === k.KeyId));
  // An alias moved on A: B's management view is the store's, at once.
  const k2 = (await a.ok('CreateKey')).KeyMetadata;
  await a.ok('UpdateAlias', { AliasName: 'alias/shared', TargetKeyId: k2.KeyId });
  assert.equal((await b.ok('DescribeKey', { KeyId: 'alias/shared' })).KeyMetadata.KeyId, k2.KeyId);
  await within(
    'alias moved on A, used for encryption on B',
    async () => (await b.ok('Encrypt', { KeyId: 'alias/shared', Plaintext: b64('x') })).KeyId === k2.Arn,
  );
});

test('disabled on A: B refuses new use within the bound; enabled again: B uses it again', async () => {
  const k = (await a.ok('CreateKey')).KeyMetadata;
  const blob = (await b.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('before') })).CiphertextBlob; // B has it cached
  await a.ok('DisableKey', { KeyId: k.KeyId });
  // A itself refuses at once.
  assert.equal((await a.call('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).body.__type, 'DisabledException');
  await within(
    'disable on A refused by B',
    async () => (await b.call('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).body.__type === 'DisabledException',
  );
  assert.equal((await b.call('Decrypt', { CiphertextBlob: blob })).body.__type, 'DisabledException');
  // B's key management sees the committed state at once, and cannot lose A's change.
  assert.equal((await b.ok('DescribeKey', { KeyId: k.KeyId })).KeyMetadata.KeyState, 'Disabled');
  await a.ok('EnableKey', { KeyId: k.KeyId });
  await within('enable on A used by B', async () => (await b.call('Decrypt', { CiphertextBlob: blob })).status === 200);
});

test('rotated on A: B opens the new version at once, encrypts with it within the bound, still opens the old', async () => {
  const k = (await a.ok('CreateKey')).KeyMetadata;
  const v1 = (await b.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('v1') })).CiphertextBlob;
  assert.equal(blobVersion(v1), 1);
  await a.ok('RotateKeyOnDemand', { KeyId: k.KeyId });
  const v2 = (await a.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('v2') })).CiphertextBlob;
  assert.equal(blobVersion(v2), 2);
  // B had the key cached without version 2: a blob naming it makes B read the key again.
  assert.equal((await b.ok('Decrypt', { CiphertextBlob: v2 })).Plaintext, b64('v2'));
  await within(
    'rotation on A used by B',
    async () => blobVersion((await b.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('x') })).CiphertextBlob) === 2,
  );
  assert.equal((await b.ok('Decrypt', { CiphertextBlob: v1 })).Plaintext, b64('v1'));
  // Rotations on both nodes at once: both versions are kept (transactions, no lost update).
  await Promise.all([a.ok('RotateKeyOnDemand', { KeyId: k.KeyId }), b.ok('RotateKeyOnDemand', { KeyId: k.KeyId })]);
  const rotations = (await b.ok('ListKeyRotations', { KeyId: k.KeyId })).Rotations;
  assert.equal(rotations.length, 3);
  // The node whose rotation committed first has version 3 cached: it moves to 4 within the bound.
  let v4 = '';
  await within(
    'both rotations seen on A',
    async () => blobVersion((v4 = (await a.ok('Encrypt', { KeyId: k.KeyId, Plaintext: b64('v4') })).CiphertextBlob)) === 4,
  );
  for (const [blob, text] of [
    [v1, 'v1'],
    [v2, 'v2'],
    [v4, 'v4'],
  ] as const)
    assert.equal((await b.ok('Decrypt', { CiphertextBlob: blob })).Plaintext, b64(text));
});

test('deletion scheduled on A: refused on B within the bound; cancelled: Disabled on B; shredded on A: gone on B', async () => {
  const k = (await a.ok('CreateKey')).KeyMetadata;
  await a.ok('CreateAlias', { AliasName: 'alias/doomed', TargetKeyId: k.KeyId });
  const blob = (await b.ok('Encrypt', { KeyId: 'alias/doomed', Plaintext: b64('doomed') })).CiphertextBlob;
  await a.ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 7 });
  await within(
    'deletion scheduled on A refused by B',
    async () => (await b.call('Decrypt', { CiphertextBlob: blob })).body.__type === 'KMSInvalidStateException',
  );
  await b.ok('CancelKeyDeletion', { KeyId: k.KeyId });
  assert.equal((await a.ok('DescribeKey', { KeyId: k.KeyId })).KeyMetadata.KeyState, 'Disabled');
  await a.ok('EnableKey', { KeyId: k.KeyId });
  await within('cancel on B + enable on A, used by B', async () => (await b.call('Decrypt', { CiphertextBlob: blob })).status === 200);

  await a.ok('ScheduleKeyDeletion', { KeyId: k.KeyId, PendingWindowInDays: 7 });
  offset = 8 * DAY_MS;
  try {
    // A shreds it (lazily, on use); B, whose cached copy may say Enabled, stops within the bound.
    assert.equal((await a.call('DescribeKey', { KeyId: k.KeyId })).body.__type, 'NotFoundException');
    await within(
      'key shredded on A, gone on B',
      async () => (await b.call('Decrypt', { CiphertextBlob: blob })).body.__type === 'NotFoundException',
    );
    assert.equal((await b.call('Encrypt', { KeyId: 'alias/doomed', Plaintext: b64('x') })).body.__type, 'NotFoundException');
    assert.ok(!(await b.ok('ListAliases')).Aliases.some((x: { AliasName: string }) => x.AliasName === 'alias/doomed'));
  } finally {
    offset = 0;
  }
});

test('the default key behind an alias: nodes asking at once get one key', async () => {
  const [x, y] = await Promise.all([a.kms.ensureDefaultKey('alias/aws/s3'), b.kms.ensureDefaultKey('alias/aws/s3')]);
  assert.equal(x, y);
  assert.equal((await a.ok('ListAliases')).Aliases.filter((al: { AliasName: string }) => al.AliasName === 'alias/aws/s3').length, 1);
});

test('S3 bucket keys cached over B stop within the bound when A disables the key', async () => {
  const k = (await a.ok('CreateKey')).KeyMetadata;
  const cache = new KmsKeyCache(b.kms);
  try {
    const ctx = { 'aws:s3:arn': 'arn:aws:s3:::bucket' };
    const shared = await cache.shared(k.Arn, ctx, CALLER);
    assert.equal(await cache.shared(k.Arn, ctx, CALLER), shared, 'served from the cache');
    assert.equal(cache.calls.generateDataKey, 1);
    await a.ok('DisableKey', { KeyId: k.KeyId });
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => false,
        (e: unknown) => {
          assert.ok(e instanceof S3Error, String(e));
          assert.equal(e.code, 'KMS.DisabledException');
          return true;
        },
      );
    await within('bucket key (new objects) after disable on A', () => refused(cache.shared(k.Arn, ctx, CALLER)));
    // Reads of objects under the cached bucket key are refused too.
    assert.ok(await refused(cache.decrypt(shared.blob, ctx, CALLER, true)));
  } finally {
    cache.clear();
  }
});
