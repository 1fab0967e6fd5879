// The `kura` executable's module cache. Run through tsx, every module the CLI loads (ours and the few hundred
// of @aws-sdk) passes tsx's loader hooks on another thread: ~0.35 s before a command starts. Instead the
// TypeScript sources are bundled once by esbuild (the transformer tsx itself uses: same output) into
// node_modules/.cache/kura/<stamp>/, split at dynamic imports so each command loads only what it uses, with
// npm packages left as imports: ~0.17 s. The stamp is the newest modification time, count and total size of
// the files under src/ (and tsconfig.json's time): an edited, added or removed source makes a new bundle. A
// bundle is built in a temporary directory and renamed into place (concurrent starts never see half of one).
// Bundles of older sources are pruned after a day (a running server may still load its lazy chunks until then).
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DAY_MS = 24 * 3600 * 1000;

function sourceStamp(root) {
  let newest = statSync(join(root, 'tsconfig.json')).mtimeMs;
  let count = 0;
  let bytes = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) { walk(p); continue; }
      const st = statSync(p);
      count++;
      bytes += st.size;
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  walk(join(root, 'src'));
  return `${Math.floor(newest)}-${count}-${bytes}`;
}

async function build(root, dir) {
  const { build: esbuild } = await import('esbuild');
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await esbuild({
    absWorkingDir: root,
    entryPoints: { main: 'src/cli/main.ts' },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another start renamed the same bundle into place first
  }
}

function prune(cache, keep) {
  for (const name of readdirSync(cache)) {
    const p = join(cache, name);
    if (name !== keep && Date.now() - statSync(p).mtimeMs > DAY_MS) rmSync(p, { recursive: true, force: true });
  }
}

/** The module to import to run the CLI: the bundle of the current sources, or undefined (run through tsx). */
export async function cliModule(root = ROOT) {
  try {
    const cache = join(root, 'node_modules', '.cache', 'kura');
    const stamp = sourceStamp(root);
    const dir = join(cache, stamp);
    const main = join(dir, 'main.js');
    try {
      statSync(main);
    } catch {
      mkdirSync(cache, { recursive: true });
      await build(root, dir);
      prune(cache, stamp);
    }
    return main;
  } catch {
    return undefined; // no src/ (an unusual install), no esbuild, or a read-only cache: tsx still works
  }
}
