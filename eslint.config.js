// Lint: typescript-eslint's recommended rules (not the type-checked preset: too slow for every `npm test`).
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default defineConfig(
  { ignores: ['node_modules/', '.ci/.node24/', 'bin/bundle.mjs', 'test/migration/fixture-v0/', '**/*.py'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Unused names are tsc's job (noUnusedLocals / noUnusedParameters); `_`-prefixed ones are intended.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['test/**'],
    // Tests parse JSON from the KMS API, the AWS CLI and boto3 untyped and assert on its shape.
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
