// The MetaStore conformance suite: what every metadata engine must do, run by each engine's test file.
//
//   metaStoreConformance('lmdb', () => LmdbMetaStore.open(dir));
//
// `open` must return a store over the same data each time it is called (the last test closes the store
// and opens it again). Each test writes under its own random key prefix, so the store need not be empty
// and tests never see each other's keys.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { MetaStore, MetaTx } from '../../src/storage/meta/meta-store.ts';

/** A fresh key space: keys are P‖0x00‖suffix, the whole space is [P‖0x00, P‖0x01). */
export function keySpace() {
  const p = randomBytes(8);
  const key = (...suffix: (number[] | string)[]) => Buffer.concat([p, Buffer.from([0x00]), ...suffix.map((s) => Buffer.from(s as never))]);
  return { key, start: Buffer.concat([p, Buffer.from([0x00])]), end: Buffer.concat([p, Buffer.from([0x01])]) };
}

/** Lets `n` parties wait for each other once (first attempt of each transaction); never longer than `ms`. */
export function barrier(n: number, ms = 500): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => {
    release = r;
  });
  const timer = setTimeout(release, ms);
  return () => {
    if (++arrived >= n) {
      clearTimeout(timer);
      release();
    }
    return all;
  };
}

const hex = (b: Buffer | undefined) => b?.toString('hex');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** Read-increment-write of a 4-byte big-endian counter; resolves with the new value. */
export function increment(store: MetaStore, key: Buffer): Promise<number> {
  return store.write(async (tx) => {
    const cur = await tx.get(key);
    const next = (cur ? cur.readUInt32BE() : 0) + 1;
    tx.put(key, u32(next));
    return next;
  });
}

export function metaStoreConformance(name: string, open: () => Promise<MetaStore>): void {
  describe(`MetaStore conformance: ${name}`, () => {
    let store: MetaStore;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    const get = (key: Buffer) => store.read((tx) => tx.get(key));
    const all = (s: { start: Buffer; end: Buffer }) => store.read((tx) => tx.scan({ start: s.start, end: s.end }));

    test('point get, put, overwrite, delete', async () => {
      const ks = keySpace();
      const a = ks.key('a');
      assert.equal(await get(a), undefined);
      await store.write(async (tx) => {
        tx.put(a, Buffer.from('one'));
      });
      assert.equal((await get(a))?.toString(), 'one');
      await store.write(async (tx) => {
        tx.put(a, Buffer.from('two'));
      });
      assert.equal((await get(a))?.toString(), 'two');
      await store.write(async (tx) => {
        tx.delete(a);
        tx.delete(ks.key('never-written'));
      });
      assert.equal(await get(a), undefined);
      // An empty value is a value, not an absence.
      await store.write(async (tx) => {
        tx.put(a, Buffer.alloc(0));
      });
      assert.deepEqual(await get(a), Buffer.alloc(0));
      assert.equal(store.engine.length > 0, true);
    });

    test('write resolves with what fn returns', async () => {
      assert.deepEqual(await store.write(async () => ({ answer: 42 })), { answer: 42 });
      assert.equal(await store.read(async () => 'r'), 'r');
    });

    test('binary keys with 0x00 and 0xFF bytes keep unsigned byte order, and each is distinct', async () => {
      const ks = keySpace();
      const suffixes = [[], [0x00], [0x00, 0x00], [0x00, 0xff], [0x01], [0x7f], [0x80], [0xc3, 0xa9], [0xff], [0xff, 0x00], [0xff, 0xff]];
      const keys = suffixes.map((s) => ks.key(s));
      const shuffled = keys.map((k, i) => ({ k, i })).sort(() => Math.random() - 0.5);
      await store.write(async (tx) => {
        for (const { k, i } of shuffled) tx.put(k, Buffer.from([i]));
      });
      const got = await all(ks);
      assert.deepEqual(
        got.map((e) => hex(e.key)),
        keys.map(hex),
        'ascending memcmp order',
      );
      assert.deepEqual(
        got.map((e) => e.value[0]),
        suffixes.map((_, i) => i),
      );
      for (const [i, k] of keys.entries()) assert.deepEqual(await get(k), Buffer.from([i]), `key ${hex(k)}`);
      // A prefix of a key is another key: deleting [0x00] leaves [0x00 0x00].
      await store.write(async (tx) => {
        tx.delete(ks.key([0x00]));
      });
      assert.equal(await get(ks.key([0x00])), undefined);
      assert.deepEqual(await get(ks.key([0x00, 0x00])), Buffer.from([2]));
    });

    test('scans: inclusive start, exclusive end, ascending and descending, limit', async () => {
      const ks = keySpace();
      const names = ['a', 'b', 'c', 'd', 'e', 'f'];
      await store.write(async (tx) => {
        for (const n of names) tx.put(ks.key(n), Buffer.from(n.toUpperCase()));
      });
      const scan = (o: { start: Buffer; end: Buffer; limit?: number; reverse?: boolean }) =>
        store.read((tx) => tx.scan(o)).then((es) => es.map((e) => e.key.subarray(9).toString() + '=' + e.value.toString()));
      assert.deepEqual(await scan(ks), ['a=A', 'b=B', 'c=C', 'd=D', 'e=E', 'f=F']);
      assert.deepEqual(await scan({ start: ks.key('b'), end: ks.key('e') }), ['b=B', 'c=C', 'd=D'], 'start inclusive, end exclusive');
      assert.deepEqual(
        await scan({ start: ks.key('b'), end: ks.key('e'), reverse: true }),
        ['d=D', 'c=C', 'b=B'],
        'descending from below end',
      );
      assert.deepEqual(await scan({ ...ks, limit: 2 }), ['a=A', 'b=B']);
      assert.deepEqual(await scan({ ...ks, limit: 2, reverse: true }), ['f=F', 'e=E']);
      assert.deepEqual(await scan({ start: ks.key('bb'), end: ks.key('dd') }), ['c=C', 'd=D'], 'bounds between keys');
      assert.deepEqual(await scan({ ...ks, limit: 100 }), ['a=A', 'b=B', 'c=C', 'd=D', 'e=E', 'f=F']);
      assert.deepEqual(await scan({ ...ks, limit: 0 }), []);
      assert.deepEqual(await scan({ start: ks.key('c'), end: ks.key('c') }), [], 'empty range');
      assert.deepEqual(await scan({ start: ks.key('d'), end: ks.key('c') }), [], 'inverted range');
      // Paging the way a listing does: start after the last key seen.
      const pages: string[][] = [];
      let from = ks.start;
      for (;;) {
        const page = await store.read((tx) => tx.scan({ start: from, end: ks.end, limit: 4 }));
        if (!page.length) break;
        pages.push(page.map((e) => e.key.subarray(9).toString()));
        from = Buffer.concat([page[page.length - 1]!.key, Buffer.from([0x00])]);
      }
      assert.deepEqual(pages, [
        ['a', 'b', 'c', 'd'],
        ['e', 'f'],
      ]);
    });

    test('a transaction reads its own writes, in gets and scans', async () => {
      const ks = keySpace();
      await store.write(async (tx) => {
        tx.put(ks.key('b'), Buffer.from('old'));
        tx.put(ks.key('c'), Buffer.from('c'));
      });
      const seen = await store.write(async (tx) => {
        const out: string[] = [];
        tx.put(ks.key('a'), Buffer.from('a'));
        tx.put(ks.key('b'), Buffer.from('new'));
        tx.delete(ks.key('c'));
        out.push(String(await tx.get(ks.key('a'))), String(await tx.get(ks.key('b'))), String(await tx.get(ks.key('c'))));
        out.push((await tx.scan(ks)).map((e) => e.value.toString()).join(','));
        tx.put(ks.key('c'), Buffer.from('again'));
        tx.delete(ks.key('a'));
        out.push((await tx.scan({ ...ks, reverse: true })).map((e) => e.value.toString()).join(','));
        // Reads issued together inside one transaction.
        const [x, y, z] = await Promise.all([tx.get(ks.key('b')), tx.scan({ ...ks, limit: 1 }), tx.get(ks.key('a'))]);
        out.push(`${x}|${y.map((e) => e.value.toString())}|${z}`);
        return out;
      });
      assert.deepEqual(seen, ['a', 'new', 'undefined', 'a,new', 'again,new', 'new|new|undefined']);
      assert.deepEqual(
        (await all(ks)).map((e) => e.value.toString()),
        ['new', 'again'],
      );
    });

    test('atomicity: a transaction that throws leaves nothing behind', async () => {
      const ks = keySpace();
      await store.write(async (tx) => {
        tx.put(ks.key('keep'), Buffer.from('v1'));
      });
      const boom = new Error('boom');
      await assert.rejects(
        store.write(async (tx) => {
          tx.put(ks.key('keep'), Buffer.from('v2'));
          for (let i = 0; i < 50; i++) tx.put(ks.key(`x${i}`), Buffer.from('x'));
          await tx.scan(ks); // the writes have reached the engine's transaction by now
          tx.delete(ks.key('keep'));
          await tx.get(ks.key('keep'));
          throw boom;
        }),
        (err) => err === boom,
      );
      assert.deepEqual(
        (await all(ks)).map((e) => e.value.toString()),
        ['v1'],
      );
    });

    test('read transactions refuse writes', async () => {
      const ks = keySpace();
      await assert.rejects(
        store.read(async (tx) => {
          tx.put(ks.key('a'), Buffer.from('a'));
        }),
      );
      await assert.rejects(
        store.read(async (tx) => {
          tx.delete(ks.key('a'));
        }),
      );
      assert.equal(await get(ks.key('a')), undefined);
    });

    test('a read transaction is one snapshot: a write committed meanwhile is not seen by it', async () => {
      const ks = keySpace();
      await store.write(async (tx) => {
        tx.put(ks.key('a'), Buffer.from('v1'));
      });
      const seen = await store.read(async (tx) => {
        const before = String(await tx.get(ks.key('a')));
        await store.write(async (w) => {
          w.put(ks.key('a'), Buffer.from('v2'));
          w.put(ks.key('b'), Buffer.from('b'));
        });
        const after = String(await tx.get(ks.key('a')));
        const scanned = (await tx.scan(ks)).map((e) => e.value.toString()).join(',');
        return [before, after, scanned];
      });
      assert.deepEqual(seen, ['v1', 'v1', 'v1']);
      assert.equal((await get(ks.key('a')))?.toString(), 'v2');
    });

    test('serializable: N concurrent read-increment-write transactions on one counter end at exactly N', async () => {
      const ks = keySpace();
      const n = 16;
      const results = await Promise.all(Array.from({ length: n }, () => increment(store, ks.key('counter'))));
      assert.equal((await get(ks.key('counter')))?.readUInt32BE(), n);
      assert.deepEqual(
        results.sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => i + 1),
        'each saw a distinct value',
      );
    });

    test('serializable: two "check the range is empty, then insert" transactions — only one inserts', async () => {
      const ks = keySpace();
      const bothRead = barrier(2);
      const claim = (who: string) =>
        store.write(async (tx: MetaTx) => {
          const existing = await tx.scan({ start: ks.key('lock/'), end: ks.key('lock0') });
          await bothRead();
          if (existing.length) return false;
          tx.put(ks.key(`lock/${who}`), Buffer.from(who));
          return true;
        });
      const won = await Promise.all([claim('one'), claim('two')]);
      assert.deepEqual(won.filter(Boolean).length, 1, `exactly one claim wins: ${won}`);
      assert.equal((await all(ks)).length, 1);
    });

    test('serializable: write skew is prevented', async () => {
      // Invariant x + y >= 1; each transaction may zero one of them only if both are 1.
      const ks = keySpace();
      const x = ks.key('x');
      const y = ks.key('y');
      await store.write(async (tx) => {
        tx.put(x, u32(1));
        tx.put(y, u32(1));
      });
      const bothRead = barrier(2);
      const zero = (target: Buffer) =>
        store.write(async (tx) => {
          const sum = (await tx.get(x))!.readUInt32BE() + (await tx.get(y))!.readUInt32BE();
          await bothRead();
          if (sum === 2) tx.put(target, u32(0));
        });
      await Promise.all([zero(x), zero(y)]);
      const sum = (await get(x))!.readUInt32BE() + (await get(y))!.readUInt32BE();
      assert.equal(sum, 1);
    });

    test('large values (64 KiB) and many writes in one transaction', async () => {
      const ks = keySpace();
      const big = randomBytes(64 * 1024);
      await store.write(async (tx) => {
        tx.put(ks.key('big'), big);
      });
      assert.ok((await get(ks.key('big')))!.equals(big));
      const n = 2500;
      await store.write(async (tx) => {
        for (let i = 0; i < n; i++) tx.put(ks.key(`m/${String(i).padStart(5, '0')}`), u32(i));
      });
      const got = await store.read((tx) => tx.scan({ start: ks.key('m/'), end: ks.key('m0') }));
      assert.equal(got.length, n);
      assert.ok(got.every((e, i) => e.value.readUInt32BE() === i && e.key.subarray(11).toString() === String(i).padStart(5, '0')));
    });

    test('committed writes survive closing and reopening the store', async () => {
      const ks = keySpace();
      await store.write(async (tx) => {
        tx.put(ks.key('durable'), Buffer.from('yes'));
      });
      await store.close();
      store = await open();
      assert.equal((await get(ks.key('durable')))?.toString(), 'yes');
    });
  });
}
