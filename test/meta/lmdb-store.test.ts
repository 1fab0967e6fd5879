// The embedded metadata engine on its own: serializable optimistic transactions (concurrent
// read-modify-writes lose nothing), scans over own writes, snapshot reads, and encrypted pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import { component, keys, readComponent } from '../../src/storage/meta/keys.ts';
import { compareKeys } from '../../src/storage/key-order.ts';
import fc from 'fast-check';

const k = (s: string) => Buffer.from(s);

test('concurrent read-modify-write transactions are serializable (no lost update)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kura-lmdb-'));
  const store = await LmdbStore.open(join(dir, 'meta'), randomBytes(32));
  try {
    await Promise.all(
      Array.from({ length: 50 }, () =>
        store.write(async (tx) => {
          const v = await tx.get(k('counter'));
          await new Promise((r) => setImmediate(r));
          tx.put(k('counter'), Buffer.from(String(Number(v?.toString() ?? '0') + 1)));
        }),
      ),
    );
    assert.equal((await store.read((tx) => tx.get(k('counter'))))?.toString(), '50');
    assert.ok(store.retries > 0, 'the interleaved transactions conflicted and were retried');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('scans see own writes and deletes, limits and reverse hold; files are encrypted and 0600', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kura-lmdb-'));
  const store = await LmdbStore.open(join(dir, 'meta'), randomBytes(32));
  try {
    await store.write(async (tx) => {
      for (const s of ['a', 'b', 'c', 'd', 'secret-key-name-xyzzy']) tx.put(k(s), k(`value of ${s}`));
    });
    const got = await store.write(async (tx) => {
      tx.delete(k('b'));
      tx.put(k('bb'), k('new'));
      const fwd = (await tx.scan({ start: k('a'), end: k('d'), limit: 3 })).map((e) => e.key.toString());
      const rev = (await tx.scan({ start: k('a'), end: k('d'), limit: 2, reverse: true })).map((e) => e.key.toString());
      return { fwd, rev };
    });
    assert.deepEqual(got, { fwd: ['a', 'bb', 'c'], rev: ['c', 'bb'] });
    const all = await store.read((tx) => tx.scan({ start: k(''), end: k('\xff') }));
    assert.deepEqual(
      all.map((e) => e.key.toString()),
      ['a', 'bb', 'c', 'd', 'secret-key-name-xyzzy'],
    );
    await store.close();
    for (const f of await readdir(join(dir, 'meta'))) {
      const content = await readFile(join(dir, 'meta', f));
      assert.equal(content.includes(k('secret-key-name-xyzzy')), false, `${f} shows a key in clear`);
      assert.equal((await stat(join(dir, 'meta', f))).mode & 0o777, 0o600, f);
    }
    assert.equal((await stat(join(dir, 'meta'))).mode & 0o777, 0o700);
  } finally {
    await store.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});

test('the tuple encoding sorts like S3 (UTF-8 bytes), component by component, NUL included', () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'grapheme-composite' }), { minLength: 2, maxLength: 2 }),
      fc.string({ unit: fc.constantFrom('a', '\0', '/', 'é', '😀') }),
      fc.string({ unit: fc.constantFrom('a', '\0', '/') }),
      ([x, y], p, q) => {
        for (const [a, b] of [
          [x!, y!],
          [p, q],
          [p, p + q],
          [`${p}\0`, p],
        ] as const) {
          const ka = Buffer.concat([keys.latest('bkt', a), component('t')]);
          const kb = Buffer.concat([keys.latest('bkt', b), component('t')]);
          assert.equal(Math.sign(Buffer.compare(ka, kb)), Math.sign(compareKeys(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
          assert.equal(readComponent(component(a), 0).value, a);
        }
      },
    ),
  );
});
