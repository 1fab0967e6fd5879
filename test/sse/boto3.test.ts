// SSE-C and SSE-S3 with boto3 (Debian's python3-boto3) over HTTPS: round trips, errors, copies between
// modes and re-keying, multipart through the transfer manager, presigned SSE-C GET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startKura } from '../helpers/server.ts';

const SCRIPT = fileURLToPath(new URL('./fixtures/boto3-sse.py', import.meta.url));

test('boto3: SSE-C and SSE-S3 operations', async () => {
  const srv = await startKura();
  try {
    const r = await promisify(execFile)('/usr/bin/python3', [SCRIPT, srv.httpsEndpoint, 'sse-boto3'], {
      env: { ...process.env, ...srv.env({ https: true }), AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
      maxBuffer: 16 * 1024 * 1024,
    });
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(report, {
      put: ['AES256', true, true],
      get: true,
      range: true,
      head: [300_000, 'AES256'],
      no_key: [400, 'InvalidRequest'],
      wrong_key: [403, 'AccessDenied'],
      head_wrong_key: [403, '403'],
      rekey: [true, true, [403, 'AccessDenied']],
      to_sse_s3: ['AES256', true, 'AES256'],
      plain_head: 'AES256',
      plain_to_c: true,
      multipart: [true, true],
      multipart_cross: true,
      presigned: true,
    });
  } finally {
    await srv.stop();
  }
});
