#!/usr/bin/env node
// `npm test`: installs the stock S3 tools the tests drive (AWS CLI, boto3, s3cmd from Debian),
// type-checks, then runs every test/**/*.test.ts with Node's built-in runner through tsx.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run('bash', ['scripts/ensure-tools.sh']);
run('npx', ['tsc', '--noEmit', '-p', '.']);
// Builds the kura executable's module bundle once (bin/bundle.mjs), before parallel tests start servers.
run(process.execPath, ['bin/kura.mjs', '--version'], { stdio: 'ignore' });

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const only = process.argv.slice(2);
const files = only.length ? only : find('test');
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files]);
