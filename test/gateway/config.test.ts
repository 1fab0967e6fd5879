// Backend selection: `--backend*` options and their KURA_BACKEND* environment equivalents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendConfig } from '../../src/server/config.ts';

test('default: the filesystem backend', () => {
  assert.deepEqual(backendConfig({}, {}), { kind: 'fs' });
  assert.deepEqual(backendConfig({ backend: 'fs' }, {}), { kind: 'fs' });
});

test('options, and the environment when an option is absent', () => {
  const env = {
    KURA_BACKEND: 's3',
    KURA_BACKEND_ENDPOINT: 'https://minio.example:9000',
    KURA_BACKEND_BUCKET: 'env-bucket',
    KURA_BACKEND_PREFIX: 'env/',
    KURA_BACKEND_REGION: 'eu-west-1',
    KURA_BACKEND_ACCESS_KEY_ID: 'AKID',
    KURA_BACKEND_SECRET_ACCESS_KEY: 'SECRET',
  };
  assert.deepEqual(backendConfig({}, env), {
    kind: 's3',
    endpoint: 'https://minio.example:9000',
    bucket: 'env-bucket',
    prefix: 'env/',
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
  });
  const c = backendConfig({ backendBucket: 'opt-bucket', backendPrefix: 'opt/', backendRegion: 'ap-south-1' }, env);
  assert.equal(c.kind === 's3' && `${c.bucket} ${c.prefix} ${c.region}`, 'opt-bucket opt/ ap-south-1');
});

test('upstream credentials: both or neither; neither = the AWS default chain; region falls back to AWS_REGION', () => {
  const c = backendConfig({ backend: 's3', backendBucket: 'b' }, { AWS_REGION: 'us-west-2' });
  assert.deepEqual(c, { kind: 's3', bucket: 'b', prefix: '', region: 'us-west-2' });
  assert.throws(
    () => backendConfig({ backend: 's3', backendBucket: 'b' }, { KURA_BACKEND_ACCESS_KEY_ID: 'x' }),
    /both KURA_BACKEND_ACCESS_KEY_ID and KURA_BACKEND_SECRET_ACCESS_KEY/,
  );
  const t = backendConfig(
    { backend: 's3', backendBucket: 'b' },
    { KURA_BACKEND_ACCESS_KEY_ID: 'x', KURA_BACKEND_SECRET_ACCESS_KEY: 'y', KURA_BACKEND_SESSION_TOKEN: 'z' },
  );
  assert.deepEqual(t.kind === 's3' && t.credentials, { accessKeyId: 'x', secretAccessKey: 'y', sessionToken: 'z' });
});

test('refusals: unknown backend, no bucket, a bad endpoint, gateway options without --backend s3', () => {
  assert.throws(() => backendConfig({ backend: 'nfs' }, {}), /unknown backend 'nfs'/);
  assert.throws(() => backendConfig({ backend: 's3' }, {}), /needs --backend-bucket/);
  assert.throws(() => backendConfig({ backend: 's3', backendBucket: 'b', backendEndpoint: 'not a url' }, {}), /invalid --backend-endpoint/);
  assert.throws(() => backendConfig({ backend: 's3', backendBucket: 'b', backendEndpoint: 'ftp://x' }, {}), /must be an http\(s\) URL/);
  assert.throws(() => backendConfig({ backendBucket: 'b' }, {}), /need --backend s3/);
  assert.throws(() => backendConfig({}, { KURA_BACKEND_PREFIX: 'p/' }), /need --backend s3/);
});
