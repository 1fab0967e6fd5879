// Secrets test: after a workload touching every SSE path (PUT/GET/HEAD/copy/re-key/multipart/POST, SSE-KMS
// with and without bucket keys, wrong keys and malformed keys included, debug logging on), neither the data
// dir nor the server's logs contain any SSE-C key used, any object's DEK, any KMS data key (SSE-S3, SSE-KMS)
// or any KMS key's material, in raw, base64 or hex form. The DEKs are recovered from the stored records with
// the keys the test controls (the root key opens the KMS), and proven real by decrypting the stored data.
import { blobPath } from '../helpers/meta.ts';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import { RecordSealer } from '../../src/storage/meta/records.ts';
import { keys as rowKeys, prefixRange, TABLE } from '../../src/storage/meta/keys.ts';
import type { ObjectRecord } from '../../src/storage/backend.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startKura } from '../helpers/server.ts';
import { newKey, ssecHeaders, raw, postForm, filesUnder, type TestKey } from './helpers.ts';
import {
  KmsKeyCache,
  KmsServerKeys,
  RootKeyProvider,
  openObjectKeys,
  openSealedStream,
  readEncryptionRecord,
  type SseKeyServices,
} from '../../src/sse/index.ts';
import { bucketKeyContext } from '../../src/sse/sse-kms.ts';
import { KeyManagementService } from '../../src/kms/index.ts';
import { KeyStore } from '../../src/kms/store.ts';
import { decryptBuffer } from '../../src/crypto/index.ts';

function forms(secret: Buffer): Array<[string, Buffer]> {
  return [
    ['raw', secret],
    ['base64', Buffer.from(secret.toString('base64'))],
    ['base64url', Buffer.from(secret.toString('base64url'))],
    ['hex', Buffer.from(secret.toString('hex'))],
    ['HEX', Buffer.from(secret.toString('hex').toUpperCase())],
  ];
}

test('no SSE-C key and no DEK in the data dir or the logs', async () => {
  const rootKey = randomBytes(32);
  const srv = await startKura({ env: { KURA_ROOT_KEY: rootKey.toString('base64'), KURA_LOG_LEVEL: 'trace' } });
  const dataDir = srv.dataDir;
  const bucket = 'sse-secrets';
  const [k1, k2, k3, wrong] = [newKey(), newKey(), newKey(), newKey()];
  const used: TestKey[] = [k1, k2, k3, wrong];
  let logs: string;
  try {
    const ok = async (p: Promise<{ status: number; text: string }>, status = 200) => {
      const r = await p;
      assert.equal(r.status, status, r.text);
    };
    await ok(raw(srv, 'PUT', `/${bucket}`));
    const body = randomBytes(200_000);
    await ok(raw(srv, 'PUT', `/${bucket}/c1`, { body, headers: ssecHeaders(k1) }));
    await ok(raw(srv, 'PUT', `/${bucket}/s3`, { body, headers: { 'x-amz-server-side-encryption': 'AES256' } }));
    await ok(raw(srv, 'PUT', `/${bucket}/plain`, { body }));
    await ok(raw(srv, 'GET', `/${bucket}/c1`, { headers: ssecHeaders(k1) }));
    await ok(raw(srv, 'HEAD', `/${bucket}/c1`, { headers: ssecHeaders(k1) }));
    await ok(raw(srv, 'GET', `/${bucket}/c1`, { headers: ssecHeaders(wrong) }), 403);
    await ok(
      raw(srv, 'GET', `/${bucket}/c1`, { headers: { ...ssecHeaders(wrong), 'x-amz-server-side-encryption-customer-key-md5': k1.md5 } }),
      400,
    );
    await ok(raw(srv, 'PUT', `/${bucket}/c1`, { https: false, body: 'x', headers: ssecHeaders(wrong) }), 400);
    await ok(
      raw(srv, 'PUT', `/${bucket}/c2`, { headers: { ...ssecHeaders(k2), ...ssecHeaders(k1, true), 'x-amz-copy-source': `/${bucket}/c1` } }),
    );
    await ok(
      raw(srv, 'PUT', `/${bucket}/c2`, { headers: { ...ssecHeaders(k3), ...ssecHeaders(k2, true), 'x-amz-copy-source': `/${bucket}/c2` } }),
    );
    const create = await raw(srv, 'POST', `/${bucket}/mp`, { query: { uploads: '' }, headers: ssecHeaders(k2) });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(create.text)![1]!;
    const p1 = await raw(srv, 'PUT', `/${bucket}/mp`, {
      query: { partNumber: '1', uploadId },
      body: randomBytes(5 * 1024 * 1024),
      headers: ssecHeaders(k2),
    });
    const p2 = await raw(srv, 'PUT', `/${bucket}/mp`, {
      query: { partNumber: '2', uploadId },
      headers: { ...ssecHeaders(k2), ...ssecHeaders(k3, true), 'x-amz-copy-source': `/${bucket}/c2` },
    });
    await ok(raw(srv, 'PUT', `/${bucket}/mp`, { query: { partNumber: '3', uploadId }, body: 'x', headers: ssecHeaders(wrong) }), 400);
    const e2 = /<ETag>([^<]+)<\/ETag>/.exec(p2.text)![1]!.replaceAll('&quot;', '"');
    await ok(
      raw(srv, 'POST', `/${bucket}/mp`, {
        query: { uploadId },
        body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${p1.headers.etag}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>${e2}</ETag></Part></CompleteMultipartUpload>`,
      }),
    );
    // An upload left incomplete keeps its parts on disk: they are checked too.
    const open = await raw(srv, 'POST', `/${bucket}/open`, { query: { uploads: '' }, headers: ssecHeaders(k1) });
    const openId = /<UploadId>([^<]+)<\/UploadId>/.exec(open.text)![1]!;
    await ok(
      raw(srv, 'PUT', `/${bucket}/open`, {
        query: { partNumber: '1', uploadId: openId },
        body: randomBytes(1000),
        headers: ssecHeaders(k1),
      }),
    );
    await ok(
      postForm(
        srv,
        bucket,
        {
          key: 'form',
          'x-amz-server-side-encryption-customer-algorithm': 'AES256',
          'x-amz-server-side-encryption-customer-key': k3.b64,
          'x-amz-server-side-encryption-customer-key-md5': k3.md5,
        },
        randomBytes(3000),
      ),
      204,
    );
    await ok(raw(srv, 'PUT', `/${bucket}/kms`, { body, headers: { 'x-amz-server-side-encryption': 'aws:kms' } }));
    await ok(
      raw(srv, 'PUT', `/${bucket}/kms-bk`, {
        body,
        headers: { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-bucket-key-enabled': 'true' },
      }),
    );
    await ok(raw(srv, 'GET', `/${bucket}/kms-bk`));
    await ok(
      raw(srv, 'PUT', `/${bucket}/kms-copy`, {
        headers: {
          'x-amz-copy-source': `/${bucket}/kms`,
          'x-amz-server-side-encryption': 'aws:kms',
          'x-amz-server-side-encryption-context': Buffer.from('{"a":"b"}').toString('base64'),
        },
      }),
    );
    await ok(postForm(srv, bucket, { key: 'form-kms', 'x-amz-server-side-encryption': 'aws:kms' }, randomBytes(3000)), 204);
  } finally {
    await srv.stop({ keepData: true });
    logs = srv.stdout.join('\n') + srv.stderr();
  }
  try {
    assert.ok(logs.includes('"msg":"request"'), 'request logs were captured');
    // Recover every stored DEK with the keys this test controls: the root key opens the KMS.
    const meta = await LmdbStore.open(join(dataDir, '.kura', 'meta'), rootKey);
    const kms = await KeyManagementService.open({
      meta,
      rootKey,
      auditLogPath: join(dataDir, '.kura', 'audit-secrets-test.log'),
      region: 'us-east-1',
      accountId: '000000000000',
    });
    const cache = new KmsKeyCache(kms);
    const svc: SseKeyServices = { serverKeys: new KmsServerKeys(cache, new RootKeyProvider(rootKey)), kms: cache };
    const caller = { accessKeyId: 'secrets-test' };
    const kmsDataKeys: Buffer[] = [];
    const deks: Buffer[] = [];
    const records: Array<{
      bucket: string;
      key: string;
      encryption: unknown;
      parts: Array<{ ref: string; size: number; encryption: unknown }>;
    }> = [];
    // The rows read with the root key this test gave the server (KURA_ROOT_KEY: no root.key in the data dir).
    const sealer = new RecordSealer(rootKey);
    const stored = await meta.read(async (tx) =>
      (await tx.scan(prefixRange(rowKeys.bucketRows(TABLE.version, bucket)))).map((e) => sealer.open<ObjectRecord>(e.key, e.value, 'test')),
    );
    for (const v of stored)
      records.push({
        bucket,
        key: v.key,
        encryption: v.encryption,
        parts: v.parts as { ref: string; size: number; encryption: unknown }[],
      });
    assert.ok(records.length >= 6, `records found: ${records.length}`);
    for (const r of records) {
      const enc = readEncryptionRecord(r.encryption)!;
      assert.ok(enc, `${r.key} is encrypted`);
      let kek: Buffer | undefined;
      for (const k of enc.mode === 'SSE-C' ? used : [undefined]) {
        try {
          kek = await openObjectKeys(enc, k ? { key: Buffer.from(k.raw), keyMd5: k.md5 } : undefined, r.bucket, r.key, svc, 'read', caller);
          break;
        } catch {
          /* not this key */
        }
      }
      assert.ok(kek, `KEK of ${r.key}`);
      if (enc.mode === 'SSE-S3') kmsDataKeys.push(Buffer.from(await svc.serverKeys.openSecret(enc.serverKey, `${r.bucket}/${r.key}`)));
      if (enc.mode === 'SSE-KMS') {
        const context = enc.bucketKey ? bucketKeyContext(enc.context, r.bucket) : enc.context;
        kmsDataKeys.push((await kms.decrypt(Buffer.from(enc.blob, 'base64'), context, caller)).plaintext);
      }
      for (const p of r.parts) {
        const params = openSealedStream(kek, p.encryption, r.bucket, r.key);
        const blob = await readFile(blobPath(dataDir, p.ref));
        assert.equal(
          decryptBuffer({ ...params, key: Buffer.from(params.key) }, blob, p.size).length,
          p.size,
          'the recovered DEK is the real one',
        );
        deks.push(params.key);
      }
    }
    assert.ok(deks.length >= 7, `DEKs recovered: ${deks.length}`);
    await kms.close();
    assert.ok(
      records.some((r) => (r.encryption as { mode?: string }).mode === 'SSE-KMS'),
      'SSE-KMS objects were written',
    );
    assert.ok(kmsDataKeys.length >= 6, `KMS data keys recovered: ${kmsDataKeys.length}`);
    // The KMS keys' own material (every version), unsealed from the key store with the root key.
    const store = await KeyStore.open({ meta, rootKey });
    const materials = (await store.listKeys()).flatMap((rec) => rec.versions.map((v) => store.material(rec, v.version)));
    await meta.close();
    assert.ok(materials.length >= 2, `KMS key versions: ${materials.length}`);
    const secrets: Array<[string, Buffer]> = [
      ...used.flatMap((k, i) => [
        [`customer key ${i}`, k.raw] as [string, Buffer],
        [`customer key ${i} as typed`, Buffer.from(k.b64)] as [string, Buffer],
      ]),
      ...deks.map((d, i) => [`DEK ${i}`, d] as [string, Buffer]),
      ...kmsDataKeys.map((d, i) => [`KMS data key ${i}`, d] as [string, Buffer]),
      ...materials.map((d, i) => [`KMS key material ${i}`, d] as [string, Buffer]),
    ];
    const files = await filesUnder(dataDir);
    assert.ok(files.length > 10);
    const haystacks: Array<[string, Buffer]> = [['logs', Buffer.from(logs)]];
    for (const f of files) haystacks.push([f.slice(dataDir.length), await readFile(f)]);
    for (const [what, secret] of secrets) {
      for (const [form, needle] of forms(secret)) {
        for (const [where, hay] of haystacks) {
          assert.equal(hay.indexOf(needle), -1, `${what} (${form}) found in ${where}`);
        }
      }
    }
    // Not even the MD5 of a customer key is kept at rest (only a salted HMAC).
    for (const k of used)
      for (const [where, hay] of haystacks.slice(1)) assert.equal(hay.indexOf(Buffer.from(k.md5)), -1, `key MD5 in ${where}`);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
