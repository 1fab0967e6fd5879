// Debian's python3-boto3 against a real `kura server`, over HTTP and HTTPS (AWS_CA_BUNDLE).
// One python process per protocol runs every check of boto3_checks.py (Python starts slowly); each
// check reports on its own line and becomes its own test here, with the Python traceback on failure.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { toolBox, run, show, PYTHON, type RunResult } from './helpers.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'boto3_checks.py');
const CHECKS: Record<string, string> = {
  bucket_lifecycle: 'buckets: head, list, location, versioning, create/delete',
  put_get_head: 'put_object / get_object / head_object with metadata (client and resource API)',
  range_get: 'ranged get_object, and InvalidRange',
  list_v2: 'list_objects_v2 paginator, delimiter, StartAfter; list_objects v1; list_object_versions',
  copy_object: 'copy_object (COPY and REPLACE metadata) and the managed copy()',
  delete_objects: 'delete_object, delete_objects, objects.filter().delete()',
  upload_file_multipart: 'upload_file with a 5 MiB multipart threshold, download_file, *_fileobj',
  multipart_low_level: 'create/upload_part/list_parts/complete/abort, EntityTooSmall, GET partNumber',
  presigned_urls: 'presigned GET and PUT URLs fetched with urllib; an expired one is refused',
  presigned_post: 'generate_presigned_post: a browser-style form upload, and its policy enforced',
  error_codes: 'ClientError codes: NoSuchKey, NoSuchBucket, BucketNotEmpty, NoSuchUpload, auth errors…',
};

type Outcome = { run: RunResult; byCheck: Map<string, { ok: boolean; error?: string }> };

async function runChecks(srv: KuraServer, https: boolean): Promise<Outcome> {
  const bucket = https ? 'boto-tls' : 'boto-plain';
  await srv.client().send(new CreateBucketCommand({ Bucket: bucket }));
  const t = await toolBox(srv, https);
  const r = await run(PYTHON, [SCRIPT, t.endpoint, bucket, ...Object.keys(CHECKS)], { env: t.env, cwd: t.dir });
  await t.cleanup();
  const byCheck = new Map<string, { ok: boolean; error?: string }>();
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { check: string; ok: boolean; error?: string };
    byCheck.set(j.check, j);
  }
  return { run: r, byCheck };
}

describe('boto3 (Debian python3-boto3) against kura server', () => {
  let srv: KuraServer;
  const outcomes = new Map<boolean, Promise<Outcome>>();
  before(async () => {
    srv = await startKura();
    // Both protocols' scripts run side by side; each test waits for its own.
    for (const https of [false, true]) {
      const p = runChecks(srv, https);
      p.catch(() => {}); // reported by the tests that await it
      outcomes.set(https, p);
    }
  });
  after(async () => {
    await Promise.allSettled(outcomes.values());
    assert.equal(await srv.stop(), 0);
  });

  for (const https of [false, true]) {
    describe(https ? 'over HTTPS with AWS_CA_BUNDLE' : 'over HTTP', () => {
      for (const [check, title] of Object.entries(CHECKS)) {
        test(title, async () => {
          const { run: r, byCheck } = await outcomes.get(https)!;
          const res = byCheck.get(check);
          assert.ok(res, `check ${check} did not report: ${show(r)}`);
          assert.ok(res.ok, `boto3 check ${check} failed:\n${res.error}`);
        });
      }

      test('the script ran cleanly', async () => {
        const { run: r, byCheck } = await outcomes.get(https)!;
        assert.equal(r.code, 0, show(r));
        assert.equal(byCheck.size, Object.keys(CHECKS).length, show(r));
      });
    });
  }
});
