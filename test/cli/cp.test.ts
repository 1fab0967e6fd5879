// The kura CLI driven as a user would: spawned `node bin/kura.mjs …` against a real server on loopback,
// next to the AWS CLI and @aws-crypto/client-node for interoperability, and under a pseudo-terminal.
// Each test uses its own files and keys, so the tests run concurrently (the spawns dominate the time).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, constants } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClient, CommitmentPolicy, RawRsaKeyringNode } from '@aws-crypto/client-node';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { collect, startKura, type KuraServer } from '../helpers/server.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KURA = join(ROOT, 'bin', 'kura.mjs');
let srv: KuraServer;
let dir: string;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: Buffer;
}

/** Runs a command to its end (asynchronously, so that tests can run side by side). */
function exec(cmd: string, args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: dir, env: opts.env ?? env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [],
      err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const o = Buffer.concat(out);
      resolve({ code, stdout: o.toString(), stderr: Buffer.concat(err).toString(), out: o });
    });
    child.stdin.on('error', () => {
      /* the command may exit before reading all its input */
    });
    child.stdin.end(opts.input);
  });
}
const kura = (args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}) => exec(process.execPath, [KURA, ...args], opts);
const aws = (args: string[]) => exec('/usr/bin/aws', ['--endpoint-url', srv.endpoint, ...args]);
async function ok(args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}) {
  const r = await kura(args, opts);
  assert.equal(r.code, 0, `kura ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

before(async () => {
  srv = await startKura();
  dir = await mkdtemp(join(tmpdir(), 'kura-cli-'));
  env = { ...process.env, ...srv.env(), AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  await Promise.all([ok(['keygen', 'rsa', '--bits', '2048']), ok(['keygen', 'aes', '--out', 'a.key']), ok(['mb', 's3://cli'])]);
});
after(async () => {
  await srv?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kura CLI', { concurrency: 4 }, () => {
  test('keygen writes 0600 key files and refuses to overwrite', async () => {
    for (const f of ['private_key.pem', 'public_key.pem', 'a.key']) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
    const r = await kura(['keygen', 'aes', '--out', 'a.key']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^kura keygen: a\.key exists; not overwriting a key\n$/);
  });

  test('usage errors exit 2 with one line; --help and --version exit 0', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['cp', '--bogus', 'a', 's3://cli/a'], /^kura cp: unknown option '--bogus'\n$/],
      [['cp', 'a'], /^kura cp: missing required argument 'dst'\n$/],
      [['cp', 'a', 's3://cli/a', 'c'], /^kura cp: too many arguments for 'cp'\..*\n$/],
      [['cp', 'a', 's3://cli/a', '--cse-key'], /^kura cp: option '--cse-key <FILE\|kms:KEY>' argument missing\n$/],
      [['cp', 'a', 'b'], /^kura cp: one of SRC and DST must be an s3:\/\/ URL\n$/],
      [['cp', 'a', 's3://cli/a', '--cse-format', 'zip'], /^kura cp: --cse-format must be one of esdk, s3ec, oss, kura\n$/],
      [['frob'], /^kura: unknown command 'frob'.*\n$/],
      [['ls', 's3://cli', '--ca-bundle', 'no-such.pem'], /^kura ls: cannot read the CA bundle no-such\.pem \(--ca-bundle\): ENOENT\n$/],
    ];
    const runs = await Promise.all(cases.map(([args]) => kura(args)));
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `kura ${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, cases[i]![1]);
      assert.equal(r.stdout, '');
    });
    const [help, version] = await Promise.all([kura(['cp', '--help']), kura(['--version'])]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--ca-bundle <FILE>/);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    // A runtime failure (nothing listens there) is not a usage error: 1, one line.
    const down = await kura(['ls', 's3://cli', '--endpoint-url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /^kura ls: .*ECONNREFUSED.*\n$/);
  });

  test('HTTPS with a self-signed certificate: trusted through --ca-bundle or AWS_CA_BUNDLE, refused otherwise', async () => {
    const { AWS_CA_BUNDLE: _, ...noCa } = env;
    const https = { ...noCa, AWS_ENDPOINT_URL: srv.httpsEndpoint };
    const data = randomBytes(20_000);
    await writeFile(join(dir, 'tls.bin'), data);
    const [up, refused] = await Promise.all([
      ok(['cp', 'tls.bin', 's3://cli/tls/obj', '--cse-format', 'kura', '--cse-key', 'public_key.pem', '--ca-bundle', srv.caPath], {
        env: https,
      }),
      kura(['ls', 's3://cli/tls/'], { env: https }),
    ]);
    assert.equal(up.stderr, '');
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^kura ls: .*certificate.*--ca-bundle FILE or AWS_CA_BUNDLE\)\n$/);
    // The environment variable alone, as the AWS CLI reads it.
    await ok(['cp', 's3://cli/tls/obj', 'tls.out', '--cse-key', 'private_key.pem'], { env: { ...https, AWS_CA_BUNDLE: srv.caPath } });
    assert.deepEqual(await readFile(join(dir, 'tls.out')), data);
    assert.match(
      (await ok(['ls', 's3://cli/tls/', '--endpoint-url', srv.httpsEndpoint, '--ca-bundle', srv.caPath], { env: noCa })).stdout,
      / 20\d{3} obj\n/,
    );
  });

  test('ESDK (default format): upload with the public key, download with the private key only; head and ls tell', async () => {
    const data = randomBytes(300_000);
    await writeFile(join(dir, 'doc.bin'), data);
    await ok([
      'cp',
      'doc.bin',
      's3://cli/docs/doc.bin',
      '--cse-key',
      'public_key.pem',
      '--key-namespace',
      'MyAppKeys',
      '--key-name',
      'S3RSAKey',
    ]);
    await ok(['cp', 's3://cli/docs/doc.bin', 'back.bin', '--cse-key', 'private_key.pem']);
    assert.deepEqual(await readFile(join(dir, 'back.bin')), data);
    const [h, ls, lsTop] = await Promise.all([ok(['head', 's3://cli/docs/doc.bin']), ok(['ls', 's3://cli/docs/']), ok(['ls', 's3://cli'])]);
    assert.match(h.stdout, /client-side encryption: esdk .*namespace "MyAppKeys" name "S3RSAKey"/);
    assert.match(h.stdout, /server-side encryption: (none|SSE-S3 \(AES256\))\n/); // Kura reports its at-rest encryption as SSE-S3, as AWS does
    assert.match(ls.stdout, /doc\.bin/);
    assert.match(lsTop.stdout, /PRE docs\//);
  });

  test('interop: ESDK messages from @aws-crypto/client-node uploaded by the AWS CLI decrypt with kura cp, and the reverse', async () => {
    const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const priv = await readFile(join(dir, 'private_key.pem'), 'utf8');
    const pub = await readFile(join(dir, 'public_key.pem'), 'utf8');
    // The ABCI guide's keyring: namespace MyAppKeys, name S3RSAKey, OAEP-SHA256-MGF1.
    const ring = new RawRsaKeyringNode({
      keyNamespace: 'MyAppKeys',
      keyName: 'S3RSAKey',
      rsaKey: { publicKey: pub, privateKey: priv },
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
    });
    const plain = Buffer.from('This is example for CSE!\n');
    const { result } = await esdk.encrypt(ring, plain);
    await writeFile(join(dir, 'example_encrypted.txt'), result);
    await writeFile(join(dir, 'mine.txt'), plain);
    const [up] = await Promise.all([
      aws(['s3', 'cp', 'example_encrypted.txt', 's3://cli/example_encrypted.txt']),
      // Reverse: kura encrypts, the AWS CLI downloads the bytes, the reference SDK decrypts.
      ok(['cp', 'mine.txt', 's3://cli/mine.txt', '--cse-key', 'public_key.pem', '--key-namespace', 'MyAppKeys', '--key-name', 'S3RSAKey']),
    ]);
    assert.equal(up.code, 0, up.stderr);
    const [, down] = await Promise.all([
      ok(['cp', 's3://cli/example_encrypted.txt', 'example_decrypted.txt', '--cse-key', 'private_key.pem']),
      aws(['s3', 'cp', 's3://cli/mine.txt', 'mine.enc']),
    ]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await readFile(join(dir, 'example_decrypted.txt')), plain);
    const { plaintext } = await esdk.decrypt(ring, await readFile(join(dir, 'mine.enc')));
    assert.deepEqual(plaintext, plain);
  });

  for (const format of ['s3ec', 'oss', 'kura'] as const) {
    test(`--cse-format ${format}: round trip with two keys, the matching one picked; range; stdin/stdout`, async () => {
      const data = randomBytes(70_000);
      await writeFile(join(dir, `f-${format}`), data);
      const team = ['--cse-key', 'a.key', '--matdesc', '{"team":"x"}'];
      await Promise.all([
        ok(['cp', `f-${format}`, `s3://cli/${format}/f`, '--cse-format', format, ...team]),
        ok(['cp', '-', `s3://cli/${format}/stdin`, '--cse-format', format, '--cse-key', 'a.key'], { input: data }),
      ]);
      const [h, , part, piped, bad] = await Promise.all([
        ok(['head', `s3://cli/${format}/f`, '--json']),
        ok(['cp', `s3://cli/${format}/f`, `g-${format}`, '--cse-key', 'private_key.pem', ...team]),
        ok(['cp', `s3://cli/${format}/f`, '-', ...team, '--range', '1000-1999']),
        ok(['cp', `s3://cli/${format}/stdin`, '-', '--cse-key', 'a.key']),
        // The wrong description: exit 6, one line naming what the object needs, no output file.
        kura(['cp', `s3://cli/${format}/f`, `h-${format}`, '--cse-key', 'a.key']),
      ]);
      assert.equal(JSON.parse(h.stdout).cse.format, format);
      assert.deepEqual(await readFile(join(dir, `g-${format}`)), data);
      assert.deepEqual(part.out, data.subarray(1000, 2000));
      assert.deepEqual(piped.out, data);
      assert.equal(bad.code, 6);
      assert.match(bad.stderr, /^kura cp: .*"team":"x".*\n$/);
      await assert.rejects(stat(join(dir, `h-${format}`)));
    });
  }

  test('errors: missing object exits 3, tampered object exits 5 and leaves nothing behind', async () => {
    await writeFile(join(dir, 'to-tamper'), randomBytes(70_000));
    const [r] = await Promise.all([
      kura(['cp', 's3://cli/nope', 'x.out', '--cse-key', 'a.key']),
      ok(['cp', 'to-tamper', 's3://cli/t/obj', '--cse-format', 'kura', '--cse-key', 'a.key', '--matdesc', '{"team":"x"}']),
    ]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    // The stored bytes with one bit flipped, re-stored with the same metadata (through the SDK: no CLI needed here).
    const s3 = srv.client();
    const raw = await s3.send(new GetObjectCommand({ Bucket: 'cli', Key: 't/obj' }));
    const body = await collect(raw.Body);
    body[40_000]! ^= 1;
    await s3.send(new PutObjectCommand({ Bucket: 'cli', Key: 't/bad', Body: body, Metadata: raw.Metadata }));
    s3.destroy();
    const t = await kura(['cp', 's3://cli/t/bad', 'bad.out', '--cse-key', 'a.key', '--matdesc', '{"team":"x"}']);
    assert.equal(t.code, 5, t.stderr);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('bad.out')),
      [],
    );
  });

  test('progress bar on a terminal only; --recursive; S3 to S3 copy; rm and rb', async () => {
    const big = randomBytes(12 * 1024 * 1024);
    await writeFile(join(dir, 'big.bin'), big);
    await mkdir(join(dir, 'tree-src', 'sub'), { recursive: true });
    await writeFile(join(dir, 'tree-src', 'one.txt'), 'one');
    await writeFile(join(dir, 'tree-src', 'sub', 'two.txt'), 'two');
    const [quiet] = await Promise.all([
      ok(['cp', 'big.bin', 's3://cli/big', '--cse-format', 'kura', '--cse-key', 'a.key']),
      ok(['cp', 'tree-src', 's3://cli/tree/', '--recursive', '--cse-key', 'public_key.pem']),
      ok(['mb', 's3://gone']),
    ]);
    assert.equal(quiet.stderr, '');
    const cmd = `${process.execPath} ${KURA} cp s3://cli/big big.out --cse-key a.key`;
    const [tty] = await Promise.all([
      exec('script', ['-qfec', cmd, '/dev/null']),
      ok(['cp', 's3://cli/big', 's3://cli/copy/big']),
      ok(['cp', 's3://cli/tree/', 'tree', '--recursive', '--cse-key', 'private_key.pem']),
    ]);
    assert.equal(tty.code, 0, tty.stdout);
    assert.match(tty.stdout, /download big\.out \[.*\] 100% \| 12\.0 MiB\/12\.0 MiB \| .*\/s \| ETA/);
    assert.deepEqual(await readFile(join(dir, 'big.out')), big);
    assert.match((await ok(['head', 's3://cli/copy/big'])).stdout, /client-side encryption: kura/);
    assert.deepEqual((await readdir(join(dir, 'tree'), { recursive: true })).sort(), ['one.txt', 'sub', join('sub', 'two.txt')]);
    assert.equal(await readFile(join(dir, 'tree', 'sub', 'two.txt'), 'utf8'), 'two');
    await ok(['cp', 'tree', 's3://gone/up', '--recursive', '--cse-key', 'a.key']);
    assert.match((await ok(['ls', 's3://gone', '--recursive'])).stdout, /up\/sub\/two\.txt/);
    assert.notEqual((await kura(['rb', 's3://gone'])).code, 0);
    await Promise.all([ok(['rb', 's3://gone', '--force']), ok(['rm', 's3://cli/copy/big'])]);
    assert.equal((await kura(['head', 's3://cli/copy/big'])).code, 3);
  });
});
