// Shared set-up for the KMS unit tests: a real KeyManagementService on a temp dir, with a movable clock.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { KeyManagementService, type KmsOptions } from '../../src/kms/index.ts';

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const CALLER = { accessKeyId: 'AKIATESTCALLER000001' };

export interface Fixture {
  kms: KeyManagementService;
  opts: KmsOptions;
  root: string;
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
  const opts: KmsOptions = {
    dir: join(root, 'kms'),
    rootKey: randomBytes(32),
    auditLogPath: join(root, 'audit.log'),
    region: REGION,
    accountId: ACCOUNT,
    now: () => new Date(Date.now() + offset),
  };
  const f: Fixture = {
    kms: await KeyManagementService.open(opts),
    opts,
    root,
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
      await rm(root, { recursive: true, force: true });
    },
  };
  return f;
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
