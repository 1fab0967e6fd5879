// Tampering with what the server stores: a flipped bit, a truncated file, two swapped chunks (data
// files), and changed metadata. A GET must fail with an error, never return wrong plaintext; ranges that
// do not touch the damage still read (only covering chunks are decrypted).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, truncate, rm } from 'node:fs/promises';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { newKey, ssecHeaders, raw, blobPaths } from './helpers.ts';
import { rewriteNewest, storedRecord } from '../helpers/meta.ts';

const CHUNK = 65536;
const STORED = CHUNK + 16;

describe('tampered stored objects', () => {
  let srv: KuraServer;
  const bucket = 'sse-tamper';
  const k = newKey();
  const data = randomBytes(5 * CHUNK + 1234);

  /** GET outcome: status and the body bytes received before the end or the failure. */
  async function fetchObject(
    key: string,
    headers: Record<string, string>,
    range?: string,
  ): Promise<{ status: number; body: Buffer; complete: boolean }> {
    try {
      const r = await raw(srv, 'GET', `/${bucket}/${key}`, { headers: range ? { ...headers, range } : headers });
      return { status: r.status, body: r.body, complete: true };
    } catch {
      return { status: 0, body: Buffer.alloc(0), complete: false }; // connection cut mid-body
    }
  }

  /** The GET fails: an error status, or a cut body; whatever arrived is a correct prefix and never the whole. */
  async function assertFails(key: string, headers: Record<string, string>, what: string): Promise<void> {
    const r = await fetchObject(key, headers);
    if (r.complete && r.status === 200) {
      assert.ok(r.body.length < data.length, `${what}: a complete 200 body was returned`);
      assert.deepEqual(r.body, data.subarray(0, r.body.length), `${what}: released bytes are wrong`);
    } else if (r.complete) {
      assert.equal(r.status, 500, `${what}: ${r.body.toString()}`);
      assert.match(r.body.toString(), /<Code>InternalError<\/Code>/);
    }
  }

  async function withTampered(key: string, change: (blob: Buffer) => Buffer | 'truncate', check: () => Promise<void>): Promise<void> {
    const [path] = await blobPaths(srv.dataDir, bucket, key);
    const original = await readFile(path!);
    try {
      const next = change(Buffer.from(original));
      if (next === 'truncate') await truncate(path!, original.length - 1000);
      else await writeFile(path!, next);
      await check();
    } finally {
      await writeFile(path!, original);
    }
  }

  before(async () => {
    srv = await startKura();
    assert.equal((await raw(srv, 'PUT', `/${bucket}`)).status, 200);
    assert.equal((await raw(srv, 'PUT', `/${bucket}/c`, { body: data, headers: ssecHeaders(k) })).status, 200);
    assert.equal((await raw(srv, 'PUT', `/${bucket}/s`, { body: data })).status, 200);
  });
  after(async () => {
    const dir = srv.dataDir;
    await srv.stop();
    await rm(dir, { recursive: true, force: true }); // restarted on a given dir: stop() keeps it
  });

  for (const [key, headers] of [
    ['c', () => ssecHeaders(k)],
    ['s', () => ({})],
  ] as const) {
    test(`${key === 'c' ? 'SSE-C' : 'SSE-S3'}: flipped bits in the first and a later chunk`, async () => {
      assert.deepEqual((await fetchObject(key, headers())).body, data);
      for (const at of [5, 3 * STORED + 100, 5 * STORED + 1234 + 15 /* last tag byte */]) {
        await withTampered(
          key,
          (b) => {
            b[at]! ^= 0x01;
            return b;
          },
          async () => {
            await assertFails(key, headers(), `bit at ${at}`);
            if (at > STORED) {
              // A range before the damage still reads: only the covering chunks are opened.
              const r = await fetchObject(key, headers(), `bytes=0-${CHUNK - 1}`);
              assert.equal(r.status, 206);
              assert.deepEqual(r.body, data.subarray(0, CHUNK));
            }
          },
        );
        if (at === 5) {
          // First-chunk damage is caught before the response starts: a clean 500.
          await withTampered(
            key,
            (b) => {
              b[at]! ^= 0x01;
              return b;
            },
            async () => {
              const r = await fetchObject(key, headers());
              assert.equal(r.status, 500);
            },
          );
        }
      }
      assert.deepEqual((await fetchObject(key, headers())).body, data);
    });

    test(`${key === 'c' ? 'SSE-C' : 'SSE-S3'}: truncated file, swapped chunks, duplicated chunk, appended bytes`, async () => {
      await withTampered(
        key,
        () => 'truncate',
        () => assertFails(key, headers(), 'truncated'),
      );
      await withTampered(
        key,
        (b) =>
          Buffer.concat([
            b.subarray(0, STORED),
            b.subarray(2 * STORED, 3 * STORED),
            b.subarray(STORED, 2 * STORED),
            b.subarray(3 * STORED),
          ]),
        () => assertFails(key, headers(), 'swapped 1 and 2'),
      );
      await withTampered(
        key,
        (b) => Buffer.concat([b.subarray(STORED, 2 * STORED), b.subarray(0, STORED), b.subarray(2 * STORED)]),
        () => assertFails(key, headers(), 'swapped 0 and 1'),
      );
      await withTampered(
        key,
        (b) => Buffer.concat([b.subarray(0, 2 * STORED), b.subarray(STORED, 2 * STORED), b.subarray(3 * STORED)]),
        () => assertFails(key, headers(), 'chunk 1 in place of chunk 2'),
      );
      // Bytes appended after the last chunk are never read (the stored size is in the metadata); the object still reads correctly.
      await withTampered(
        key,
        (b) => Buffer.concat([b, randomBytes(16)]),
        async () => {
          assert.deepEqual((await fetchObject(key, headers())).body, data);
        },
      );
    });
  }

  test('small object (read whole before answering): damage anywhere → clean 500', async () => {
    const small = randomBytes(3 * CHUNK + 5);
    assert.equal((await raw(srv, 'PUT', `/${bucket}/small`, { body: small, headers: ssecHeaders(k) })).status, 200);
    for (const at of [0, STORED + 7, 3 * STORED + 4]) {
      await withTampered(
        'small',
        (b) => {
          b[at]! ^= 0x40;
          return b;
        },
        async () => {
          const r = await fetchObject('small', ssecHeaders(k));
          assert.equal(r.status, 500, `bit at ${at}`);
        },
      );
    }
    await withTampered(
      'small',
      () => 'truncate',
      async () => assert.equal((await fetchObject('small', ssecHeaders(k))).status, 500),
    );
    assert.deepEqual((await fetchObject('small', ssecHeaders(k))).body, small);
  });

  test("another object's data file in place of this one fails", async () => {
    const [c] = await blobPaths(srv.dataDir, bucket, 'c');
    const s = await readFile((await blobPaths(srv.dataDir, bucket, 's'))[0]!);
    await withTampered(
      'c',
      () => s,
      () => assertFails('c', ssecHeaders(k), 'foreign blob'),
    );
    assert.ok(c);
  });

  test("metadata: another object's sealed key, nonce or size → 500 after a restart, never wrong bytes", async () => {
    const dir = srv.dataDir;
    await srv.stop({ keepData: true });
    // Records are sealed (storage/meta/records.ts); this rewrites them as a holder of the root key could, to
    // show the SSE layer binds each sealed DEK and nonce to its own object as well.
    type Enc = { sealedKey: string; nonce: string };
    const sMeta = await storedRecord(dir, bucket, 's');
    const cMeta = await storedRecord(dir, bucket, 'c');
    // s2: same layout, but the sealed DEK is taken from object c (bound to c/… and its key).
    await rewriteNewest(dir, bucket, 's', (rec) => {
      (rec.parts[0]!.encryption as Enc).sealedKey = (cMeta.parts[0]!.encryption as Enc).sealedKey;
      return rec;
    });
    srv = await startKura({ dataDir: dir });
    try {
      const r = await fetchObject('s', {});
      assert.equal(r.status, 500);
      await srv.stop({ keepData: true });
      await rewriteNewest(dir, bucket, 's', (rec) => {
        rec.parts[0]!.encryption = { ...(sMeta.parts[0]!.encryption as Enc), nonce: Buffer.alloc(12).toString('base64') };
        return rec;
      });
      srv = await startKura({ dataDir: dir });
      assert.equal((await fetchObject('s', {})).status, 500);
    } finally {
      await srv.stop({ keepData: true });
      await rewriteNewest(dir, bucket, 's', () => sMeta);
      srv = await startKura({ dataDir: dir });
    }
    assert.deepEqual((await fetchObject('s', {})).body, data);
  });
});
