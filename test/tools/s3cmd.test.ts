// Debian's s3cmd against a real `kura server`, over HTTP and HTTPS, with the config file a user would
// write for any S3-compatible endpoint: host_base/host_bucket, signature_v2 = False, use_https.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { toolBox, run, show, randomFile, sha256File, settledCount, requestsAfter, S3CMD, type ToolBox, type RunResult } from './helpers.ts';

// s3cmd's exit codes (S3/ExitCodes.py).
const EX_NOTFOUND = 12;
const EX_CONFLICT = 13;
const EX_USAGE = 64;

describe('s3cmd (Debian) against kura server', { concurrency: 2 }, () => {
  let srv: KuraServer;
  before(async () => {
    srv = await startKura();
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
  });

  for (const https of [false, true]) {
    describe(https ? 'over HTTPS' : 'over HTTP', { concurrency: 1 }, () => {
      let t: ToolBox;
      let s3cmd: (...args: string[]) => Promise<RunResult>;
      const bucket = https ? 's3cmd-tls' : 's3cmd-plain';
      before(async () => {
        t = await toolBox(srv, https);
        const host = new URL(t.endpoint).host;
        const cfg = join(t.dir, 's3cfg');
        await writeFile(
          cfg,
          [
            '[default]',
            `access_key = ${t.env.AWS_ACCESS_KEY_ID}`,
            `secret_key = ${t.env.AWS_SECRET_ACCESS_KEY}`,
            `host_base = ${host}`,
            `host_bucket = ${host}`, // no %(bucket)s: path-style requests
            'bucket_location = us-east-1',
            'signature_v2 = False',
            `use_https = ${https ? 'True' : 'False'}`,
            ...(https ? [`ca_certs_file = ${srv.caPath}`, 'check_ssl_certificate = True', 'check_ssl_hostname = True'] : []),
            '',
          ].join('\n'),
        );
        s3cmd = (...args) => run(S3CMD, ['-c', cfg, ...args], { env: t.env, cwd: t.dir });
      });
      after(async () => {
        await t.cleanup();
      });

      test('mb, put, ls, get, info, del, rb', async () => {
        let r = await s3cmd('mb', `s3://${bucket}`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, new RegExp(`Bucket 's3://${bucket}/' created`));
        await writeFile(join(t.dir, 'note.txt'), 'written by s3cmd\n');
        r = await s3cmd('put', 'note.txt', `s3://${bucket}/dir/note.txt`, '--mime-type=text/plain', '--add-header=x-amz-meta-origin:s3cmd');
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /upload: 'note\.txt' -> 's3:\/\/.*\/dir\/note\.txt'/);
        r = await s3cmd('ls', `s3://${bucket}`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, new RegExp(`DIR\\s+s3://${bucket}/dir/`));
        r = await s3cmd('ls', '-r', `s3://${bucket}`);
        assert.match(r.stdout, new RegExp(`\\s17\\s+s3://${bucket}/dir/note\\.txt$`, 'm'), show(r));
        r = await s3cmd('ls');
        assert.match(r.stdout, new RegExp(`s3://${bucket}$`, 'm'), show(r));
        r = await s3cmd('get', `s3://${bucket}/dir/note.txt`, 'back.txt');
        assert.equal(r.code, 0, show(r));
        assert.equal(await readFile(join(t.dir, 'back.txt'), 'utf8'), 'written by s3cmd\n');
        r = await s3cmd('info', `s3://${bucket}/dir/note.txt`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /File size: 17/);
        assert.match(r.stdout, /MIME type: text\/plain/);
        assert.match(r.stdout, /x-amz-meta-origin: s3cmd/);
        r = await s3cmd('cp', `s3://${bucket}/dir/note.txt`, `s3://${bucket}/dir/copy.txt`);
        assert.equal(r.code, 0, show(r));
        r = await s3cmd('get', `s3://${bucket}/dir/copy.txt`, '-');
        assert.equal(r.stdout, 'written by s3cmd\n', show(r));
        r = await s3cmd('del', `s3://${bucket}/dir/note.txt`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /delete: 's3:\/\/.*\/dir\/note\.txt'/);
        r = await s3cmd('ls', '-r', `s3://${bucket}`);
        assert.doesNotMatch(r.stdout, /note\.txt/, show(r));
      });

      test('a multipart put (5 MiB chunks) and get', async () => {
        const size = 11 * 1024 * 1024 + 5;
        const sum = await randomFile(join(t.dir, 'big.bin'), size);
        const parts = await settledCount(srv, 'UploadPart', bucket);
        let r = await s3cmd('put', 'big.bin', `s3://${bucket}/big.bin`, '--multipart-chunk-size-mb=5');
        assert.equal(r.code, 0, show(r));
        assert.equal(await requestsAfter(srv, 'UploadPart', bucket, parts), 3);
        r = await s3cmd('get', `s3://${bucket}/big.bin`, 'big.back');
        assert.equal(r.code, 0, show(r));
        assert.equal(await sha256File(join(t.dir, 'big.back')), sum);
        r = await s3cmd('ls', `s3://${bucket}/big.bin`);
        assert.match(r.stdout, new RegExp(`\\s${size}\\s+s3://${bucket}/big\\.bin`), show(r));
      });

      test('errors: missing key, missing bucket, bucket not empty', async () => {
        const [getMissing, lsMissing, rbFull] = await Promise.all([
          s3cmd('get', `s3://${bucket}/nope`, 'nope.out'),
          s3cmd('ls', `s3://${bucket}-absent`),
          s3cmd('rb', `s3://${bucket}`),
        ]);
        // s3cmd checks the source with a HEAD first.
        assert.equal(getMissing.code, EX_USAGE, show(getMissing));
        assert.match(getMissing.stderr, /Source object 's3:\/\/.*\/nope' does not exist/);
        assert.equal(lsMissing.code, EX_NOTFOUND, show(lsMissing));
        assert.match(lsMissing.stderr, /S3 error: 404 \(NoSuchBucket\): The specified bucket does not exist/);
        assert.equal(rbFull.code, EX_CONFLICT, show(rbFull));
        assert.match(rbFull.stderr, /S3 error: 409 \(BucketNotEmpty\)/);
      });

      test('del --recursive and rb', async () => {
        let r = await s3cmd('del', '--recursive', '--force', `s3://${bucket}`);
        assert.equal(r.code, 0, show(r));
        r = await s3cmd('rb', `s3://${bucket}`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, new RegExp(`Bucket 's3://${bucket}/' removed`));
      });
    });
  }
});
