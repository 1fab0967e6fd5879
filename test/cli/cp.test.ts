// The kura CLI driven as a user would: spawned `node bin/kura.mjs …` against a real server on loopback,
// next to the AWS CLI and @aws-crypto/client-node for interoperability, and under a pseudo-terminal.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, constants } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClient, CommitmentPolicy, RawRsaKeyringNode } from '@aws-crypto/client-node';
import { startKura, type KuraServer } from '../helpers/server.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KURA = join(ROOT, 'bin', 'kura.mjs');
let srv: KuraServer;
let dir: string;
let env: NodeJS.ProcessEnv;

function kura(args: string[], opts: { input?: Buffer } = {}) {
  const r = spawnSync(process.execPath, [KURA, ...args], { cwd: dir, env, input: opts.input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), out: r.stdout };
}
function ok(args: string[], opts: { input?: Buffer } = {}) {
  const r = kura(args, opts);
  assert.equal(r.code, 0, `kura ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

before(async () => {
  srv = await startKura();
  dir = await mkdtemp(join(tmpdir(), 'kura-cli-'));
  env = { ...process.env, ...srv.env(), AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  ok(['keygen', 'rsa', '--bits', '2048']);
  ok(['keygen', 'aes', '--out', 'a.key']);
  ok(['mb', 's3://cli']);
});
after(async () => {
  await srv?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kura CLI', () => {
  test('keygen writes 0600 key files and refuses to overwrite', async () => {
    for (const f of ['private_key.pem', 'public_key.pem', 'a.key']) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
    const r = kura(['keygen', 'aes', '--out', 'a.key']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^kura keygen: .*exists/);
  });

  test('ESDK (default format): upload with the public key, download with the private key only; head and ls tell', async () => {
    const data = randomBytes(300_000);
    await writeFile(join(dir, 'doc.bin'), data);
    ok(['cp', 'doc.bin', 's3://cli/docs/doc.bin', '--cse-key', 'public_key.pem', '--key-namespace', 'MyAppKeys', '--key-name', 'S3RSAKey']);
    ok(['cp', 's3://cli/docs/doc.bin', 'back.bin', '--cse-key', 'private_key.pem']);
    assert.deepEqual(await readFile(join(dir, 'back.bin')), data);
    const h = ok(['head', 's3://cli/docs/doc.bin']).stdout;
    assert.match(h, /client-side encryption: esdk .*namespace "MyAppKeys" name "S3RSAKey"/);
    assert.match(h, /server-side encryption: (none|SSE-S3 \(AES256\))\n/); // Kura reports its at-rest encryption as SSE-S3, as AWS does
    assert.match(ok(['ls', 's3://cli/docs/']).stdout, /doc\.bin/);
    assert.match(ok(['ls', 's3://cli']).stdout, /PRE docs\//);
  });

  test('interop: ESDK messages from @aws-crypto/client-node uploaded by the AWS CLI decrypt with kura cp, and the reverse', async () => {
    const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const priv = await readFile(join(dir, 'private_key.pem'), 'utf8');
    const pub = await readFile(join(dir, 'public_key.pem'), 'utf8');
    // The ABCI guide's keyring: namespace MyAppKeys, name S3RSAKey, OAEP-SHA256-MGF1.
    const ring = new RawRsaKeyringNode({ keyNamespace: 'MyAppKeys', keyName: 'S3RSAKey', rsaKey: { publicKey: pub, privateKey: priv }, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' });
    const plain = Buffer.from('This is example for CSE!\n');
    const { result } = await esdk.encrypt(ring, plain);
    await writeFile(join(dir, 'example_encrypted.txt'), result);
    const aws = (args: string[]) => spawnSync('/usr/bin/aws', ['--endpoint-url', srv.endpoint, ...args], { cwd: dir, env });
    const up = aws(['s3', 'cp', 'example_encrypted.txt', 's3://cli/example_encrypted.txt']);
    assert.equal(up.status, 0, up.stderr.toString());
    ok(['cp', 's3://cli/example_encrypted.txt', 'example_decrypted.txt', '--cse-key', 'private_key.pem']);
    assert.deepEqual(await readFile(join(dir, 'example_decrypted.txt')), plain);
    // Reverse: kura encrypts, the AWS CLI downloads the bytes, the reference SDK decrypts.
    await writeFile(join(dir, 'mine.txt'), plain);
    ok(['cp', 'mine.txt', 's3://cli/mine.txt', '--cse-key', 'public_key.pem', '--key-namespace', 'MyAppKeys', '--key-name', 'S3RSAKey']);
    assert.equal(aws(['s3', 'cp', 's3://cli/mine.txt', 'mine.enc']).status, 0);
    const { plaintext } = await esdk.decrypt(ring, await readFile(join(dir, 'mine.enc')));
    assert.deepEqual(plaintext, plain);
  });

  for (const format of ['s3ec', 'oss', 'kura'] as const) {
    test(`--cse-format ${format}: round trip with two keys, the matching one picked; range; stdin/stdout`, async () => {
      const data = randomBytes(70_000);
      await writeFile(join(dir, `f-${format}`), data);
      ok(['cp', `f-${format}`, `s3://cli/${format}/f`, '--cse-format', format, '--cse-key', 'a.key', '--matdesc', '{"team":"x"}']);
      const h = ok(['head', `s3://cli/${format}/f`, '--json']).stdout;
      assert.equal(JSON.parse(h).cse.format, format);
      ok(['cp', `s3://cli/${format}/f`, `g-${format}`, '--cse-key', 'private_key.pem', '--cse-key', 'a.key', '--matdesc', '{"team":"x"}']);
      assert.deepEqual(await readFile(join(dir, `g-${format}`)), data);
      const part = ok(['cp', `s3://cli/${format}/f`, '-', '--cse-key', 'a.key', '--matdesc', '{"team":"x"}', '--range', '1000-1999']).out;
      assert.deepEqual(part, data.subarray(1000, 2000));
      ok(['cp', '-', `s3://cli/${format}/stdin`, '--cse-format', format, '--cse-key', 'a.key'], { input: data });
      assert.deepEqual(ok(['cp', `s3://cli/${format}/stdin`, '-', '--cse-key', 'a.key']).out, data);
      // The wrong description: exit 6, one line naming what the object needs, no output file.
      const bad = kura(['cp', `s3://cli/${format}/f`, `h-${format}`, '--cse-key', 'a.key']);
      assert.equal(bad.code, 6);
      assert.match(bad.stderr, /^kura cp: .*"team":"x".*\n$/);
      await assert.rejects(stat(join(dir, `h-${format}`)));
    });
  }

  test('errors: missing object exits 3, tampered object exits 5 and leaves nothing behind', async () => {
    const r = kura(['cp', 's3://cli/nope', 'x.out', '--cse-key', 'a.key']);
    assert.equal(r.code, 3);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    ok(['cp', 'f-kura', 's3://cli/t/obj', '--cse-format', 'kura', '--cse-key', 'a.key', '--matdesc', '{"team":"x"}']);
    const raw = spawnSync('/usr/bin/aws', ['--endpoint-url', srv.endpoint, 's3api', 'get-object', '--bucket', 'cli', '--key', 't/obj', 'raw.bin'], { cwd: dir, env });
    assert.equal(raw.status, 0);
    const meta = JSON.parse(raw.stdout.toString()).Metadata as Record<string, string>;
    const body = await readFile(join(dir, 'raw.bin'));
    body[40_000] ^= 1;
    await writeFile(join(dir, 'raw.bin'), body);
    const put = spawnSync('/usr/bin/aws', ['--endpoint-url', srv.endpoint, 's3api', 'put-object', '--bucket', 'cli', '--key', 't/bad', '--body', 'raw.bin', '--metadata', JSON.stringify(meta)], { cwd: dir, env });
    assert.equal(put.status, 0, put.stderr.toString());
    const t = kura(['cp', 's3://cli/t/bad', 'bad.out', '--cse-key', 'a.key', '--matdesc', '{"team":"x"}']);
    assert.equal(t.code, 5, t.stderr);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('bad.out')), []);
  });

  test('progress bar on a terminal only; --recursive; S3 to S3 copy; rm and rb', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    await writeFile(join(dir, 'big.bin'), big);
    const quiet = ok(['cp', 'big.bin', 's3://cli/big', '--cse-format', 'kura', '--cse-key', 'a.key']);
    assert.equal(quiet.stderr, '');
    const cmd = `${process.execPath} ${KURA} cp s3://cli/big big.out --cse-key a.key`;
    const tty = spawnSync('script', ['-qfec', cmd, '/dev/null'], { cwd: dir, env });
    assert.equal(tty.status, 0, tty.stdout.toString());
    const screen = tty.stdout.toString();
    assert.match(screen, /download big\.out \[.*\] 100% \| 12\.0 MiB\/12\.0 MiB \| .*\/s \| ETA/);
    assert.deepEqual(await readFile(join(dir, 'big.out')), big);
    ok(['cp', 's3://cli/big', 's3://cli/copy/big']);
    assert.match(ok(['head', 's3://cli/copy/big']).stdout, /client-side encryption: kura/);
    ok(['cp', 's3://cli/docs/', 'tree', '--recursive', '--cse-key', 'private_key.pem']);
    assert.deepEqual((await readdir(join(dir, 'tree'))).sort(), ['doc.bin']);
    ok(['mb', 's3://gone']);
    ok(['cp', 'tree', 's3://gone/up', '--recursive', '--cse-key', 'a.key']);
    assert.match(ok(['ls', 's3://gone', '--recursive']).stdout, /up\/doc\.bin/);
    assert.notEqual(kura(['rb', 's3://gone']).code, 0);
    ok(['rb', 's3://gone', '--force']);
    ok(['rm', 's3://cli/copy/big']);
    assert.equal(kura(['head', 's3://cli/copy/big']).code, 3);
  });
});
