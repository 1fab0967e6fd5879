// Server configuration: credentials from the environment or generated once, TLS certificate
// generated or given, root key, address parsing, start-up failures.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { generate } from 'selfsigned';
import { CreateBucketCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startKura } from '../helpers/server.ts';
import { loadRootKey, metaConfig, parseAddress } from '../../src/server/config.ts';

describe('kura server: configuration', () => {
  test('credentials from KURA_ACCESS_KEY_ID / KURA_SECRET_ACCESS_KEY; none generated', async () => {
    const env = { KURA_ACCESS_KEY_ID: 'TESTKEYID0000000', KURA_SECRET_ACCESS_KEY: 'test-secret-0123456789' };
    const srv = await startKura({ env });
    try {
      assert.equal(existsSync(join(srv.dataDir, '.kura', 'credentials.json')), false);
      await srv.client().send(new CreateBucketCommand({ Bucket: 'env-creds' }));
      assert.ok(!srv.stderr().includes(env.KURA_SECRET_ACCESS_KEY), 'given secrets are not echoed');
    } finally {
      await srv.stop();
    }
  });

  test('generated credentials and certificate survive a restart and are printed only once', async () => {
    const first = await startKura();
    const dataDir = first.dataDir;
    try {
      await first.client().send(new CreateBucketCommand({ Bucket: 'persist' }));
      assert.match(first.stderr(), /AWS_SECRET_ACCESS_KEY=/);
      const cert = await readFile(first.caPath, 'utf8');
      await first.stop({ keepData: true });
      const second = await startKura({ dataDir });
      try {
        assert.deepEqual(second.credentials, first.credentials);
        assert.equal(await readFile(second.caPath, 'utf8'), cert);
        assert.doesNotMatch(second.stderr(), /AWS_SECRET_ACCESS_KEY=/);
        const list = await second.client({ https: true }).send(new ListBucketsCommand({}));
        assert.deepEqual(
          list.Buckets?.map((b) => b.Name),
          ['persist'],
        );
      } finally {
        await second.stop({ keepData: true });
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('--tls-cert/--tls-key replace the generated certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kura-cert-'));
    try {
      const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
        algorithm: 'sha256',
        keyType: 'ec',
        extensions: [
          { name: 'basicConstraints', cA: true },
          { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] },
        ],
      });
      await writeFile(join(dir, 'cert.pem'), pems.cert);
      await writeFile(join(dir, 'key.pem'), pems.private);
      const srv = await startKura({ args: ['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')] });
      try {
        assert.equal(srv.caPath, join(dir, 'cert.pem'));
        assert.equal(existsSync(join(srv.dataDir, '.kura', 'tls-cert.pem')), false);
        await srv.client({ https: true }).send(new ListBucketsCommand({}));
      } finally {
        await srv.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('root key: generated once with mode 0600, or KURA_ROOT_KEY', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kura-root-'));
    try {
      const k1 = await loadRootKey(dir, {});
      assert.equal(k1.length, 32);
      assert.equal((await stat(join(dir, '.kura', 'root.key'))).mode & 0o777, 0o600);
      assert.deepEqual(await loadRootKey(dir, {}), k1);
      const given = Buffer.alloc(32, 9);
      assert.deepEqual(await loadRootKey(dir, { KURA_ROOT_KEY: given.toString('base64') }), given);
      await assert.rejects(loadRootKey(dir, { KURA_ROOT_KEY: Buffer.alloc(16).toString('base64') }), /32 bytes/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('address parsing', () => {
    assert.deepEqual(parseAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseAddress('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseAddress(':9000'), { host: '0.0.0.0', port: 9000 });
    assert.throws(() => parseAddress('localhost'), /HOST:PORT/);
    assert.throws(() => parseAddress('h:70000'), /port/);
  });

  test('a port in use: clear message, non-zero exit', async () => {
    const srv = await startKura();
    try {
      const port = new URL(srv.endpoint).port;
      const r = spawnSync(
        process.execPath,
        ['bin/kura.mjs', 'server', '--data', srv.dataDir, '--address', `127.0.0.1:${port}`, '--tls-address', '127.0.0.1:0'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cannot start: .*EADDRINUSE/);
    } finally {
      await srv.stop();
    }
  });
  test('the benchmark plaintext baseline needs its hidden flag and its environment variable together', async () => {
    const help = spawnSync(process.execPath, ['bin/kura.mjs', 'server', '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.doesNotMatch(help.stdout, /plaintext|baseline/i, 'not offered in --help');
    const dataDir = await mkdtemp(join(tmpdir(), 'kura-baseline-'));
    try {
      const flagOnly = spawnSync(
        process.execPath,
        ['bin/kura.mjs', 'server', '--data', dataDir, '--address', '127.0.0.1:0', '--tls-address', 'off', '--bench-plaintext-baseline'],
        { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KURA_BENCH_PLAINTEXT_BASELINE: '' } },
      );
      assert.equal(flagOnly.status, 2);
      assert.match(flagOnly.stderr, /needs KURA_BENCH_PLAINTEXT_BASELINE=1/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
    const encryption = async (opts: { env?: Record<string, string>; args?: string[] }) => {
      const srv = await startKura(opts);
      try {
        const s3 = srv.client();
        await s3.send(new CreateBucketCommand({ Bucket: 'baseline' }));
        await s3.send(new PutObjectCommand({ Bucket: 'baseline', Key: 'k', Body: 'hello' }));
        return {
          sse: (await s3.send(new HeadObjectCommand({ Bucket: 'baseline', Key: 'k' }))).ServerSideEncryption,
          stderr: srv.stderr(),
          stdout: srv.stdout.join('\n'),
        };
      } finally {
        await srv.stop();
      }
    };
    const envOnly = await encryption({ env: { KURA_BENCH_PLAINTEXT_BASELINE: '1' } });
    assert.equal(envOnly.sse, 'AES256', 'the variable alone leaves encryption on');
    assert.match(envOnly.stdout, /KURA_BENCH_PLAINTEXT_BASELINE is ignored/);
    const both = await encryption({ env: { KURA_BENCH_PLAINTEXT_BASELINE: '1' }, args: ['--bench-plaintext-baseline'] });
    assert.equal(both.sse, undefined, 'flag and variable together: the plaintext baseline');
    assert.match(both.stderr, /WARNING: benchmark plaintext baseline, objects are stored UNENCRYPTED/);
  });
});

describe('--meta / KURA_META_URL', () => {
  const s3 = { kind: 's3' as const, bucket: 'b', prefix: '', region: 'us-east-1' };
  test('lmdb by default; a postgres URL with the S3 blob store; refused with local blobs or an unknown engine', () => {
    assert.deepEqual(metaConfig({}, { kind: 'fs' }, {}), { kind: 'lmdb' });
    assert.deepEqual(metaConfig({ meta: 'postgres://u:p@db:5432/kura' }, s3, {}), { kind: 'postgres', url: 'postgres://u:p@db:5432/kura' });
    assert.deepEqual(metaConfig({}, s3, { KURA_META_URL: 'postgresql://db/kura', KURA_META_POOL_SIZE: '4' }), {
      kind: 'postgres',
      url: 'postgresql://db/kura',
      poolSize: 4,
    });
    assert.throws(() => metaConfig({ meta: 'postgres://db/kura' }, { kind: 'fs' }, {}), /needs --backend s3/);
    assert.throws(
      () => metaConfig({ meta: 'mysql://u:secretpw@db/kura' }, s3, {}),
      (e: Error) => /unknown --meta/.test(e.message) && !e.message.includes('secretpw'),
    );
    assert.throws(() => metaConfig({}, s3, { KURA_META_URL: 'postgres://db/kura', KURA_META_POOL_SIZE: 'many' }), /KURA_META_POOL_SIZE/);
  });

  test('kura server --meta postgres://… without --backend s3 exits 2 with the reason', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(import.meta.dirname, '..', '..', 'bin', 'kura.mjs'),
        'server',
        '--meta',
        'postgres://127.0.0.1:1/x',
        '--address',
        '127.0.0.1:0',
        '--tls-address',
        'off',
        '--data',
        join(tmpdir(), `kura-meta-refused-${process.pid}`),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--meta postgres needs --backend s3/);
  });
});
