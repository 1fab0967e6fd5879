// Versioning with the stock clients against a real `kura server`: Debian's AWS CLI v2 (s3api
// put-bucket-versioning, list-object-versions, get-object --version-id, delete-object --version-id …)
// and python3-boto3 (test/versioning/boto3_versioning.py, one process, one test per check).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { toolBox, run, show, PYTHON, type ToolBox, type RunResult } from '../tools/helpers.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'boto3_versioning.py');
// The suspended check needs a bucket with no versioning state yet: it runs first.
const BOTO_CHECKS = ['suspended_null_versions', 'enabled_versions', 'delete_markers', 'paging'];
// AWS CLI v2: exit 254 when the service answered an error.
const SERVICE_ERROR = 254;

describe('versioning with the AWS CLI and boto3', () => {
  let srv: KuraServer;
  let boto: Promise<{ run: RunResult; byCheck: Map<string, { ok: boolean; error?: string }> }>;

  before(async () => {
    srv = await startKura();
    await srv.client().send(new CreateBucketCommand({ Bucket: 'boto-versions' }));
    // boto3 runs in the background while the CLI steps go.
    boto = (async () => {
      const t = await toolBox(srv, false);
      const r = await run(PYTHON, [SCRIPT, t.endpoint, 'boto-versions', ...BOTO_CHECKS], { env: t.env, cwd: t.dir });
      await t.cleanup();
      const byCheck = new Map<string, { ok: boolean; error?: string }>();
      for (const line of r.stdout.split('\n')) {
        if (line.startsWith('{')) {
          const j = JSON.parse(line) as { check: string; ok: boolean; error?: string };
          byCheck.set(j.check, j);
        }
      }
      return { run: r, byCheck };
    })();
  });
  after(async () => {
    await boto?.catch(() => {});
    assert.equal(await srv?.stop(), 0);
  });

  describe('AWS CLI v2 s3api', { concurrency: 1 }, () => {
    let t: ToolBox;
    const bucket = 'cli-versions';
    const versions: string[] = [];
    before(async () => {
      t = await toolBox(srv, false);
      await t.awsJson('s3api', 'create-bucket', '--bucket', bucket);
    });
    after(async () => {
      await t.cleanup();
    });

    test('put-bucket-versioning / get-bucket-versioning', async () => {
      assert.deepEqual(await t.awsJson('s3api', 'get-bucket-versioning', '--bucket', bucket), {});
      await t.awsJson('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled');
      assert.equal((await t.awsJson('s3api', 'get-bucket-versioning', '--bucket', bucket)).Status, 'Enabled');
      const bad = await t.aws('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Disabled');
      assert.equal(bad.code, SERVICE_ERROR, show(bad));
      assert.match(bad.stderr, /MalformedXML/);
    });

    test('put-object makes versions; get-object --version-id reads each; head-object names it', async () => {
      for (const body of ['first\n', 'second\n', 'third\n']) {
        await writeFile(join(t.dir, 'in.txt'), body);
        const r = await t.awsJson('s3api', 'put-object', '--bucket', bucket, '--key', 'notes.txt', '--body', join(t.dir, 'in.txt'));
        assert.match(r.VersionId, /^[0-9a-f]{32}$/);
        versions.push(r.VersionId);
      }
      for (const [i, body] of ['first\n', 'second\n', 'third\n'].entries()) {
        const out = join(t.dir, `out-${i}.txt`);
        const r = await t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', 'notes.txt', '--version-id', versions[i]!, out);
        assert.equal(r.VersionId, versions[i]);
        assert.equal(await readFile(out, 'utf8'), body);
      }
      assert.equal((await t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'notes.txt')).VersionId, versions[2]);
      const missing = await t.aws(
        's3api',
        'get-object',
        '--bucket',
        bucket,
        '--key',
        'notes.txt',
        '--version-id',
        'f'.repeat(32),
        join(t.dir, 'x'),
      );
      assert.equal(missing.code, SERVICE_ERROR);
      assert.match(missing.stderr, /NoSuchVersion/);
    });

    test('list-object-versions, delete markers, delete-object --version-id', async () => {
      const listed = await t.awsJson('s3api', 'list-object-versions', '--bucket', bucket);
      assert.deepEqual(
        listed.Versions.map((v: any) => [v.VersionId, v.IsLatest]),
        [
          [versions[2], true],
          [versions[1], false],
          [versions[0], false],
        ],
      );
      const del = await t.awsJson('s3api', 'delete-object', '--bucket', bucket, '--key', 'notes.txt');
      assert.equal(del.DeleteMarker, true);
      const get = await t.aws('s3api', 'get-object', '--bucket', bucket, '--key', 'notes.txt', join(t.dir, 'gone'));
      assert.equal(get.code, SERVICE_ERROR);
      assert.match(get.stderr, /NoSuchKey/);
      const withMarker = await t.awsJson('s3api', 'list-object-versions', '--bucket', bucket);
      assert.deepEqual(
        withMarker.DeleteMarkers.map((m: any) => [m.VersionId, m.IsLatest]),
        [[del.VersionId, true]],
      );
      assert.equal(withMarker.Versions[0].IsLatest, false);
      // Paged by the CLI itself (one entry per request), nothing lost or repeated.
      const paged = await t.awsJson('s3api', 'list-object-versions', '--bucket', bucket, '--page-size', '1');
      assert.deepEqual(
        [...paged.Versions, ...paged.DeleteMarkers].map((v: any) => v.VersionId).sort(),
        [...versions, del.VersionId].sort(),
      );
      const limited = await t.awsJson('s3api', 'list-object-versions', '--bucket', bucket, '--max-items', '2');
      assert.ok(limited.NextToken, 'a truncated listing hands back a token');
      // Removing the marker and the newest version by id: the middle one is current.
      const undo = await t.awsJson('s3api', 'delete-object', '--bucket', bucket, '--key', 'notes.txt', '--version-id', del.VersionId);
      assert.deepEqual([undo.DeleteMarker, undo.VersionId], [true, del.VersionId]);
      const drop = await t.awsJson('s3api', 'delete-object', '--bucket', bucket, '--key', 'notes.txt', '--version-id', versions[2]!);
      assert.equal(drop.VersionId, versions[2]);
      assert.equal((await t.awsJson('s3api', 'head-object', '--bucket', bucket, '--key', 'notes.txt')).VersionId, versions[1]);
      const bad = await t.aws('s3api', 'delete-object', '--bucket', bucket, '--key', 'notes.txt', '--version-id', 'bogus');
      assert.equal(bad.code, SERVICE_ERROR);
      assert.match(bad.stderr, /InvalidArgument/);
    });

    test('suspended: put-object writes the null version, delete-object adds a null marker', async () => {
      await t.awsJson('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Suspended');
      await writeFile(join(t.dir, 'in.txt'), 'null body\n');
      const put = await t.awsJson('s3api', 'put-object', '--bucket', bucket, '--key', 'notes.txt', '--body', join(t.dir, 'in.txt'));
      assert.equal(put.VersionId, undefined);
      const out = join(t.dir, 'null.txt');
      assert.equal(
        (await t.awsJson('s3api', 'get-object', '--bucket', bucket, '--key', 'notes.txt', '--version-id', 'null', out)).VersionId,
        'null',
      );
      assert.equal(await readFile(out, 'utf8'), 'null body\n');
      const del = await t.awsJson('s3api', 'delete-object', '--bucket', bucket, '--key', 'notes.txt');
      assert.deepEqual([del.DeleteMarker, del.VersionId], [true, 'null']);
      const listed = await t.awsJson('s3api', 'list-object-versions', '--bucket', bucket);
      assert.deepEqual(
        listed.DeleteMarkers.map((m: any) => [m.VersionId, m.IsLatest]),
        [['null', true]],
      );
      assert.deepEqual(
        listed.Versions.map((v: any) => v.VersionId),
        [versions[1], versions[0]],
      );
    });
  });

  describe('boto3', () => {
    for (const check of BOTO_CHECKS) {
      test(check, async () => {
        const { run: r, byCheck } = await boto;
        const c = byCheck.get(check);
        assert.ok(c, `check did not report\n${show(r)}`);
        assert.ok(c.ok, c.error);
      });
    }
  });
});
