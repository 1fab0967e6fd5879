// SSE-C and SSE-S3 with the Debian AWS CLI (/usr/bin/aws) over HTTPS (AWS_CA_BUNDLE = the server's CA):
// `aws s3api` with the exact parameters of the cloud.ru SSE-C guide, and `aws s3 cp --sse-c / --sse`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKura, type KuraServer } from '../helpers/server.ts';

const run = promisify(execFile);

describe('AWS CLI with SSE', () => {
  let srv: KuraServer;
  let dir: string;
  const bucket = 'sse-cli';

  async function aws(args: string[], expectFail = false): Promise<{ stdout: string; stderr: string; code: number }> {
    let r: { stdout: string; stderr: string };
    try {
      r = await run('/usr/bin/aws', ['--endpoint-url', srv.httpsEndpoint, ...args], {
        env: {
          ...process.env,
          ...srv.env({ https: true }),
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_PAGER: '',
        },
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; code?: number };
      if (!expectFail || typeof err.code !== 'number') throw e;
      return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: err.code };
    }
    // Outside the try: the catch above must not take this failure for the CLI's.
    if (expectFail) assert.fail(`aws ${args.join(' ')} succeeded`);
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  }

  before(async () => {
    srv = await startKura();
    dir = await mkdtemp(join(tmpdir(), 'kura-sse-cli-'));
    await aws(['s3api', 'create-bucket', '--bucket', bucket]);
  });
  after(async () => {
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('s3api put-object/get-object/head-object with --sse-customer-* exactly as the cloud.ru guide', async () => {
    // secret="32bytesOfTotallyRandomCharacters"; key=$(echo -n $secret | base64); keymd5=$(… | openssl dgst -md5 -binary | base64)
    const secret = '32bytesOfTotallyRandomCharacters';
    const key = Buffer.from(secret).toString('base64');
    const keymd5 = createHash('md5').update(secret).digest('base64');
    const body = join(dir, 'customer_object.html');
    const html = Buffer.from(`<html>${randomBytes(5000).toString('hex')}</html>`);
    await writeFile(body, html);
    const put = JSON.parse(
      (
        await aws([
          's3api',
          'put-object',
          '--bucket',
          bucket,
          '--key',
          'customer-object-key',
          '--body',
          body,
          '--sse-customer-algorithm',
          'AES256',
          '--sse-customer-key',
          key,
          '--sse-customer-key-md5',
          keymd5,
        ])
      ).stdout,
    ) as Record<string, string>;
    assert.equal(put.SSECustomerAlgorithm, 'AES256');
    assert.equal(put.SSECustomerKeyMD5, keymd5);
    const out = join(dir, 'out.html');
    const get = JSON.parse(
      (
        await aws([
          's3api',
          'get-object',
          '--bucket',
          bucket,
          '--key',
          'customer-object-key',
          '--sse-customer-algorithm',
          'AES256',
          '--sse-customer-key',
          key,
          '--sse-customer-key-md5',
          keymd5,
          out,
        ])
      ).stdout,
    ) as Record<string, string | number>;
    assert.equal(get.SSECustomerKeyMD5, keymd5);
    assert.deepEqual(await readFile(out), html);
    const head = JSON.parse(
      (
        await aws([
          's3api',
          'head-object',
          '--bucket',
          bucket,
          '--key',
          'customer-object-key',
          '--sse-customer-algorithm',
          'AES256',
          '--sse-customer-key',
          key,
          '--sse-customer-key-md5',
          keymd5,
        ])
      ).stdout,
    ) as Record<string, string | number>;
    assert.equal(head.ContentLength, html.length);
    assert.equal(head.SSECustomerAlgorithm, 'AES256');
    // The same without --sse-customer-key-md5: the CLI encodes the raw key itself (the guide's note).
    const head2 = JSON.parse(
      (
        await aws([
          's3api',
          'head-object',
          '--bucket',
          bucket,
          '--key',
          'customer-object-key',
          '--sse-customer-algorithm',
          'AES256',
          '--sse-customer-key',
          secret,
        ])
      ).stdout,
    ) as Record<string, string>;
    assert.equal(head2.SSECustomerKeyMD5, keymd5);
    const noKey = await aws(['s3api', 'get-object', '--bucket', bucket, '--key', 'customer-object-key', join(dir, 'x')], true);
    assert.match(noKey.stderr, /InvalidRequest/);
    assert.match(noKey.stderr, /The object was stored using a form of Server Side Encryption/);
    const wrong = await aws(
      [
        's3api',
        'head-object',
        '--bucket',
        bucket,
        '--key',
        'customer-object-key',
        '--sse-customer-algorithm',
        'AES256',
        '--sse-customer-key',
        'x'.repeat(32),
      ],
      true,
    );
    assert.match(wrong.stderr, /403|Forbidden/);
  });

  test('aws s3 cp --sse-c AES256 --sse-c-key fileb://… up and down, multipart (9 MiB) included', async () => {
    const keyFile = join(dir, 'sse-c.key');
    await writeFile(keyFile, randomBytes(32));
    for (const size of [1000, 9 * 1024 * 1024 + 5]) {
      const src = join(dir, `src-${size}`);
      const data = randomBytes(size);
      await writeFile(src, data);
      await aws(['s3', 'cp', src, `s3://${bucket}/cp-${size}`, '--sse-c', 'AES256', '--sse-c-key', `fileb://${keyFile}`]);
      const dst = join(dir, `dst-${size}`);
      await aws(['s3', 'cp', `s3://${bucket}/cp-${size}`, dst, '--sse-c', 'AES256', '--sse-c-key', `fileb://${keyFile}`]);
      assert.deepEqual(await readFile(dst), data, `size ${size}`);
      const fail = await aws(['s3', 'cp', `s3://${bucket}/cp-${size}`, join(dir, 'nokey')], true);
      assert.notEqual(fail.code, 0);
    }
    const head = JSON.parse(
      (
        await aws([
          's3api',
          'head-object',
          '--bucket',
          bucket,
          '--key',
          `cp-${9 * 1024 * 1024 + 5}`,
          '--sse-customer-algorithm',
          'AES256',
          '--sse-customer-key',
          `fileb://${keyFile}`,
        ])
      ).stdout,
    ) as Record<string, string>;
    assert.match(head.ETag!, /-2"$/);
    // s3 → s3 copy from SSE-C to SSE-S3.
    await aws([
      's3',
      'cp',
      `s3://${bucket}/cp-1000`,
      `s3://${bucket}/cp-1000-s3`,
      '--sse-c-copy-source',
      'AES256',
      '--sse-c-copy-source-key',
      `fileb://${keyFile}`,
      '--sse',
      'AES256',
    ]);
    const h = JSON.parse((await aws(['s3api', 'head-object', '--bucket', bucket, '--key', 'cp-1000-s3'])).stdout) as Record<string, string>;
    assert.equal(h.ServerSideEncryption, 'AES256');
  });

  test('aws s3 cp --sse AES256, and head-object shows "ServerSideEncryption": "AES256" (also with no --sse)', async () => {
    const src = join(dir, 'starwars.txt');
    const text =
      'The Phantom Menace\nAttack of the Clones\nRevenge of the Sith\nA New Hope\nThe Empire Strikes Back\nReturn of the Jedi\nThe Force Awakens\n';
    await writeFile(src, text);
    await aws(['s3', 'cp', src, `s3://${bucket}/server-s3`, '--sse', 'AES256']);
    await aws(['s3', 'cp', src, `s3://${bucket}/nothing`]);
    for (const k of ['server-s3', 'nothing']) {
      const head = JSON.parse((await aws(['s3api', 'head-object', '--bucket', bucket, '--key', k])).stdout) as Record<
        string,
        string | number
      >;
      assert.equal(head.ServerSideEncryption, 'AES256', k);
      assert.equal(head.ContentLength, 132);
      assert.equal(head.ETag, '"25af743c95ee31a78cdd1f107be6add5"');
    }
    const r = await aws(['s3', 'cp', `s3://${bucket}/server-s3`, '-']);
    assert.equal(r.stdout, text);
  });
});
