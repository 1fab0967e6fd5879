// Several Kura nodes on one PostgreSQL database and one upstream bucket/prefix (`--meta postgres://…
// --backend s3`), as a load balancer would spread clients over them: a write acknowledged by one node is
// seen by every node at once, racing writers of one key on different nodes end with one intact object
// (every version kept when versioned), multipart uploads span nodes, bucket configuration set on one node
// applies on all, and a node killed with kill -9 mid-write leaves nothing torn while the others serve.
// Real processes throughout: PostgreSQL from Debian's binaries, an upstream Kura, three `kura server` nodes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import pg from 'pg';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketEncryptionCommand,
  DeleteObjectCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutBucketEncryptionCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { startKura, collect, s3Error, type KuraServer } from '../helpers/server.ts';
import { startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { TABLE } from '../../src/storage/meta/keys.ts';

const ROOT_KEY = randomBytes(32).toString('base64');
const CREDS = { KURA_ACCESS_KEY_ID: 'KURASCALEOUTTESTNODES', KURA_SECRET_ACCESS_KEY: randomBytes(30).toString('base64url') };
const UPSTREAM_BUCKET = 'cluster-store';
const PREFIX = 'nodes/';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

describe('several nodes on one PostgreSQL database and one upstream', () => {
  let pgServer: PostgresServer;
  let url: string;
  let upstream: KuraServer;
  const nodes: KuraServer[] = [];
  let c: S3Client[] = [];
  let kmsKeyId: string;

  const startNode = (dataDir?: string): Promise<KuraServer> =>
    startKura({
      meta: url,
      backend: 's3',
      upstream,
      upstreamBucket: UPSTREAM_BUCKET,
      upstreamPrefix: PREFIX,
      env: { KURA_ROOT_KEY: ROOT_KEY, ...CREDS },
      ...(dataDir ? { dataDir } : {}),
    });

  before(async () => {
    [pgServer, upstream] = await Promise.all([startPostgres(), startKura({ backend: 'fs' })]);
    url = await pgServer.createDatabase();
    nodes.push(...(await Promise.all([startNode(), startNode(), startNode()])));
    c = nodes.map((n) => n.client());
    // The KMS key store is in the shared database: a key created on node A is at once usable on B and C.
    const kms = new KMSClient({ endpoint: nodes[0]!.endpoint, region: 'us-east-1', credentials: { ...nodes[0]!.credentials } });
    kmsKeyId = (await kms.send(new CreateKeyCommand({ Description: 'cluster default' }))).KeyMetadata!.KeyId!;
    kms.destroy();
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await upstream?.stop();
    await pgServer?.stop();
  });

  test('start-up names the engine; a node with another root key refuses to start', async () => {
    assert.match(
      nodes[0]!.stdout.find((l) => l.includes('"listening"'))!,
      /postgres metadata at 127\.0\.0\.1:\d+\/kura_/,
    );
    await assert.rejects(
      startKura({
        meta: url,
        backend: 's3',
        upstream,
        upstreamBucket: UPSTREAM_BUCKET,
        upstreamPrefix: PREFIX,
        env: { KURA_ROOT_KEY: randomBytes(32).toString('base64'), ...CREDS },
      }),
      /initialised under another root key/,
    );
  });

  test('KMS across nodes: a key created on A encrypts on B (SSE-KMS) and decrypts on C; SSE-S3 likewise', async () => {
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'kms-nodes' }));
    const body = randomBytes(3000);
    // SSE-KMS headers need HTTPS, as on AWS.
    await nodes[1]!
      .client({ https: true })
      .send(new PutObjectCommand({ Bucket: 'kms-nodes', Key: 'k', Body: body, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId }));
    const got = await nodes[2]!.client({ https: true }).send(new GetObjectCommand({ Bucket: 'kms-nodes', Key: 'k' }));
    assert.equal(got.SSEKMSKeyId?.endsWith(kmsKeyId), true);
    assert.deepEqual(await collect(got.Body), body);
    // Concurrent first SSE-S3 writes on every node agree on one managed key (the store decides).
    await Promise.all(
      c.map((cl, i) =>
        cl.send(new PutObjectCommand({ Bucket: 'kms-nodes', Key: `s3-${i}`, Body: `n${i}`, ServerSideEncryption: 'AES256' })),
      ),
    );
    for (let i = 0; i < 3; i++) {
      for (const cl of c) {
        assert.equal(
          (await collect((await cl.send(new GetObjectCommand({ Bucket: 'kms-nodes', Key: `s3-${i}` }))).Body)).toString(),
          `n${i}`,
        );
      }
    }
  });

  test('read-after-write across nodes: PUT on one, GET/HEAD/LIST on the others at once', async () => {
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'raw' }));
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const writer = i % 3;
        const body = randomBytes(1000 + i * 777);
        const key = `dir/obj-${String(i).padStart(2, '0')}`;
        await c[writer]!.send(new PutObjectCommand({ Bucket: 'raw', Key: key, Body: body, Metadata: { n: String(i) } }));
        const [r1, r2] = [c[(writer + 1) % 3]!, c[(writer + 2) % 3]!];
        const [got, head, list] = await Promise.all([
          r1.send(new GetObjectCommand({ Bucket: 'raw', Key: key })).then((r) => collect(r.Body)),
          r2.send(new HeadObjectCommand({ Bucket: 'raw', Key: key })),
          r2.send(new ListObjectsV2Command({ Bucket: 'raw', Prefix: key })),
        ]);
        assert.ok(got.equals(body), `body of ${key} read on another node`);
        assert.equal(head.ContentLength, body.length);
        assert.equal(head.Metadata?.n, String(i));
        assert.deepEqual(
          list.Contents?.map((o) => o.Key),
          [key],
        );
      }),
    );
    const all = await Promise.all(c.map((s) => s.send(new ListObjectsV2Command({ Bucket: 'raw', Delimiter: '/' }))));
    for (const l of all)
      assert.deepEqual(
        l.CommonPrefixes?.map((p) => p.Prefix),
        ['dir/'],
      );
    const full = await Promise.all(c.map((s) => s.send(new ListObjectsV2Command({ Bucket: 'raw', MaxKeys: 5 }))));
    for (const l of full) assert.equal(l.KeyCount, 5);
  });

  test('versioning across nodes: versions written on different nodes, listed, read by id, delete marker', async () => {
    await c[1]!.send(new CreateBucketCommand({ Bucket: 'ver' }));
    await c[2]!.send(new PutBucketVersioningCommand({ Bucket: 'ver', VersioningConfiguration: { Status: 'Enabled' } }));
    const bodies = ['one', 'two', 'three'];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await c[i]!.send(new PutObjectCommand({ Bucket: 'ver', Key: 'k', Body: bodies[i] }))).VersionId!);
    assert.equal(new Set(ids).size, 3);
    assert.ok(ids.every((v) => v !== 'null'));
    for (const s of c) {
      const v = await s.send(new ListObjectVersionsCommand({ Bucket: 'ver' }));
      assert.deepEqual(
        v.Versions?.map((x) => x.VersionId),
        [...ids].reverse(),
        'newest first, the last write latest',
      );
      assert.equal((await collect((await s.send(new GetObjectCommand({ Bucket: 'ver', Key: 'k' }))).Body)).toString(), 'three');
    }
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await collect((await c[(i + 1) % 3]!.send(new GetObjectCommand({ Bucket: 'ver', Key: 'k', VersionId: ids[i] }))).Body)).toString(),
        bodies[i],
      );
    }
    const del = await c[0]!.send(new DeleteObjectCommand({ Bucket: 'ver', Key: 'k' }));
    assert.equal(del.DeleteMarker, true);
    assert.equal((await s3Error(c[1]!.send(new GetObjectCommand({ Bucket: 'ver', Key: 'k' })))).$metadata.httpStatusCode, 404);
    assert.equal(
      (await collect((await c[2]!.send(new GetObjectCommand({ Bucket: 'ver', Key: 'k', VersionId: ids[1] }))).Body)).toString(),
      'two',
    );
    await c[2]!.send(new DeleteObjectCommand({ Bucket: 'ver', Key: 'k', VersionId: del.VersionId! }));
    assert.equal((await collect((await c[1]!.send(new GetObjectCommand({ Bucket: 'ver', Key: 'k' }))).Body)).toString(), 'three');
  });

  test('multipart: created on A, parts on B and A, listed on C, completed on C', async () => {
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'mpu' }));
    const { UploadId } = await c[0]!.send(
      new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', ContentType: 'application/x-mpu' }),
    );
    const p1 = randomBytes(5 * 1024 * 1024);
    const p2 = randomBytes(123_457);
    const [e1, e2] = await Promise.all([
      c[1]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: 1, Body: p1 })),
      c[0]!.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: 2, Body: p2 })),
    ]);
    const parts = await c[2]!.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'big', UploadId }));
    assert.deepEqual(
      parts.Parts?.map((p) => p.PartNumber),
      [1, 2],
    );
    await c[2]!.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'mpu',
        Key: 'big',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: e1.ETag! },
            { PartNumber: 2, ETag: e2.ETag! },
          ],
        },
      }),
    );
    const got = await collect((await c[1]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big' }))).Body);
    assert.equal(md5(got), md5(Buffer.concat([p1, p2])));
    const range = await collect(
      (await c[0]!.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big', Range: `bytes=${p1.length - 10}-${p1.length + 9}` }))).Body,
    );
    assert.ok(range.equals(Buffer.concat([p1.subarray(p1.length - 10), p2.subarray(0, 10)])));
  });

  test('concurrent overwrites of one key from all nodes: one written body intact; versioned: every version kept', async () => {
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'race' }));
    await c[1]!.send(new CreateBucketCommand({ Bucket: 'race-ver' }));
    await c[2]!.send(new PutBucketVersioningCommand({ Bucket: 'race-ver', VersioningConfiguration: { Status: 'Enabled' } }));
    const bodies = Array.from({ length: 12 }, (_, i) => Buffer.concat([Buffer.from(`writer ${i} `), randomBytes(64 * 1024 + i)]));
    const written = new Set(bodies.map(md5));
    const [, versionIds] = await Promise.all([
      Promise.all(bodies.map((b, i) => c[i % 3]!.send(new PutObjectCommand({ Bucket: 'race', Key: 'hot', Body: b })))),
      Promise.all(
        bodies.map(async (b, i) => (await c[i % 3]!.send(new PutObjectCommand({ Bucket: 'race-ver', Key: 'hot', Body: b }))).VersionId!),
      ),
    ]);
    const finals = await Promise.all(
      c.map(async (s) => md5(await collect((await s.send(new GetObjectCommand({ Bucket: 'race', Key: 'hot' }))).Body))),
    );
    assert.ok(written.has(finals[0]!), 'the final object is one of the written bodies, byte-exact');
    assert.equal(new Set(finals).size, 1, 'every node serves the same final object');
    const v = await c[0]!.send(new ListObjectVersionsCommand({ Bucket: 'race-ver' }));
    assert.deepEqual(new Set(v.Versions?.map((x) => x.VersionId)), new Set(versionIds));
    assert.equal(v.Versions?.length, bodies.length);
    await Promise.all(
      versionIds.map(async (id, i) => {
        const got = await collect(
          (await c[(i + 1) % 3]!.send(new GetObjectCommand({ Bucket: 'race-ver', Key: 'hot', VersionId: id }))).Body,
        );
        assert.equal(md5(got), md5(bodies[i]!), `version ${i}`);
      }),
    );
    const unversioned = await c[1]!.send(new ListObjectVersionsCommand({ Bucket: 'race' }));
    assert.equal(unversioned.Versions?.length, 1, 'unversioned: the losers were replaced, not kept');
  });

  test('bucket created, configured and deleted on one node takes effect on the others', async () => {
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'conf' }));
    await Promise.all([c[1]!, c[2]!].map((s) => s.send(new HeadBucketCommand({ Bucket: 'conf' }))));
    assert.equal((await s3Error(c[2]!.send(new CreateBucketCommand({ Bucket: 'conf' })))).name, 'BucketAlreadyOwnedByYou');
    // Versioning set on B: a PUT on C gets a version id.
    await c[1]!.send(new PutBucketVersioningCommand({ Bucket: 'conf', VersioningConfiguration: { Status: 'Enabled' } }));
    assert.notEqual((await c[2]!.send(new PutObjectCommand({ Bucket: 'conf', Key: 'v', Body: 'v' }))).VersionId ?? 'null', 'null');
    // Default encryption (SSE-KMS, a customer key) set on C: a PUT on A without SSE headers is under that key.
    await c[2]!.send(
      new PutBucketEncryptionCommand({
        Bucket: 'conf',
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKeyId } }],
        },
      }),
    );
    const put = await c[0]!.send(new PutObjectCommand({ Bucket: 'conf', Key: 'enc', Body: 'encrypted by default' }));
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    assert.match(put.SSEKMSKeyId ?? '', new RegExp(kmsKeyId));
    const head = await c[1]!.send(new HeadObjectCommand({ Bucket: 'conf', Key: 'enc' }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(
      (await collect((await c[1]!.send(new GetObjectCommand({ Bucket: 'conf', Key: 'enc' }))).Body)).toString(),
      'encrypted by default',
    );
    await c[1]!.send(new DeleteBucketEncryptionCommand({ Bucket: 'conf' }));
    assert.equal(
      (await s3Error(c[0]!.send(new GetBucketEncryptionCommand({ Bucket: 'conf' })))).name,
      'ServerSideEncryptionConfigurationNotFoundError',
    );
    assert.equal((await c[2]!.send(new PutObjectCommand({ Bucket: 'conf', Key: 'plain', Body: 'p' }))).ServerSideEncryption, 'AES256');
    // Deleted on B (after emptying it on A): gone on every node.
    const versions = await c[0]!.send(new ListObjectVersionsCommand({ Bucket: 'conf' }));
    for (const v of versions.Versions ?? [])
      await c[0]!.send(new DeleteObjectCommand({ Bucket: 'conf', Key: v.Key!, VersionId: v.VersionId! }));
    await c[1]!.send(new DeleteBucketCommand({ Bucket: 'conf' }));
    assert.equal((await s3Error(c[0]!.send(new HeadBucketCommand({ Bucket: 'conf' })))).$metadata.httpStatusCode, 404);
    assert.equal((await s3Error(c[2]!.send(new PutObjectCommand({ Bucket: 'conf', Key: 'x', Body: 'x' })))).name, 'NoSuchBucket');
  });

  test('kill -9 of a node mid-write: acknowledged writes present, nothing torn, the others keep serving; a reader keeps a blob another node replaced', async () => {
    await c[0]!.send(new CreateBucketCommand({ Bucket: 'crash' }));
    // A slow reader on A of an object that B then replaces: the replaced blob must outlive C's restart
    // (a node's start-up clean-up only takes dead blobs past the grace period).
    const big = randomBytes(3 * 1024 * 1024);
    await c[0]!.send(new PutObjectCommand({ Bucket: 'crash', Key: 'read-me', Body: big }));
    const reader = (await c[0]!.send(new GetObjectCommand({ Bucket: 'crash', Key: 'read-me' }))).Body as AsyncIterable<Uint8Array>;
    const it = reader[Symbol.asyncIterator]();
    const first = await it.next();
    await c[1]!.send(new PutObjectCommand({ Bucket: 'crash', Key: 'read-me', Body: 'replaced' }));

    const victim = nodes[2]!;
    const acked = new Map<string, Buffer>();
    const attempted = new Map<string, Buffer>();
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `w${w}/k${i}`;
        const body = randomBytes(20_000 + ((w * 7919 + i * 104_729) % 300_000));
        attempted.set(key, body);
        try {
          await c[2]!.send(new PutObjectCommand({ Bucket: 'crash', Key: key, Body: body }));
          acked.set(key, body);
        } catch {
          return; // the node died under this request
        }
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    while (acked.size < 8) await new Promise((r) => setTimeout(r, 20));
    await victim.kill9();
    stop = true;
    await writers;
    // The survivors serve reads and writes meanwhile.
    await c[0]!.send(new PutObjectCommand({ Bucket: 'crash', Key: 'after', Body: 'still serving' }));
    assert.equal(
      (await collect((await c[1]!.send(new GetObjectCommand({ Bucket: 'crash', Key: 'after' }))).Body)).toString(),
      'still serving',
    );
    for (const [key, body] of attempted) {
      const s = c[Number(key[1]) % 2]!;
      let got: Buffer | undefined;
      try {
        got = await collect((await s.send(new GetObjectCommand({ Bucket: 'crash', Key: key }))).Body);
      } catch (e) {
        assert.equal((e as { name?: string }).name, 'NoSuchKey', `${key}: ${String(e)}`);
        assert.ok(!acked.has(key), `acknowledged write ${key} lost`);
        continue;
      }
      assert.ok(got.equals(body), `${key} torn or wrong`);
    }
    // The killed node comes back on its data dir: it takes its own pending blobs at once (instance id).
    const restarted = await startNode(victim.dataDir);
    nodes[2] = restarted;
    c[2] = restarted.client();
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const pending = await db.query('SELECT count(*)::int AS n FROM kura_meta WHERE substring(k from 1 for 1) = $1', [
        Buffer.of(TABLE.pendingBlob),
      ]);
      assert.equal(pending.rows[0].n, 0, 'no pending-blob rows left after the crashed node restarted');
      const dead = await db.query('SELECT count(*)::int AS n FROM kura_meta WHERE substring(k from 1 for 1) = $1', [
        Buffer.of(TABLE.deadBlob),
      ]);
      assert.ok(dead.rows[0].n >= 1, 'the replaced blob waits out its grace period');
    } finally {
      await db.end();
    }
    const rest: Buffer[] = first.value ? [Buffer.from(first.value)] : [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(Buffer.from(r.value));
    assert.equal(md5(Buffer.concat(rest)), md5(big), 'the reader on A got the whole replaced object');
    assert.equal(
      (await collect((await c[2]!.send(new GetObjectCommand({ Bucket: 'crash', Key: 'read-me' }))).Body)).toString(),
      'replaced',
    );
  });
});
