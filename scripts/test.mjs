#!/usr/bin/env node
// The test runner behind the npm scripts. Tests run with Node's built-in runner through tsx.
//
//   npm test                      everything: checks (tsc, eslint, dependency rules), then every test/**/*.test.ts
//   npm run test:fast             checks + the `fast` group: unit and core integration tests (the inner loop)
//   npm run test:heavy            the heavy groups only, no checks
//   node scripts/test.mjs --group interop [--group scale …]   some groups only
//   node scripts/test.mjs test/x/y.test.ts …                   these files only
//   node scripts/test.mjs --checks                             the checks only (npm run check)
//   node scripts/test.mjs --list  the groups and their files
//
// A test file is in `fast` unless HEAVY below names it: a new test is in the inner loop until it is slow.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Heavy groups: each a minute or more on a 2-core machine, or needing the stock tools/PostgreSQL. Paths or
 * folder prefixes; the first group that matches a file has it.
 */
const HEAVY = {
  // The 5 GiB memory-ceiling run.
  memory: ['test/server/memory-ceiling.test.ts'],
  // The AWS CLI, boto3 and s3cmd against a real server (each CLI call starts a Python process).
  interop: [
    'test/tools/',
    'test/sse/cli.test.ts',
    'test/sse/boto3.test.ts',
    'test/versioning/clients.test.ts',
    'test/kms/server.test.ts',
    'test/ssekms/sse-kms.test.ts',
    'test/ssekms/bucket-encryption.test.ts',
    'test/cse/client.test.ts',
  ],
  // The kura executable end to end (a process per command).
  cli: ['test/cli/cp.test.ts'],
  // Server restarts: kill -9, SIGTERM, configuration, sealed-metadata tampering, migration of an old data dir.
  restarts: ['test/server/durability.test.ts', 'test/server/config.test.ts', 'test/meta/sealed.test.ts', 'test/migration/'],
  // Generated inputs: listings against a model, SSE header combinations, malformed requests, forged signatures.
  property: ['test/server/property.test.ts', 'test/sse/property.test.ts', 'test/server/fuzz.test.ts', 'test/auth/forgery.test.ts'],
  // Many objects / versions / listings.
  scale: ['test/gateway/scale.test.ts', 'test/versioning/scale.test.ts', 'test/storage/rows-read.test.ts'],
  // The suites re-run against the S3 gateway (upstream: another Kura, s3rver, moto).
  gateway: ['test/gateway/'],
  // Several nodes on one PostgreSQL database (started by the tests).
  'scale-out': ['test/scale-out/', 'test/storage/pg-store.test.ts', 'test/kms/cross-node.test.ts'],
};

function run(what, cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    process.stderr.write(`\nnpm test: ${what} failed (${[cmd, ...args].join(' ')})\n`);
    process.exit(r.status ?? 1);
  }
}

/** Runs a command to completion with its output collected: { what, status, output }. */
function check(what, cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (e) => resolve({ what, status: 1, output: String(e) }));
    child.on('close', (status) => resolve({ what, status, output }));
  });
}

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const all = find('test');
const groupOf = (file) =>
  Object.keys(HEAVY).find((g) => HEAVY[g].some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p))) ?? 'fast';
const groups = { fast: all.filter((f) => groupOf(f) === 'fast') };
for (const g of Object.keys(HEAVY)) groups[g] = all.filter((f) => groupOf(f) === g);

const args = process.argv.slice(2);
let checks = true;
let files;
if (args.includes('--list')) {
  for (const [g, fs] of Object.entries(groups)) console.log(`${g} (${fs.length}):\n  ${fs.join('\n  ')}`);
  process.exit(0);
} else if (args.includes('--checks')) {
  files = [];
} else if (args.includes('--fast')) {
  files = groups.fast;
} else if (args.includes('--heavy')) {
  checks = false;
  files = Object.keys(HEAVY).flatMap((g) => groups[g]);
} else if (args.includes('--group')) {
  checks = false;
  files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--group') continue;
    const g = args[++i];
    if (!groups[g]) {
      process.stderr.write(`unknown group '${g}'; groups: ${Object.keys(groups).join(', ')}\n`);
      process.exit(2);
    }
    files.push(...groups[g]);
  }
} else if (args.length) {
  checks = false;
  files = args;
} else {
  files = all;
}

run('installing the stock S3 tools', 'bash', ['scripts/ensure-tools.sh']);
if (checks) {
  // The checks are independent single-threaded tools: run side by side, output shown per check.
  const results = await Promise.all([
    check('type-check', 'npx', ['tsc', '--noEmit', '-p', '.']),
    check('lint (eslint; `npx eslint --fix` fixes some)', 'npx', ['eslint', '--max-warnings=0', '.']),
    check('format (prettier; `npm run format` fixes it)', 'npm', ['run', '--silent', 'format:check']),
    // Imports point down the layers, no cycles: .dependency-cruiser.cjs, docs/ARCHITECTURE.md.
    check('the dependency rules (an import up the layers or a cycle, see docs/ARCHITECTURE.md "Layers")', 'npx', [
      'depcruise',
      'src',
      '--config',
      '.dependency-cruiser.cjs',
      '--output-type',
      'err',
    ]),
  ]);
  const failed = results.filter((r) => r.status !== 0);
  for (const r of results) if (r.output.trim()) process.stdout.write(`\n== ${r.what}\n${r.output}`);
  if (failed.length) {
    process.stderr.write(`\nnpm test: ${failed.map((r) => r.what).join('; ')} failed\n`);
    process.exit(1);
  }
}
if (!files.length) process.exit(0);
// Builds the kura executable's module bundle once (bin/bundle.mjs), before parallel tests start servers.
run('building the kura bundle', process.execPath, ['bin/kura.mjs', '--version'], { stdio: 'ignore' });
run('tests', process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files]);
