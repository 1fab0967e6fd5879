// The gateway against other upstreams and in bad conditions: moto's S3 server (an S3 implementation
// that is not Kura; skipped when moto is not installed), an HTTPS upstream with a private CA
// (--backend-ca-bundle), start-up refusals with clear messages, and an upstream outage at runtime.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  HeadObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startKura, collect } from '../helpers/server.ts';

const MiB = 1024 * 1024;
const MARKER = 'MOTO-PLAINTEXT-MARKER-4411';

function sseC(key: Buffer): { SSECustomerAlgorithm: string; SSECustomerKey: string; SSECustomerKeyMD5: string } {
  return {
    SSECustomerAlgorithm: 'AES256',
    SSECustomerKey: key.toString('base64'),
    SSECustomerKeyMD5: createHash('md5').update(key).digest('base64'),
  };
}

const motoAvailable = spawnSync('python3', ['-c', 'import moto.server'], { stdio: 'ignore' }).status === 0;

/** moto's S3 server on a free port; it lives while its stdin is open. */
async function startMoto(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const script = [
    'import sys',
    'from moto.server import ThreadedMotoServer',
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)",
    's.start()',
    "print('ENDPOINT http://%s:%d' % s.get_host_and_port(), flush=True)",
    'sys.stdin.read()',
    's.stop()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('moto did not start')), 20_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      const m = /^ENDPOINT (\S+)/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => reject(new Error('moto exited')));
  });
  return {
    endpoint,
    async stop() {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

describe('gateway backend: other upstreams, refusals, outages', () => {
  test(
    'moto S3 server as the upstream: objects, ranges, multipart, SSE-C, restart; only ciphertext stored',
    { skip: motoAvailable ? false : 'python3 moto not installed' },
    async () => {
      const moto = await startMoto();
      const creds = { KURA_BACKEND_ACCESS_KEY_ID: 'testing', KURA_BACKEND_SECRET_ACCESS_KEY: 'testing' };
      const args = ['--backend', 's3', '--backend-endpoint', moto.endpoint, '--backend-bucket', 'moto-upstream', '--allow-insecure-ssec'];
      const dirs: string[] = [];
      let gw;
      try {
        const m = new S3Client({
          endpoint: moto.endpoint,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        });
        await m.send(new CreateBucketCommand({ Bucket: 'moto-upstream' }));
        gw = await startKura({ backend: 'fs', args, env: creds });
        let s3 = gw.client();
        const small = Buffer.from(`small ${MARKER} object`);
        const big = Buffer.concat(
          Array.from({ length: 21 }, (_, i) => Buffer.concat([Buffer.from(`${MARKER}${i}`), randomBytes(MiB - 40)])),
        );
        const key = randomBytes(32);
        await s3.send(new CreateBucketCommand({ Bucket: 'data' }));
        await s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'small', Body: small }));
        await s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'ssec', Body: small, ...sseC(key) }));
        await new Upload({ client: s3, params: { Bucket: 'data', Key: 'big', Body: Readable.from([big]) }, partSize: 5 * MiB }).done();
        await s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'gone', Body: 'x' }));
        await s3.send(new DeleteObjectCommand({ Bucket: 'data', Key: 'gone' }));
        const r = await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'big', Range: `bytes=${5 * MiB - 5}-${10 * MiB + 5}` }));
        assert.deepEqual(await collect(r.Body), big.subarray(5 * MiB - 5, 10 * MiB + 6));

        // Restart: the metadata is in the data dir, the blobs in moto.
        const dataDir = gw.dataDir;
        dirs.push(dataDir);
        await gw.stop({ keepData: true });
        gw = await startKura({ backend: 'fs', args, env: creds, dataDir });
        s3 = gw.client();
        assert.deepEqual(
          (await s3.send(new ListObjectsV2Command({ Bucket: 'data' }))).Contents?.map((c) => c.Key),
          ['big', 'small', 'ssec'],
        );
        assert.deepEqual(await collect((await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'small' }))).Body), small);
        assert.deepEqual(await collect((await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'ssec', ...sseC(key) }))).Body), small);
        const all = await collect((await s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'big' }))).Body);
        assert.ok(all.equals(big), 'multipart object intact');

        // What moto holds: ciphertext only.
        const listed = await m.send(new ListObjectsV2Command({ Bucket: 'moto-upstream' }));
        assert.ok((listed.Contents?.length ?? 0) >= 8);
        for (const o of listed.Contents ?? []) {
          const body = await collect((await m.send(new GetObjectCommand({ Bucket: 'moto-upstream', Key: o.Key! }))).Body);
          assert.equal(body.includes(MARKER), false, `plaintext in ${o.Key}`);
          assert.equal(body.includes(key), false, `SSE-C key in ${o.Key}`);
          assert.equal(body.includes(key.toString('base64')), false, `SSE-C key (base64) in ${o.Key}`);
        }
      } finally {
        await gw?.stop();
        await moto.stop();
        for (const d of dirs) await rm(d, { recursive: true, force: true });
      }
    },
  );

  test('HTTPS upstream with a private CA (--backend-ca-bundle)', async () => {
    const upstream = await startKura();
    try {
      await upstream.client().send(new CreateBucketCommand({ Bucket: 'tls-upstream' }));
      const env = {
        KURA_BACKEND_ACCESS_KEY_ID: upstream.credentials.accessKeyId,
        KURA_BACKEND_SECRET_ACCESS_KEY: upstream.credentials.secretAccessKey,
      };
      const base = ['--backend', 's3', '--backend-endpoint', upstream.httpsEndpoint, '--backend-bucket', 'tls-upstream'];
      // Without the CA the upstream's self-signed certificate is refused at start-up.
      await assert.rejects(startKura({ backend: 'fs', args: base, env }), /exited with 1 before listening[\s\S]*not usable/);
      const gw = await startKura({ backend: 'fs', args: [...base, '--backend-ca-bundle', upstream.caPath], env });
      try {
        const s3 = gw.client();
        await s3.send(new CreateBucketCommand({ Bucket: 'over-tls' }));
        await s3.send(new PutObjectCommand({ Bucket: 'over-tls', Key: 'k', Body: 'via https' }));
        assert.equal((await collect((await s3.send(new GetObjectCommand({ Bucket: 'over-tls', Key: 'k' }))).Body)).toString(), 'via https');
      } finally {
        await gw.stop();
      }
    } finally {
      await upstream.stop();
    }
  });

  test('start-up refusals: missing bucket option, gateway options without --backend s3, missing upstream bucket, bad credentials', async () => {
    await assert.rejects(startKura({ backend: 'fs', args: ['--backend', 's3'] }), /exited with 2[\s\S]*--backend-bucket/);
    await assert.rejects(startKura({ backend: 'fs', args: ['--backend-prefix', 'p/'] }), /exited with 2[\s\S]*need --backend s3/);
    await assert.rejects(startKura({ backend: 'fs', args: ['--backend', 'nfs'] }), /exited with 2[\s\S]*unknown backend 'nfs'/);
    const upstream = await startKura();
    try {
      const env = {
        KURA_BACKEND_ACCESS_KEY_ID: upstream.credentials.accessKeyId,
        KURA_BACKEND_SECRET_ACCESS_KEY: upstream.credentials.secretAccessKey,
      };
      await assert.rejects(
        startKura({
          backend: 'fs',
          args: ['--backend', 's3', '--backend-endpoint', upstream.endpoint, '--backend-bucket', 'no-such-bucket'],
          env,
        }),
        /exited with 1[\s\S]*upstream bucket no-such-bucket at http:\/\/127\.0\.0\.1:\d+ is not usable: 404/,
      );
      await upstream.client().send(new CreateBucketCommand({ Bucket: 'exists' }));
      await assert.rejects(
        startKura({
          backend: 'fs',
          args: ['--backend', 's3', '--backend-endpoint', upstream.endpoint, '--backend-bucket', 'exists'],
          env: { ...env, KURA_BACKEND_SECRET_ACCESS_KEY: 'wrong' },
        }),
        /exited with 1[\s\S]*not usable: 403/,
      );
    } finally {
      await upstream.stop();
    }
  });

  test('upstream outage: reads of data fail with a 5xx (never wrong bytes), the gateway stays up', async () => {
    const gw = await startKura({ backend: 's3' });
    try {
      const s3 = gw.client({ maxAttempts: 1 });
      await s3.send(new CreateBucketCommand({ Bucket: 'outage' }));
      await s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'k', Body: 'before the outage' }));
      await gw.upstream!.stop();
      const err = await s3.send(new GetObjectCommand({ Bucket: 'outage', Key: 'k' })).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof S3ServiceException, `expected an S3 error, got ${String(err)}`);
      assert.ok((err.$metadata.httpStatusCode ?? 0) >= 500, `status ${err.$metadata.httpStatusCode}`);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'k2', Body: 'x' })).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(put instanceof S3ServiceException && (put.$metadata.httpStatusCode ?? 0) >= 500);
      // Metadata is served from the index; the process is alive.
      assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'outage', Key: 'k' }))).ContentLength, 17);
      assert.equal((await fetch(`${gw.endpoint}/health`)).status, 200);
    } finally {
      await gw.stop();
    }
  });
});
