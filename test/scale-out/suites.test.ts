// Existing server test files, run once more with every server they start being a node on PostgreSQL
// metadata + the S3 blob store (KURA_TEST_META=postgres: `kura server --meta postgres://… --backend s3`, a
// fresh database on a PostgreSQL this run starts and an upstream Kura; see test/helpers/server.ts).
// The same S3 behaviour must hold whichever metadata engine keeps the records. (test/sse/sdk.test.ts and
// the other files that inspect the data dir's blob files and LMDB rows are fs/LMDB-only.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FILES = [
  'test/server/objects.test.ts',
  'test/server/multipart.test.ts',
  'test/versioning/versioning.test.ts',
  'test/sse/headers.test.ts',
];

test(`against PostgreSQL metadata + the S3 blob store: ${FILES.join(', ')}`, { timeout: 300_000 }, async () => {
  // A runner of its own: without NODE_TEST_CONTEXT the child does not report into this runner.
  const env: NodeJS.ProcessEnv = { ...process.env, KURA_TEST_META: 'postgres' };
  delete env.NODE_TEST_CONTEXT;
  delete env.KURA_TEST_BACKEND;
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=tap', ...FILES], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const failures = out.split('\n').filter((l) => /^\s*not ok /.test(l));
  assert.equal(code, 0, `failed against PostgreSQL metadata:\n${failures.join('\n')}\n${out.slice(-4000)}`);
  // The files really ran (not an empty or skipped run), and really on PostgreSQL.
  const pass = Number(/^# pass (\d+)/m.exec(out)?.[1] ?? 0);
  assert.ok(pass >= 40, `only ${pass} tests passed`);
});
