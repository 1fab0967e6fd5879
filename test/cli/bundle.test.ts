// The kura executable's module cache (bin/bundle.mjs): a bundle per state of the sources, rebuilt when a
// source is edited, added or removed, reused otherwise; and the real executable runs from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
// @ts-expect-error: plain JavaScript module without types
import { cliModule } from '../../bin/bundle.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function output(main: string): Promise<string> {
  return execFileSync(process.execPath, ['-e', `import(${JSON.stringify(pathToFileURL(main).href)})`], { encoding: 'utf8' }).trim();
}

test('a bundle per state of the sources: edits, additions and removals rebuild, nothing else does', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kura-bundle-'));
  try {
    await writeFile(join(root, 'tsconfig.json'), '{}');
    await mkdir(join(root, 'src', 'cli'), { recursive: true });
    const lib = join(root, 'src', 'lib.ts');
    await writeFile(lib, "export const word: string = 'one';\n");
    await writeFile(
      join(root, 'src', 'cli', 'main.ts'),
      "import { word } from '../lib.ts';\nconsole.log(word, (await import('../lazy.ts')).lazy);\n",
    );
    await writeFile(join(root, 'src', 'lazy.ts'), "export const lazy = 'lazy';\n");

    const first: string = await cliModule(root);
    assert.ok(first, 'a bundle was built');
    assert.equal(await output(first), 'one lazy');
    const built = (await stat(first)).mtimeMs;
    assert.equal(await cliModule(root), first, 'unchanged sources reuse the bundle');
    assert.equal((await stat(first)).mtimeMs, built);

    await writeFile(lib, "export const word: string = 'two';\n");
    await utimes(lib, new Date(), new Date(Date.now() + 5000));
    const second: string = await cliModule(root);
    assert.notEqual(second, first);
    assert.equal(await output(second), 'two lazy');

    await writeFile(join(root, 'src', 'extra.ts'), 'export {};\n');
    const third: string = await cliModule(root);
    assert.notEqual(third, second, 'an added file changes the bundle');
    await rm(join(root, 'src', 'extra.ts'));
    assert.notEqual(await cliModule(root), third, 'a removed file changes the bundle');

    const dirs = await readdir(join(root, 'node_modules', '.cache', 'kura'));
    assert.ok(
      dirs.every((d) => !d.includes('.tmp-')),
      'no half-built bundle is left',
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a source that does not compile leaves no bundle: the executable falls back to tsx', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kura-bundle-'));
  try {
    await writeFile(join(root, 'tsconfig.json'), '{}');
    await mkdir(join(root, 'src', 'cli'), { recursive: true });
    await writeFile(join(root, 'src', 'cli', 'main.ts'), 'export const = ;\n');
    assert.equal(await cliModule(root), undefined);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the kura executable runs from the bundle of the current sources', async () => {
  const version = execFileSync(process.execPath, [join(ROOT, 'bin', 'kura.mjs'), '--version'], { encoding: 'utf8' }).trim();
  const main: string = await cliModule(ROOT);
  assert.match(main, /node_modules\/\.cache\/kura\/\d+-\d+-\d+\/main\.js$/);
  await stat(main);
  const viaTsx = execFileSync(process.execPath, [join(ROOT, 'bin', 'kura.mjs'), '--version'], {
    encoding: 'utf8',
    env: { ...process.env, KURA_NO_BUNDLE: '1' },
  }).trim();
  assert.equal(version, viaTsx);
});
