// The PostgreSQL engine's rows through a real node: what the database operator and the upstream see (only
// what docs/METADATA.md declares: bucket names and object keys in kura_meta.k, nothing else in clear), and
// rows tampered with by SQL — a sealed value edited, two values swapped, an older value replayed — refused
// with 500 or answered with the current data, never served. Also the listing property test (prefix,
// delimiter, markers, versions against a model) on the core over PostgreSQL.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { startPostgres, type PostgresServer } from '../helpers/postgres.ts';
import { coreListingProperty } from '../helpers/listing-model.ts';
import { keys, prefixRange } from '../../src/storage/meta/keys.ts';
import { CoreBackend } from '../../src/storage/core-backend.ts';
import { PgMetaStore } from '../../src/storage/meta/pg-store.ts';
import { FsBlobStore } from '../../src/storage/blob/fs-blob-store.ts';

const BUCKET = 'rows-bucket';
const KEY = 'secret-name-q7Zk/report.pdf';
const META_VALUE = 'value-zz9Yw-private';
const CTYPE = 'application/x-secret-ct-3fQ';
const BODY = 'the real content 8sPq';

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof S3ServiceException) return e.$metadata.httpStatusCode ?? 0;
    throw e;
  }
}

let pgServer: PostgresServer;
before(async () => {
  pgServer = await startPostgres();
});
after(async () => {
  await pgServer?.stop();
});

describe('PostgreSQL rows', () => {
  let url: string;
  let db: pg.Client;
  let srv: KuraServer;
  let s3: S3Client;

  /** The raw row (k, v) of a key's newest version. */
  const newestRow = async (key: string): Promise<{ k: Buffer; v: Buffer }> => {
    const r = prefixRange(keys.versionsOf(BUCKET, key));
    return (await db.query('SELECT k, v FROM kura_meta WHERE k >= $1 AND k < $2 ORDER BY k LIMIT 1', [r.start, r.end])).rows[0];
  };
  const setValue = (k: Buffer, v: Buffer) => db.query('UPDATE kura_meta SET v = $2 WHERE k = $1', [k, v]);

  before(async () => {
    url = await pgServer.createDatabase();
    srv = await startKura({ meta: url, backend: 's3' });
    s3 = srv.client();
    db = new pg.Client({ connectionString: url });
    await db.connect();
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: BODY, ContentType: CTYPE, Metadata: { colour: META_VALUE } }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other', Body: 'other content', ContentType: 'text/plain' }));
  });
  after(async () => {
    await db?.end();
    await srv?.stop();
  });

  test('the operator sees bucket names and object keys in kura_meta.k, and nothing else in clear; the upstream sees neither', async () => {
    const rows = (await db.query("SELECT encode(k, 'escape') AS k, encode(v, 'escape') AS v FROM kura_meta")).rows as {
      k: string;
      v: string;
    }[];
    const everything = (await db.query("SELECT string_agg(encode(k, 'escape') || ' ' || encode(v, 'escape'), ' ') AS s FROM kura_meta"))
      .rows[0].s as string;
    // Declared: the key column holds the bucket name and the object key.
    assert.ok(
      rows.some((r) => r.k.includes(BUCKET) && r.k.includes(KEY)),
      'object keys are in clear in k (declared in the README)',
    );
    for (const needle of [META_VALUE, CTYPE, BODY, 'colour']) assert.ok(!everything.includes(needle), `${needle} in clear in the database`);
    for (const r of rows) for (const needle of [KEY, BUCKET, META_VALUE, CTYPE]) assert.ok(!r.v.includes(needle), `${needle} in a value`);
    // No other table holds anything of ours.
    const tables = (
      await db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
    ).rows.map((r) => r.table_name);
    assert.deepEqual(tables, ['kura_meta', 'kura_schema']);
    // The upstream: every object under the shared bucket, names and bytes.
    const up = srv.upstream!.client();
    const listed = await up.send(new ListObjectsV2Command({ Bucket: srv.upstreamBucket! }));
    assert.ok((listed.Contents?.length ?? 0) >= 2);
    for (const o of listed.Contents ?? []) {
      // Random blob ids, and the store's marker (a value sealed under the root key: who owns the prefix).
      assert.match(o.Key!, /^gw\/(blobs\/[0-9a-f]{32}|kura-store)$/, 'upstream names are random blob ids or the marker');
      const got = await up.send(new GetObjectCommand({ Bucket: srv.upstreamBucket!, Key: o.Key! }));
      const bytes = await collect(got.Body);
      for (const needle of [KEY, BUCKET, META_VALUE, CTYPE, BODY])
        assert.ok(!bytes.includes(Buffer.from(needle)), `${needle} in clear upstream`);
      assert.equal(got.ContentType, 'application/octet-stream');
      assert.deepEqual(got.Metadata ?? {}, {});
    }
  });

  test('a sealed value edited with SQL → 500 with a log line, never served; restored → served', async () => {
    const row = await newestRow(KEY);
    const edited = Buffer.from(row.v);
    edited[edited.length - 20]! ^= 0x01;
    await setValue(row.k, edited);
    assert.equal(await status(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: KEY }))), 500);
    assert.equal(await status(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }))), 500);
    assert.ok(
      srv.stdout.some((l) => l.includes('failed authentication')),
      'a clear log line',
    );
    await setValue(row.k, row.v);
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }))).Body)).toString(), BODY);
  });

  test('two values swapped between keys → 500 for both (listing rows too)', async () => {
    const a = await newestRow(KEY);
    const b = await newestRow('other');
    await setValue(a.k, b.v);
    await setValue(b.k, a.v);
    assert.equal(await status(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: KEY }))), 500);
    assert.equal(await status(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'other' }))), 500);
    await setValue(a.k, a.v);
    await setValue(b.k, b.v);
    const la = keys.latest(BUCKET, KEY);
    const lb = keys.latest(BUCKET, 'other');
    const [va, vb] = await Promise.all(
      [la, lb].map(async (k) => (await db.query('SELECT v FROM kura_meta WHERE k = $1', [k])).rows[0].v as Buffer),
    );
    await setValue(la, vb!);
    await setValue(lb, va!);
    assert.equal(await status(s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))), 500);
    await setValue(la, va!);
    await setValue(lb, vb!);
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount, 2);
  });

  test('an older value of a key replayed (version row, null-version pointer, latest copy) → the current data, never the old', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'replayed', Body: 'first' }));
    const r = prefixRange(keys.versionsOf(BUCKET, 'replayed'));
    const old = (
      await db.query('SELECT k, v FROM kura_meta WHERE (k >= $1 AND k < $2) OR k = $3 OR k = $4', [
        r.start,
        r.end,
        keys.nullVersion(BUCKET, 'replayed'),
        keys.latest(BUCKET, 'replayed'),
      ])
    ).rows as { k: Buffer; v: Buffer }[];
    assert.equal(old.length, 3);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'replayed', Body: 'second' }));
    for (const row of old)
      await db.query('INSERT INTO kura_meta (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v', [row.k, row.v]);
    let got: string | number;
    try {
      got = (await collect((await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'replayed' }))).Body)).toString();
    } catch (e) {
      got = (e as S3ServiceException).$metadata.httpStatusCode ?? 0;
    }
    assert.ok(got === 'second' || got === 500, `replayed rows served: ${got}`);
    assert.notEqual(got, 'first');
  });
});

describe('core backend (PostgreSQL) against the model: listings with versions and delete markers', () => {
  let core: CoreBackend;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kura-prop-pg-'));
    const rootKey = randomBytes(32);
    core = await CoreBackend.open(
      await PgMetaStore.open({ url: await pgServer.createDatabase() }),
      await FsBlobStore.open(join(dir, 'blobs')),
      rootKey,
    );
  });
  after(async () => {
    await core?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('ListObjects and ListObjectVersions pages (prefix, delimiter, markers) match the model', async () => {
    await coreListingProperty(core, 20);
  });
});
