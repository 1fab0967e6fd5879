// Kura's layers, checked by `npm test` (scripts/test.mjs → `npx depcruise src`). Imports only point down:
//
//   crypto, protocol          leaves: nothing of ours
//   hashing                   → protocol
//   sigv4                     → protocol, crypto
//   storage                   → crypto, protocol, hashing, sigv4
//   kms                       → storage (its keys live in the metadata store) and everything storage may use
//   sse                       → kms, storage and everything they may use
//   cse                       → crypto, protocol, hashing, sigv4 (client side: used by the cli only)
//   server                    → everything above except cse
//   cli, src/index.ts         → anything
//
// Type-only imports count too (tsPreCompilationDeps), and no cycle is allowed, inside a folder or across.
// docs/ARCHITECTURE.md draws the same graph.

/** A layer may import from itself and the listed layers, nothing else under src/. */
function layer(name, mayUse) {
  const allowed = [name, ...mayUse].join('|');
  return {
    name: `layer-${name}`,
    comment: `src/${name}/ may import only from ${[name, ...mayUse].map((l) => `src/${l}/`).join(', ')} (imports point down the layers)`,
    severity: 'error',
    from: { path: `^src/${name}/` },
    to: { path: '^src/', pathNot: `^src/(${allowed})/` },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Import cycles: modules that need each other belong in one file, or the shared part in a lower module.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('crypto', []),
    layer('protocol', []),
    layer('hashing', ['protocol']),
    layer('sigv4', ['protocol', 'crypto']),
    layer('storage', ['crypto', 'protocol', 'hashing', 'sigv4']),
    layer('kms', ['crypto', 'protocol', 'hashing', 'sigv4', 'storage']),
    layer('sse', ['crypto', 'protocol', 'hashing', 'sigv4', 'storage', 'kms']),
    layer('cse', ['crypto', 'protocol', 'hashing', 'sigv4']),
    layer('server', ['crypto', 'protocol', 'hashing', 'sigv4', 'storage', 'kms', 'sse']),
    {
      name: 'no-unknown-layer',
      comment: 'Every folder under src/ that is imported is a layer here (add a new one to these rules and to docs/ARCHITECTURE.md).',
      severity: 'error',
      from: {},
      to: { path: '^src/', pathNot: '^src/(crypto|protocol|hashing|sigv4|storage|kms|sse|cse|server|cli)/|^src/index\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
