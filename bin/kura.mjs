#!/usr/bin/env -S node --no-incremental-marking
// Entry point for `npx kura`: the TypeScript sources, from a cached esbuild bundle (bin/bundle.mjs: half the
// start-up time) or else through tsx; no build step either way.
// --no-incremental-marking: Kura's garbage is mostly I/O buffers held outside a small JS heap. With V8's
// default, every few MiB of buffers ("external memory pressure") starts an incremental marking of the whole
// heap, ~60 of them per GiB streamed: a 1 GiB encrypted GET took 1.9-2.2 s of server user CPU, mostly GC;
// without incremental marking 0.40-0.45 s (scavenges free the buffers; full collections still run when the
// heap grows, as one pause). `npm start` and the tests pass the same flag; `node bin/kura.mjs` keeps V8's defaults.
import { cliModule } from './bundle.mjs';

const bundled = process.env.KURA_NO_BUNDLE ? undefined : await cliModule();
if (bundled) {
  await import(bundled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
