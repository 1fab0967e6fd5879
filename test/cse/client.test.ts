// The encrypting client against a real `kura server` on loopback (and Kura's KMS on the same port).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { KMS } from '@aws-sdk/client-kms';
import { startKura, collect, type KuraServer } from '../helpers/server.ts';
import { CseClient } from '../../src/cse/client.ts';
import { aesKey, kmsKey, rsaKey, type AesMasterKey, type KmsMasterKey, type MasterKey, type RsaMasterKey } from '../../src/cse/keys.ts';
import type { CseFormat } from '../../src/cse/format.ts';
import { CseError } from '../../src/cse/errors.ts';
import { aesBytes, rsaPem } from './helpers.ts';

const MiB = 1024 * 1024;
let srv: KuraServer;
let s3: S3Client;
let kms: KMS;
let dir: string;
let keys: { rsa: RsaMasterKey; aes: AesMasterKey; kms: KmsMasterKey };
const Bucket = 'cse-client';
const pair = rsaPem();

before(async () => {
  srv = await startKura();
  s3 = srv.client();
  kms = new KMS({ endpoint: srv.endpoint, region: 'us-east-1', credentials: { ...srv.credentials } });
  const k = await kms.createKey({ Description: 'cse test' });
  keys = { rsa: rsaKey(pair.privatePem), aes: aesKey(aesBytes()), kms: kmsKey(k.KeyMetadata!.Arn!, kms) };
  await s3.send(new CreateBucketCommand({ Bucket }));
  dir = await mkdtemp(join(tmpdir(), 'kura-cse-'));
});
after(async () => {
  await srv?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const client = (format: CseFormat, ks: MasterKey[], o: Partial<ConstructorParameters<typeof CseClient>[0]> = {}) =>
  new CseClient({ s3, keys: ks, format, partSize: 5 * MiB, multipartThreshold: 6 * MiB, concurrency: 3, ...o });

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('round trips in every format with each kind of master key', () => {
  for (const format of ['esdk', 's3ec', 'oss', 'kura'] as const) {
    for (const kind of ['rsa', 'aes', 'kms'] as const) {
      test(`${format} / ${kind}`, async () => {
        const c = client(format, [keys[kind]]);
        const data = randomBytes(100_000 + 17);
        const Key = `rt/${format}/${kind}`;
        await c.putObject(Bucket, Key, data, { Metadata: { owner: 'me' } });
        const raw = await s3.send(new GetObjectCommand({ Bucket, Key }));
        const stored = await collect(raw.Body);
        assert.notDeepEqual(stored.subarray(0, 1000), data.subarray(0, 1000));
        const got = await c.getObject(Bucket, Key);
        assert.deepEqual(await collect(got.Body), data);
        assert.equal(got.encryption?.format, format);
        assert.equal(got.Metadata.owner, 'me');
        const h = await c.headObject(Bucket, Key);
        assert.equal(h.encryption?.format, format);
      });
    }
  }
});

describe('multipart, ranges, resume', () => {
  const size = 3 * 5 * MiB + 12345;
  let file: string;
  let data: Buffer;
  before(async () => {
    data = randomBytes(size);
    file = join(dir, 'big.bin');
    await writeFile(file, data);
  });

  for (const format of ['esdk', 's3ec', 'oss', 'kura'] as const) {
    test(`${format}: a ${size}-byte file goes up in 4 parts and comes back; ranges decrypt only what was asked`, async () => {
      const c = client(format, [keys.rsa]);
      const Key = `mp/${format}`;
      let parts = 0;
      await c.uploadFile(file, Bucket, Key, { onPart: () => parts++ });
      assert.equal(parts, 4);
      const out = join(dir, `out-${format}`);
      const r = await c.downloadFile(Bucket, Key, out);
      assert.equal(r.size, size);
      assert.equal(sha(await readFile(out)), sha(data));
      for (const [s, e] of [
        [0, 99],
        [5 * MiB - 3, 5 * MiB + 70_000],
        [size - 10, size - 1],
      ] as const) {
        const g = await c.getObject(Bucket, Key, { range: { start: s, end: e } });
        assert.deepEqual(await collect(g.Body), data.subarray(s, e + 1), `${format} range ${s}-${e}`);
      }
    });
  }

  for (const format of ['s3ec', 'oss', 'kura'] as const) {
    test(`${format}: an interrupted upload resumes from its checkpoint, byte-identical`, async () => {
      const Key = `resume/${format}`;
      const checkpoint = join(dir, `cp-${format}.json`);
      const ac = new AbortController();
      const c1 = client(format, [keys.aes], { concurrency: 1 });
      await assert.rejects(
        c1.uploadFile(file, Bucket, Key, {
          checkpoint,
          signal: ac.signal,
          onPart: (n) => {
            if (n === 2) ac.abort();
          },
        }),
      );
      const cp = JSON.parse(await readFile(checkpoint, 'utf8'));
      assert.ok(cp.parts.length >= 1 && cp.parts.length < 4, `parts done before the crash: ${cp.parts.length}`);
      assert.ok(!JSON.stringify(cp).includes(keys.aes.key.toString('base64')));
      // A fresh client (as after a crash) with the same key finishes the job.
      const c2 = client(format, [keys.aes], { concurrency: 2 });
      let sent = 0;
      await c2.uploadFile(file, Bucket, Key, { checkpoint, onPart: () => sent++ });
      assert.equal(sent, 4 - cp.parts.length);
      await assert.rejects(readFile(checkpoint), { code: 'ENOENT' });
      const out = join(dir, `resumed-${format}`);
      await c2.downloadFile(Bucket, Key, out);
      assert.equal(sha(await readFile(out)), sha(data));
    });
  }

  test('a whole-object read is ranged GETs bound to the first ETag: an overwrite midway fails it, never mixes', async () => {
    const c = client('kura', [keys.aes], { concurrency: 1 });
    const data = randomBytes(3 * 5 * MiB);
    await c.putObject(Bucket, 'overwritten', data);
    const g = await c.getObject(Bucket, 'overwritten');
    const it = (g.Body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const first = (await it.next()).value as Buffer; // one authenticated chunk
    assert.ok(first.length > 0 && first.length <= MiB);
    assert.deepEqual(first, data.subarray(0, first.length));
    await c.putObject(Bucket, 'overwritten', randomBytes(3 * 5 * MiB));
    await assert.rejects(
      async () => {
        while (!(await it.next()).done);
      },
      (e: Error) => e.name === 'PreconditionFailed',
    );
    // Read again from the start: the new object, whole.
    assert.equal((await collect((await c.getObject(Bucket, 'overwritten')).Body)).length, 3 * 5 * MiB);
    // Every part arrives, whatever the number of requests open at once (plaintext: no decryptor to notice a gap).
    await s3.send(new PutObjectCommand({ Bucket, Key: 'plain-big', Body: data }));
    for (const concurrency of [1, 2, 5]) {
      assert.equal(
        sha(await collect((await client('kura', [keys.aes], { concurrency }).getObject(Bucket, 'plain-big')).Body)),
        sha(data),
        `concurrency ${concurrency}`,
      );
    }
  });

  test('a local file changed since the checkpoint is refused', async () => {
    const f = join(dir, 'changing.bin');
    await writeFile(f, data.subarray(0, 11 * MiB));
    const checkpoint = join(dir, 'cp-change.json');
    const ac = new AbortController();
    await assert.rejects(
      client('kura', [keys.rsa], { concurrency: 1 }).uploadFile(f, Bucket, 'changed', {
        checkpoint,
        signal: ac.signal,
        onPart: () => ac.abort(),
      }),
    );
    await utimes(f, new Date(), new Date(Date.now() + 5000));
    await assert.rejects(
      client('kura', [keys.rsa]).uploadFile(f, Bucket, 'changed', { checkpoint }),
      (e: Error) => e instanceof CseError && e.code === 'LocalFileChanged',
    );
  });

  test('an interrupted download resumes from its checkpoint', async () => {
    const c = client('kura', [keys.rsa], { partSize: 5 * MiB, concurrency: 1 });
    await c.uploadFile(file, Bucket, 'dl');
    const out = join(dir, 'dl.out');
    const checkpoint = join(dir, 'dl.cp');
    const ac = new AbortController();
    let seen = 0;
    const orig = s3.send.bind(s3);
    // Abort once two ranged GETs went through.
    const spy = new Proxy(s3, {
      get: (t, p) =>
        p === 'send'
          ? (cmd: unknown, o: unknown) => {
              if ((cmd as { input: { Range?: string } }).input.Range && ++seen === 3) ac.abort();
              return (orig as (a: unknown, b: unknown) => Promise<unknown>)(cmd, o);
            }
          : Reflect.get(t, p),
    });
    const c1 = new CseClient({ s3: spy, keys: [keys.rsa], partSize: 5 * MiB, concurrency: 1 });
    await assert.rejects(c1.downloadFile(Bucket, 'dl', out, { checkpoint, signal: ac.signal }));
    await assert.rejects(readFile(out), { code: 'ENOENT' });
    const cp = JSON.parse(await readFile(checkpoint, 'utf8'));
    assert.ok(cp.done.length >= 1 && cp.done.length < 4);
    await c.downloadFile(Bucket, 'dl', out, { checkpoint });
    assert.equal(sha(await readFile(out)), sha(data));
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('dl.out.')),
      [],
    );
  });
});

describe('several keys, tampering, server-side options', () => {
  test('decryption picks the key by material description; a missing one is named', async () => {
    const other = rsaPem(1024);
    const k1 = rsaKey(pair.privatePem, { description: { team: 'a' } });
    const k2 = rsaKey(other.privatePem, { description: { team: 'b' } });
    for (const format of ['s3ec', 'oss', 'kura'] as const) {
      await client(format, [k2]).putObject(Bucket, `multi/${format}`, Buffer.from('for team b'));
      const got = await client(format, [k1, keys.aes, k2]).getObject(Bucket, `multi/${format}`);
      assert.equal((await collect(got.Body)).toString(), 'for team b');
      await assert.rejects(
        client(format, [k1]).getObject(Bucket, `multi/${format}`),
        (e: Error) => e instanceof CseError && e.code === 'NoMatchingKey' && e.message.includes('"team":"b"'),
      );
    }
  });

  for (const format of ['esdk', 's3ec', 'oss', 'kura'] as const) {
    test(`${format}: a flipped bit in the body or metadata fails and leaves no output file`, async () => {
      const c = client(format, [keys.rsa]);
      const data = randomBytes(50_000);
      const Key = `tamper/${format}`;
      await c.putObject(Bucket, Key, data);
      const raw = await s3.send(new GetObjectCommand({ Bucket, Key }));
      const body = await collect(raw.Body);
      const meta = raw.Metadata ?? {};
      body[body.length >> 1]! ^= 1;
      await s3.send(new PutObjectCommand({ Bucket, Key: `${Key}-body`, Body: body, Metadata: meta }));
      const out = join(dir, `tampered-${format}`);
      await assert.rejects(c.downloadFile(Bucket, `${Key}-body`, out));
      await assert.rejects(readFile(out), { code: 'ENOENT' });
      // The wrapped data key's metadata entry (ESDK messages keep theirs in the body, tampered above).
      const name = Object.keys(meta).find((k) => k.endsWith('key-v2') || k.endsWith('encryption-key') || k === 'kura-cse-key');
      assert.equal(name === undefined, format === 'esdk', `wrapped key entry among ${Object.keys(meta).join(', ')}`);
      if (name) {
        const v = meta[name]!;
        const bad = { ...meta, [name]: v.slice(0, 10) + (v[10] === 'A' ? 'B' : 'A') + v.slice(11) };
        await s3.send(
          new CopyObjectCommand({
            Bucket,
            Key: `${Key}-meta`,
            CopySource: `${Bucket}/${Key}`,
            MetadataDirective: 'REPLACE',
            Metadata: bad,
          }),
        );
        await assert.rejects(c.downloadFile(Bucket, `${Key}-meta`, out));
        await assert.rejects(readFile(out), { code: 'ENOENT' });
      }
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.startsWith(`tampered-${format}`)),
        [],
      );
    });
  }

  test('SSE-S3 stacks with CSE; copy keeps the encryption metadata; head tells both', async () => {
    const c = client('kura', [keys.rsa]);
    await c.putObject(Bucket, 'sse/a', Buffer.from('both layers'), { sse: { ServerSideEncryption: 'AES256' } });
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket, Key: 'sse/a' }))).ServerSideEncryption, 'AES256');
    await c.copyObject({ Bucket, Key: 'sse/a' }, { Bucket, Key: 'sse/b' }, { ServerSideEncryption: 'AES256' });
    const h = await c.headObject(Bucket, 'sse/b');
    assert.equal(h.sse, 'SSE-S3 (AES256)');
    assert.equal(h.encryption?.format, 'kura');
    assert.equal(h.plainSize, 11);
    assert.equal((await collect((await c.getObject(Bucket, 'sse/b')).Body)).toString(), 'both layers');
    const raw = await s3.send(new HeadObjectCommand({ Bucket, Key: 'sse/b' }));
    assert.equal(raw.ServerSideEncryption, 'AES256');
  });

  test('SSE-C stacks with CSE (multipart too): reading needs both the customer key and the master key', async () => {
    const tls = srv.client({ https: true }); // SSE-C is refused over plain HTTP, as AWS does
    const c = new CseClient({ s3: tls, keys: [keys.rsa], format: 'oss', partSize: 5 * MiB, multipartThreshold: 6 * MiB });
    const SSECustomerKey = randomBytes(32);
    const data = randomBytes(7 * MiB + 5);
    let parts = 0;
    await c.putObject(Bucket, 'sse/c', data, { sse: { SSECustomerKey }, onPart: () => parts++ });
    assert.equal(parts, 2);
    await assert.rejects(
      c.getObject(Bucket, 'sse/c'),
      (e: Error) =>
        e.name === 'InvalidRequest' || /400/.test(String((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode)),
    );
    const h = await c.headObject(Bucket, 'sse/c', { SSECustomerKey });
    assert.equal(h.sse, 'SSE-C (AES256)');
    assert.equal(h.encryption?.format, 'oss');
    assert.equal(sha(await collect((await c.getObject(Bucket, 'sse/c', { sse: { SSECustomerKey } })).Body)), sha(data));
    const otherKey = new CseClient({ s3: tls, keys: [keys.aes] });
    await assert.rejects(
      otherKey.getObject(Bucket, 'sse/c', { sse: { SSECustomerKey } }),
      (e: Error) => e instanceof CseError && e.code === 'NoMatchingKey',
    );
    tls.destroy();
  });

  test('explicit multipart with a per-upload crypto context, parts sent out of order', async () => {
    const c = client('oss', [keys.rsa]);
    const partSize = 5 * MiB;
    const data = randomBytes(2 * partSize + 100);
    const ctx = await c.createMultipartUpload(Bucket, 'explicit', { dataSize: data.length, partSize });
    const parts = await Promise.all([3, 1, 2].map((n) => c.uploadPart(ctx, n, data.subarray((n - 1) * partSize, n * partSize))));
    await c.completeMultipartUpload(ctx, parts);
    assert.equal(sha(await collect((await c.getObject(Bucket, 'explicit')).Body)), sha(data));
    await assert.rejects(
      client('s3ec', [keys.rsa]).createMultipartUpload(Bucket, 'x', { dataSize: 10, partSize: 5 * MiB }),
      (e: Error) => e instanceof CseError,
    );
  });

  test('plaintext objects pass through unchanged', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: 'just text' }));
    const g = await client('esdk', [keys.rsa]).getObject(Bucket, 'plain');
    assert.equal((await collect(g.Body)).toString(), 'just text');
    assert.equal(g.encryption, undefined);
  });
});
