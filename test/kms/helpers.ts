// Shared set-up for the KMS unit tests: a real KeyManagementService on a real metadata store (LMDB in a
// temp dir), with a movable clock.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { KeyManagementService, type KmsOptions } from '../../src/kms/index.ts';
import type { AliasRecord, KeyRecord } from '../../src/kms/store.ts';
import { LmdbStore } from '../../src/storage/meta/lmdb-store.ts';
import type { MetaStore } from '../../src/storage/meta/meta-store.ts';
import { keys, kmsNameOf } from '../../src/storage/meta/keys.ts';
import { RecordSealer } from '../../src/storage/meta/records.ts';

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const CALLER = { accessKeyId: 'AKIATESTCALLER000001' };

export interface Fixture {
  kms: KeyManagementService;
  opts: KmsOptions;
  meta: MetaStore;
  root: string;
  /** The key's row as stored (unsealed with the root key), or undefined. */
  storedKey(keyId: string): Promise<KeyRecord | undefined>;
  /** Every alias row as stored. */
  storedAliases(): Promise<Record<string, AliasRecord>>;
  /** Moves the clock forward. */
  advanceDays(days: number): void;
  call(op: string, body?: unknown): Promise<{ status: number; body: any }>;
  ok(op: string, body?: unknown): Promise<any>;
  fails(op: string, body: unknown, type: string, message?: RegExp): Promise<any>;
  reopen(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function fixture(): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'kura-kms-'));
  let offset = 0;
  const rootKey = randomBytes(32);
  const meta = await LmdbStore.open(join(root, 'meta'), rootKey);
  const sealer = new RecordSealer(rootKey);
  const opts: KmsOptions = {
    meta,
    dir: join(root, 'kms'),
    rootKey,
    auditLogPath: join(root, 'audit.log'),
    region: REGION,
    accountId: ACCOUNT,
    now: () => new Date(Date.now() + offset),
  };
  const f: Fixture = {
    kms: await KeyManagementService.open(opts),
    opts,
    meta,
    root,
    async storedKey(keyId) {
      const row = keys.kmsKey(keyId);
      const v = await meta.read((tx) => tx.get(row));
      return v && sealer.open<KeyRecord>(row, v, 'KMS key');
    },
    async storedAliases() {
      const rows = await meta.read((tx) => tx.scan(keys.kmsAliases()));
      return Object.fromEntries(rows.map((e) => [kmsNameOf(e.key), sealer.open<AliasRecord>(e.key, e.value, 'KMS alias')]));
    },
    advanceDays(days) {
      offset += days * 86_400_000;
    },
    call(op, body = {}) {
      return f.kms.handle(`TrentService.${op}`, body, CALLER) as Promise<{ status: number; body: any }>;
    },
    async ok(op, body = {}) {
      const r = await f.call(op, body);
      assert.equal(r.status, 200, `${op} failed: ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async fails(op, body, type, message) {
      const r = await f.call(op, body);
      assert.equal(r.status, 400, `${op} expected ${type}, got ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.__type, type, `${op}: ${JSON.stringify(r.body)}`);
      if (message) assert.match(r.body.message, message);
      return r.body;
    },
    async reopen() {
      await f.kms.close();
      f.kms = await KeyManagementService.open(opts);
    },
    async cleanup() {
      await f.kms.close();
      await meta.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  return f;
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
