// Debian's AWS CLI v2 (/usr/bin/aws) against a real `kura server`, over HTTP and over HTTPS
// (AWS_CA_BUNDLE = the server's certificate): only --endpoint-url differs from a run against AWS.
// Most command lines go through one long-lived CLI process (t.aws, see helpers.ts); bucket creation and
// the error cases run /usr/bin/aws itself (t.awsProcess), exit codes included.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { toolBox, randomFile, sha256File, settledCount, requestsAfter, show, type ToolBox } from './helpers.ts';

// AWS CLI v2 exit codes: 0 ok, 1 an `aws s3` transfer/command failed, 254 the service answered an error.
const SERVICE_ERROR = 254;

describe('AWS CLI v2 (Debian) against kura server', { concurrency: 2 }, () => {
  let srv: KuraServer;
  before(async () => {
    srv = await startKura();
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
  });

  for (const https of [false, true]) {
    // The two protocols run side by side; the steps within each one in order.
    describe(https ? 'over HTTPS with AWS_CA_BUNDLE' : 'over HTTP', { concurrency: 1 }, () => {
      let t: ToolBox;
      const bucket = https ? 'cli-tls' : 'cli-plain';
      before(async () => {
        t = await toolBox(srv, https);
        const mb = await t.awsProcess('s3', 'mb', `s3://${bucket}`);
        assert.equal(mb.code, 0, show(mb));
        assert.match(mb.stdout, new RegExp(`make_bucket: ${bucket}`));
      });
      after(async () => {
        await t.cleanup();
      });

      test('aws s3 cp / ls / rm of a small file, round trip', async () => {
        await writeFile(join(t.dir, 'hello.txt'), 'hello kura\n');
        let r = await t.aws('s3', 'cp', 'hello.txt', `s3://${bucket}/docs/hello.txt`, '--content-type', 'text/plain', '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /upload: \.\/hello\.txt to s3:\/\/.*\/docs\/hello\.txt/);
        const [lsPrefix, lsBuckets, cat, head] = await Promise.all([
          t.aws('s3', 'ls', `s3://${bucket}/docs/`),
          t.aws('s3', 'ls'),
          t.aws('s3', 'cp', `s3://${bucket}/docs/hello.txt`, '-'),
          t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'docs/hello.txt'),
        ]);
        assert.equal(lsPrefix.code, 0, show(lsPrefix));
        assert.match(lsPrefix.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+11 hello\.txt$/m);
        assert.match(lsBuckets.stdout, new RegExp(`\\s${bucket}$`, 'm'), show(lsBuckets));
        assert.equal(cat.code, 0, show(cat));
        assert.equal(cat.stdout, 'hello kura\n');
        assert.equal(head.ContentType, 'text/plain');
        assert.equal(head.ContentLength, 11);
        r = await t.aws('s3', 'rm', `s3://${bucket}/docs/hello.txt`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /delete: s3:\/\/.*\/docs\/hello\.txt/);
        r = await t.aws('s3', 'ls', `s3://${bucket}/docs/`);
        assert.equal(r.stdout, '', show(r));
      });

      test('aws s3 cp of a 21 MiB file goes multipart and comes back identical', async () => {
        const size = 21 * 1024 * 1024 + 123;
        const sum = await randomFile(join(t.dir, 'big.bin'), size);
        const before = await settledCount(srv, 'UploadPart', bucket);
        let r = await t.aws('s3', 'cp', 'big.bin', `s3://${bucket}/big.bin`, '--no-progress');
        assert.equal(r.code, 0, show(r));
        // The CLI's 8 MiB default part size: 3 parts, and a multipart ETag.
        assert.equal(await requestsAfter(srv, 'UploadPart', bucket, before), 3);
        const head = await t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'big.bin');
        assert.equal(head.ContentLength, size);
        assert.match(head.ETag, /^"[0-9a-f]{32}-3"$/);
        r = await t.aws('s3', 'cp', `s3://${bucket}/big.bin`, 'big.back', '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.equal(await sha256File(join(t.dir, 'big.back')), sum);
        r = await t.aws('s3', 'rm', `s3://${bucket}/big.bin`);
        assert.equal(r.code, 0, show(r));
      });

      test('aws s3 cp - (a stream from stdin, multipart past 8 MiB) and aws s3 mv', async () => {
        const data = randomBytes(9 * 1024 * 1024 + 17);
        const before = await settledCount(srv, 'UploadPart', bucket);
        let r = await t.awsWithInput(data, 's3', 'cp', '-', `s3://${bucket}/stream.bin`);
        assert.equal(r.code, 0, show(r));
        assert.equal(await requestsAfter(srv, 'UploadPart', bucket, before), 2);
        r = await t.aws('s3', 'mv', `s3://${bucket}/stream.bin`, `s3://${bucket}/moved.bin`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /move: s3:\/\/.*\/stream\.bin to s3:\/\/.*\/moved\.bin/);
        r = await t.aws('s3', 'cp', `s3://${bucket}/moved.bin`, 'moved.out', '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.ok((await readFile(join(t.dir, 'moved.out'))).equals(data), 'the streamed object differs');
        const gone = await t.aws('s3api', 'head-object', '--bucket', bucket, '--key', 'stream.bin');
        assert.equal(gone.code, SERVICE_ERROR, show(gone));
        r = await t.aws('s3', 'rm', `s3://${bucket}/moved.bin`);
        assert.equal(r.code, 0, show(r));
      });

      test('aws s3 cp --recursive and aws s3 sync (only changes are sent)', async () => {
        const tree = join(t.dir, 'tree');
        await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
        await writeFile(join(tree, 'a.txt'), 'a');
        await writeFile(join(tree, 'sub', 'b.txt'), 'bb');
        await writeFile(join(tree, 'sub', 'deeper', 'c d.txt'), 'ccc'); // a space in the key
        let r = await t.aws('s3', 'cp', '--recursive', 'tree', `s3://${bucket}/copied/`, '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout.match(/^upload:/gm)?.length, 3, show(r));
        r = await t.aws('s3', 'ls', '--recursive', `s3://${bucket}/copied/`);
        assert.deepEqual(
          r.stdout
            .trim()
            .split('\n')
            .map((l) => l.slice(31))
            .sort(),
          ['copied/a.txt', 'copied/sub/b.txt', 'copied/sub/deeper/c d.txt'],
        );

        r = await t.aws('s3', 'sync', 'tree', `s3://${bucket}/synced`, '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout.match(/^upload:/gm)?.length, 3, show(r));
        // Nothing changed: nothing to do.
        r = await t.aws('s3', 'sync', 'tree', `s3://${bucket}/synced`, '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, '', show(r));
        await writeFile(join(tree, 'sub', 'b.txt'), 'bigger now');
        await writeFile(join(tree, 'new.txt'), 'new');
        r = await t.aws('s3', 'sync', 'tree', `s3://${bucket}/synced`, '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.deepEqual(r.stdout.match(/^upload: \S+/gm)?.sort(), ['upload: tree/new.txt', 'upload: tree/sub/b.txt']);

        r = await t.aws('s3', 'sync', `s3://${bucket}/synced`, 'down', '--no-progress');
        assert.equal(r.code, 0, show(r));
        assert.equal(await readFile(join(t.dir, 'down', 'sub', 'b.txt'), 'utf8'), 'bigger now');
        assert.equal(await readFile(join(t.dir, 'down', 'sub', 'deeper', 'c d.txt'), 'utf8'), 'ccc');
        assert.deepEqual((await readdir(join(t.dir, 'down'))).sort(), ['a.txt', 'new.txt', 'sub']);

        r = await t.aws('s3', 'rm', '--recursive', `s3://${bucket}/synced/`);
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout.match(/^delete:/gm)?.length, 4, show(r));
        r = await t.aws('s3', 'rm', '--recursive', `s3://${bucket}/copied/`);
        assert.equal(r.code, 0, show(r));
      });

      test('aws s3 presign: the URL works with curl; an expired one is refused', async () => {
        await writeFile(join(t.dir, 'p.txt'), 'presigned body');
        let r = await t.aws('s3', 'cp', 'p.txt', `s3://${bucket}/pre/p.txt`, '--no-progress');
        assert.equal(r.code, 0, show(r));
        const [good, short] = await Promise.all([
          t.aws('s3', 'presign', `s3://${bucket}/pre/p.txt`, '--expires-in', '300'),
          t.aws('s3', 'presign', `s3://${bucket}/pre/p.txt`, '--expires-in', '1'),
        ]);
        assert.equal(good.code, 0, show(good));
        const url = good.stdout.trim();
        assert.ok(url.startsWith(`${t.endpoint}/${bucket}/pre/p.txt?`), url);
        assert.match(url, /X-Amz-Signature=[0-9a-f]{64}/);
        r = await t.curl('-w', '\n%{http_code}', url);
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, 'presigned body\n200');
        // The signature covers the path: another key with the same query is refused.
        r = await t.curl('-w', '\n%{http_code}', url.replace('/pre/p.txt?', '/pre/q.txt?'));
        assert.match(r.stdout, /<Code>SignatureDoesNotMatch<\/Code>[\s\S]*\n403$/, show(r));

        await sleep(2100);
        r = await t.curl('-w', '\n%{http_code}', short.stdout.trim());
        assert.match(r.stdout, /<Code>AccessDenied<\/Code>/, show(r));
        assert.match(r.stdout, /Request has expired/, show(r));
        assert.match(r.stdout, /\n403$/, show(r));
      });

      test('aws s3api: put-object, head-object, get-object --range, copy-object', async () => {
        await writeFile(join(t.dir, 'digits.txt'), '0123456789abcdefghij');
        const put = await t.awsJson(
          's3api',
          'put-object',
          '--bucket',
          bucket,
          '--key',
          'api/digits.txt',
          '--body',
          'digits.txt',
          '--content-type',
          'text/x-digits',
          '--metadata',
          'colour=blue,size=twenty',
          '--cache-control',
          'max-age=60',
        );
        assert.equal(put.ETag, `"${createHash('md5').update('0123456789abcdefghij').digest('hex')}"`);
        const head = await t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'api/digits.txt');
        assert.equal(head.ETag, put.ETag);
        assert.equal(head.ContentLength, 20);
        assert.equal(head.ContentType, 'text/x-digits');
        assert.equal(head.CacheControl, 'max-age=60');
        assert.deepEqual(head.Metadata, { colour: 'blue', size: 'twenty' });

        const [got] = await Promise.all([
          t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', 'api/digits.txt', '--range', 'bytes=5-9', 'range.out'),
          t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', 'api/digits.txt', '--range', 'bytes=-3', 'suffix.out'),
        ]);
        assert.equal(got.ContentRange, 'bytes 5-9/20');
        assert.equal(got.ContentLength, 5);
        assert.equal(await readFile(join(t.dir, 'range.out'), 'utf8'), '56789');
        assert.equal(await readFile(join(t.dir, 'suffix.out'), 'utf8'), 'hij');

        const copy = await t.awsJson(
          's3api',
          'copy-object',
          '--bucket',
          bucket,
          '--key',
          'api/copy.txt',
          '--copy-source',
          `${bucket}/api/digits.txt`,
        );
        assert.equal(copy.CopyObjectResult.ETag, put.ETag);
        let h = await t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'api/copy.txt');
        assert.deepEqual(h.Metadata, { colour: 'blue', size: 'twenty' });
        await t.awsJson(
          's3api',
          'copy-object',
          '--bucket',
          bucket,
          '--key',
          'api/copy.txt',
          '--copy-source',
          `${bucket}/api/digits.txt`,
          '--metadata-directive',
          'REPLACE',
          '--metadata',
          'colour=red',
          '--content-type',
          'text/plain',
        );
        h = await t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'api/copy.txt');
        assert.deepEqual(h.Metadata, { colour: 'red' });
        assert.equal(h.ContentType, 'text/plain');
        await t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', 'api/copy.txt', 'copy.out');
        assert.equal(await readFile(join(t.dir, 'copy.out'), 'utf8'), '0123456789abcdefghij');
      });

      test('aws s3api: list-objects-v2 with --prefix, --delimiter and pagination; delete-objects', async () => {
        const keys = ['list/a/1', 'list/a/2', 'list/b/1', 'list/c', 'list/d', 'list/e', 'list/f'];
        await writeFile(join(t.dir, 'x'), 'x');
        await Promise.all(keys.map((k) => t.awsJson('s3api', 'put-object', '--bucket', bucket, '--key', k, '--body', 'x')));

        const delim = await t.awsJson('s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/', '--delimiter', '/');
        assert.deepEqual(
          delim.CommonPrefixes.map((p: { Prefix: string }) => p.Prefix),
          ['list/a/', 'list/b/'],
        );
        assert.deepEqual(
          delim.Contents.map((o: { Key: string }) => o.Key),
          ['list/c', 'list/d', 'list/e', 'list/f'],
        );

        // The CLI follows continuation tokens itself: 7 keys at 2 per page is 4 requests.
        const before = await settledCount(srv, 'ListObjectsV2', bucket);
        const all = await t.awsJson('s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/', '--page-size', '2');
        assert.deepEqual(
          all.Contents.map((o: { Key: string }) => o.Key),
          keys,
        );
        assert.equal(await requestsAfter(srv, 'ListObjectsV2', bucket, before), 4);

        // Manual paging: --max-items hands back a NextToken, --starting-token resumes after it.
        const first = await t.awsJson(
          's3api',
          'list-objects-v2',
          '--bucket',
          bucket,
          '--prefix',
          'list/',
          '--max-items',
          '3',
          '--page-size',
          '2',
        );
        assert.deepEqual(
          first.Contents.map((o: { Key: string }) => o.Key),
          keys.slice(0, 3),
        );
        assert.ok(first.NextToken);
        const rest = await t.awsJson(
          's3api',
          'list-objects-v2',
          '--bucket',
          bucket,
          '--prefix',
          'list/',
          '--starting-token',
          first.NextToken,
          '--page-size',
          '2',
        );
        assert.deepEqual(
          rest.Contents.map((o: { Key: string }) => o.Key),
          keys.slice(3),
        );

        const del = await t.awsJson(
          's3api',
          'delete-objects',
          '--bucket',
          bucket,
          '--delete',
          JSON.stringify({ Objects: [...keys, 'list/never-existed'].map((Key) => ({ Key })), Quiet: false }),
        );
        assert.deepEqual(del.Deleted.map((d: { Key: string }) => d.Key).sort(), [...keys, 'list/never-existed'].sort());
        assert.equal(del.Errors, undefined);
        const after = await t.awsJson('s3api', 'list-objects-v2', '--bucket', bucket, '--prefix', 'list/');
        assert.equal(after.Contents, undefined, JSON.stringify(after));
      });

      test('aws s3api: create-multipart-upload, upload-part, list-parts, complete and abort', async () => {
        const part1 = join(t.dir, 'part1');
        const part2 = join(t.dir, 'part2');
        const sum1 = await randomFile(part1, 5 * 1024 * 1024);
        await writeFile(part2, 'the tail');
        const key = 'mpu/object.bin';
        const created = await t.awsJson(
          's3api',
          'create-multipart-upload',
          '--bucket',
          bucket,
          '--key',
          key,
          '--content-type',
          'application/x-test',
        );
        assert.equal(created.Bucket, bucket);
        assert.equal(created.Key, key);
        const uploadId: string = created.UploadId;
        assert.ok(uploadId);
        const [p1, p2] = await Promise.all([
          t.awsJson(
            's3api',
            'upload-part',
            '--bucket',
            bucket,
            '--key',
            key,
            '--upload-id',
            uploadId,
            '--part-number',
            '1',
            '--body',
            'part1',
          ),
          t.awsJson(
            's3api',
            'upload-part',
            '--bucket',
            bucket,
            '--key',
            key,
            '--upload-id',
            uploadId,
            '--part-number',
            '2',
            '--body',
            'part2',
          ),
        ]);
        const uploads = await t.awsJson('s3api', 'list-multipart-uploads', '--bucket', bucket);
        assert.ok(uploads.Uploads.some((u: { UploadId: string; Key: string }) => u.UploadId === uploadId && u.Key === key));
        const parts = await t.awsJson('s3api', 'list-parts', '--bucket', bucket, '--key', key, '--upload-id', uploadId);
        assert.deepEqual(
          parts.Parts.map((p: { PartNumber: number; ETag: string; Size: number }) => [p.PartNumber, p.ETag, p.Size]),
          [
            [1, p1.ETag, 5 * 1024 * 1024],
            [2, p2.ETag, 8],
          ],
        );
        const done = await t.awsJson(
          's3api',
          'complete-multipart-upload',
          '--bucket',
          bucket,
          '--key',
          key,
          '--upload-id',
          uploadId,
          '--multipart-upload',
          JSON.stringify({
            Parts: [
              { PartNumber: 1, ETag: p1.ETag },
              { PartNumber: 2, ETag: p2.ETag },
            ],
          }),
        );
        assert.match(done.ETag, /^"[0-9a-f]{32}-2"$/);
        assert.equal(done.Key, key);
        const got = await t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', key, 'mpu.out');
        assert.equal(got.ContentType, 'application/x-test');
        assert.equal(got.ContentLength, 5 * 1024 * 1024 + 8);
        const tail = await t.awsJson(
          's3api',
          'get-object',
          '--bucket',
          bucket,
          '--key',
          key,
          '--range',
          `bytes=${5 * 1024 * 1024}-`,
          'tail.out',
        );
        assert.equal(tail.ContentLength, 8);
        assert.equal(await readFile(join(t.dir, 'tail.out'), 'utf8'), 'the tail');
        const head1 = await t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', key, '--part-number', '1', 'p1.out');
        assert.equal(head1.PartsCount, 2);
        assert.equal(await sha256File(join(t.dir, 'p1.out')), sum1);

        const other = await t.awsJson('s3api', 'create-multipart-upload', '--bucket', bucket, '--key', 'mpu/aborted');
        await t.awsJson(
          's3api',
          'upload-part',
          '--bucket',
          bucket,
          '--key',
          'mpu/aborted',
          '--upload-id',
          other.UploadId,
          '--part-number',
          '1',
          '--body',
          'part2',
        );
        await t.awsJson('s3api', 'abort-multipart-upload', '--bucket', bucket, '--key', 'mpu/aborted', '--upload-id', other.UploadId);
        const r = await t.aws('s3api', 'list-parts', '--bucket', bucket, '--key', 'mpu/aborted', '--upload-id', other.UploadId);
        assert.equal(r.code, SERVICE_ERROR, show(r));
        assert.match(r.stderr, /An error occurred \(NoSuchUpload\) when calling the ListParts operation/);
        const left = await t.awsJson('s3api', 'list-multipart-uploads', '--bucket', bucket);
        assert.equal(left.Uploads, undefined);
        const missing = await t.aws('s3api', 'head-object', '--bucket', bucket, '--key', 'mpu/aborted');
        assert.equal(missing.code, SERVICE_ERROR, show(missing));
      });

      test('aws s3api: get-bucket-location, get-bucket-versioning, list-object-versions', async () => {
        const loc = await t.awsJson('s3api', 'get-bucket-location', '--bucket', bucket);
        assert.equal(loc.LocationConstraint, null); // us-east-1 is the empty constraint
        const ver = await t.awsJson('s3api', 'get-bucket-versioning', '--bucket', bucket);
        assert.equal(ver.Status, undefined); // never enabled
        await writeFile(join(t.dir, 'v'), 'versions');
        await t.awsJson('s3api', 'put-object', '--bucket', bucket, '--key', 'ver/one', '--body', 'v');
        const versions = await t.awsJson('s3api', 'list-object-versions', '--bucket', bucket, '--prefix', 'ver/');
        assert.equal(versions.Versions.length, 1);
        assert.equal(versions.Versions[0].Key, 'ver/one');
        assert.equal(versions.Versions[0].VersionId, 'null');
        assert.equal(versions.Versions[0].IsLatest, true);
        assert.equal(versions.Versions[0].Size, 8);
      });

      test('errors: missing bucket and key give the S3 codes, messages and the CLI exit codes', async () => {
        const missingBucket = https ? 'no-such-bucket-tls' : 'no-such-bucket';
        const [lsBucket, getKey, getBucketKey, headKey, cpKey, mbAgain, rbFull, badName] = await Promise.all([
          t.awsProcess('s3', 'ls', `s3://${missingBucket}`),
          t.awsProcess('s3api', 'get-object', '--bucket', bucket, '--key', 'nope', 'nope.out'),
          t.awsProcess('s3api', 'get-object', '--bucket', missingBucket, '--key', 'nope', 'nope2.out'),
          t.awsProcess('s3api', 'head-object', '--bucket', bucket, '--key', 'nope'),
          t.awsProcess('s3', 'cp', `s3://${bucket}/nope`, 'nope3.out'),
          t.awsProcess('s3', 'mb', `s3://${bucket}`),
          t.awsProcess('s3', 'rb', `s3://${bucket}`), // still holds objects
          t.awsProcess('s3api', 'create-bucket', '--bucket', 'Bad_Name'),
        ]);
        assert.equal(lsBucket.code, SERVICE_ERROR, show(lsBucket));
        assert.match(
          lsBucket.stderr,
          /An error occurred \(NoSuchBucket\) when calling the ListObjectsV2 operation: The specified bucket does not exist/,
        );
        assert.equal(getKey.code, SERVICE_ERROR, show(getKey));
        assert.match(
          getKey.stderr,
          /An error occurred \(NoSuchKey\) when calling the GetObject operation: The specified key does not exist\./,
        );
        assert.equal(getBucketKey.code, SERVICE_ERROR, show(getBucketKey));
        assert.match(getBucketKey.stderr, /\(NoSuchBucket\) when calling the GetObject operation/);
        // HEAD has no body: the CLI can only report the status.
        assert.equal(headKey.code, SERVICE_ERROR, show(headKey));
        assert.match(headKey.stderr, /An error occurred \(404\) when calling the HeadObject operation: Not Found/);
        assert.equal(cpKey.code, 1, show(cpKey));
        assert.match(
          cpKey.stderr,
          /fatal error: An error occurred \(404\) when calling the HeadObject operation: Key "nope" does not exist/,
        );
        assert.equal(mbAgain.code, 1, show(mbAgain));
        assert.match(mbAgain.stderr, /make_bucket failed: .*\(BucketAlreadyOwnedByYou\)/);
        assert.equal(rbFull.code, 1, show(rbFull));
        assert.match(
          rbFull.stderr,
          /remove_bucket failed: .*\(BucketNotEmpty\) when calling the DeleteBucket operation: The bucket you tried to delete is not empty/,
        );
        assert.equal(badName.code, SERVICE_ERROR, show(badName));
        assert.match(badName.stderr, /InvalidBucketName|Invalid bucket name/);

        // Wrong credentials: refused with S3's codes.
        const env = t.env;
        const saved = env.AWS_SECRET_ACCESS_KEY!;
        env.AWS_SECRET_ACCESS_KEY = `${saved.slice(0, -1)}${saved.endsWith('A') ? 'B' : 'A'}`;
        const badSecret = await t.awsProcess('s3', 'ls', `s3://${bucket}`);
        env.AWS_SECRET_ACCESS_KEY = saved;
        assert.equal(badSecret.code, SERVICE_ERROR, show(badSecret));
        assert.match(badSecret.stderr, /\(SignatureDoesNotMatch\)/);
      });

      test('aws s3 rb --force empties and removes the bucket', async () => {
        const r = await t.aws('s3', 'rb', '--force', `s3://${bucket}`);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, new RegExp(`remove_bucket: ${bucket}`));
        const ls = await t.aws('s3', 'ls');
        assert.doesNotMatch(ls.stdout, new RegExp(`\\s${bucket}$`, 'm'));
      });
    });
  }
});
