// The metadata at rest through a real server: no key name, user metadata value or content type in
// clear in the data dir; files 0600 and dirs 0700; a sealed row edited, moved to another key, or an
// older row replayed → HEAD/GET answer 500 (logged) or the current data, never the altered record.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { withMeta } from '../helpers/meta.ts';
import { keys, prefixRange } from '../../src/storage/meta/keys.ts';

const KEY = 'secret-name-q7Zk/report.pdf';
const META_VALUE = 'value-zz9Yw-private';
const CTYPE = 'application/x-secret-ct-3fQ';

async function walk(dir: string): Promise<{ path: string; dir: boolean }[]> {
  const out: { path: string; dir: boolean }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push({ path: p, dir: e.isDirectory() });
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof S3ServiceException) return e.$metadata.httpStatusCode ?? 0;
    throw e;
  }
}

/** The raw (sealed) newest version row of a key. */
async function newestRow(dataDir: string, bucket: string, key: string): Promise<{ key: Buffer; value: Buffer }> {
  return withMeta(dataDir, (store) =>
    store.read(async (tx) => (await tx.scan({ ...prefixRange(keys.versionsOf(bucket, key)), limit: 1 }))[0]!),
  );
}

async function putRaw(dataDir: string, rows: { key: Buffer; value: Buffer }[]): Promise<void> {
  await withMeta(dataDir, (store) =>
    store.write(async (tx) => {
      for (const r of rows) tx.put(r.key, r.value);
    }),
  );
}

describe('sealed metadata at rest', () => {
  let srv: KuraServer;
  let s3: S3Client;
  let dataDir: string;
  const bucket = 'sealed';
  const restart = async (): Promise<void> => {
    srv = await startKura({ dataDir });
    s3 = srv.client();
  };

  before(async () => {
    srv = await startKura();
    dataDir = srv.dataDir;
    s3 = srv.client();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: KEY, Body: 'the real content', ContentType: CTYPE, Metadata: { colour: META_VALUE } }),
    );
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'other', Body: 'other content', ContentType: 'text/plain' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'replayed', Body: 'first' }));
  });
  after(async () => {
    await srv.stop();
  });

  test('key names, metadata values and content types are nowhere in clear; files 0600, dirs 0700', async () => {
    await srv.stop({ keepData: true });
    const entries = await walk(dataDir);
    for (const e of entries) {
      const st = await stat(e.path);
      assert.equal(st.mode & 0o777, e.dir ? 0o700 : 0o600, `${e.path} mode ${(st.mode & 0o777).toString(8)}`);
      if (e.dir) continue;
      const content = await readFile(e.path);
      for (const needle of [KEY, 'secret-name-q7Zk', META_VALUE, CTYPE]) {
        for (const enc of ['utf8', 'utf16le'] as const)
          assert.equal(content.includes(Buffer.from(needle, enc)), false, `${needle} in clear in ${e.path}`);
      }
    }
    assert.ok(
      entries.some((e) => e.path.endsWith('data.mdb')),
      'the LMDB file was scanned',
    );
    await restart();
  });

  test('an edited sealed record → 500 with a log line, never served', async () => {
    await srv.stop({ keepData: true });
    const row = await newestRow(dataDir, bucket, KEY);
    const edited = Buffer.from(row.value);
    edited[edited.length - 20]! ^= 0x01;
    await putRaw(dataDir, [{ key: row.key, value: edited }]);
    await restart();
    assert.equal(await status(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: KEY }))), 500);
    assert.equal(await status(s3.send(new GetObjectCommand({ Bucket: bucket, Key: KEY }))), 500);
    assert.ok(
      srv.stdout.some((l) => l.includes('failed authentication')),
      'a clear log line',
    );
    await srv.stop({ keepData: true });
    await putRaw(dataDir, [row]);
    await restart();
    assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: KEY }))).Body)).toString(), 'the real content');
  });

  test('a record moved to another key (swap) → 500 for both', async () => {
    await srv.stop({ keepData: true });
    const a = await newestRow(dataDir, bucket, KEY);
    const b = await newestRow(dataDir, bucket, 'other');
    await putRaw(dataDir, [
      { key: a.key, value: b.value },
      { key: b.key, value: a.value },
    ]);
    await restart();
    assert.equal(await status(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: KEY }))), 500);
    assert.equal(await status(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'other' }))), 500);
    await srv.stop({ keepData: true });
    await putRaw(dataDir, [a, b]);
    await restart();
  });

  test('replaying an older record of a key serves the current data (versions are immutable rows)', async () => {
    await srv.stop({ keepData: true });
    const old = await withMeta(dataDir, (store) =>
      store.read(async (tx) => {
        const rows = [...(await tx.scan(prefixRange(keys.versionsOf(bucket, 'replayed'))))];
        for (const k of [keys.nullVersion(bucket, 'replayed'), keys.latest(bucket, 'replayed')])
          rows.push({ key: k, value: (await tx.get(k))! });
        return rows;
      }),
    );
    await restart();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'replayed', Body: 'second' }));
    await srv.stop({ keepData: true });
    // The old version row comes back, and the pointers that named it (null version, latest copy).
    await putRaw(dataDir, old);
    await restart();
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'replayed' }));
    assert.equal((await collect(r.Body)).toString(), 'second');
  });
});
