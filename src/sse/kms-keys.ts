// KMS data keys for S3: every server-side key that is not the customer's (SSE-KMS, SSE-S3) is a KMS data
// key. This module makes the KMS calls, maps KMS failures to S3's errors, and keeps the short-lived caches
// that make S3 Bucket Keys (and SSE-S3) cheap:
//  - data keys: one GenerateDataKey per (KMS key, encryption context) serves many objects for a while;
//  - decrypted blobs: one Decrypt per stored blob serves many reads for a while.
// A cached key is used only while its KMS key is Enabled, checked on every use against the KMS's key cache:
// disabling or scheduling the deletion of a key stops reads and writes at once on the node that did it, and
// on every other node sharing the metadata store within the KMS's cacheTtlMs (default 5 s).
import { createHash } from 'node:crypto';
import type { KmsService } from '../kms/service.ts';
import { S3Error } from '../protocol/s3-errors.ts';
import { KmsError } from '../kms/errors.ts';
import type { ServerKeyRef } from './metadata.ts';
import type { ServerKeyProvider } from './sse-s3.ts';

export type EncryptionContext = Record<string, string>;

export interface KmsDataKey {
  keyArn: string;
  /** 32 bytes. Shared with the cache: never modify or zero it. */
  plaintext: Buffer;
  blob: Buffer;
}

export interface KmsKeyCacheOptions {
  /** How long a cached data key may be used for new objects (AWS rotates S3 Bucket Keys about this often). */
  dataKeyTtlMs?: number;
  /** How many objects one cached data key may encrypt. */
  dataKeyMaxUses?: number;
  /** How long a decrypted blob is kept. */
  decryptTtlMs?: number;
  /** Bound on cached entries of each kind (oldest evicted first). */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  key: KmsDataKey;
  expires: number;
  uses: number;
}

/** A canonical text for a context (sorted keys), usable as a cache key and in record comparisons. */
export function canonicalContext(ctx: EncryptionContext): string {
  return JSON.stringify(
    Object.keys(ctx)
      .sort()
      .map((k) => [k, ctx[k]]),
  );
}

/** S3's error for a failed KMS call made on behalf of an S3 request ('KMS.' + the KMS error type). */
export function kmsToS3Error(e: unknown): unknown {
  if (!(e instanceof KmsError)) return e;
  switch (e.type) {
    case 'NotFoundException':
      return new S3Error('KMS.NotFoundException', e.message || undefined);
    case 'DisabledException':
      return new S3Error('KMS.DisabledException', e.message || undefined);
    case 'KMSInvalidStateException':
      return new S3Error('KMS.KMSInvalidStateException', e.message || undefined);
    case 'InvalidCiphertextException':
    case 'IncorrectKeyException':
      // Our own stored blob does not open under its context: tampered metadata. Never says more.
      return new S3Error('InternalError', 'The stored object failed an integrity check and cannot be returned.');
    case 'AccessDeniedException':
      return new S3Error('AccessDenied', e.message || undefined);
    default:
      return new S3Error('InternalError', 'The key management service failed.');
  }
}

export class KmsKeyCache {
  private readonly dataKeys = new Map<string, Entry>();
  private readonly decrypted = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<KmsDataKey>>();
  private readonly defaults = new Map<string, Promise<string>>();
  private readonly dataKeyTtlMs: number;
  private readonly dataKeyMaxUses: number;
  private readonly decryptTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** KMS calls made (GenerateDataKey, Decrypt), for tests and the benchmark. */
  readonly calls = { generateDataKey: 0, decrypt: 0 };

  constructor(
    readonly kms: KmsService,
    opts: KmsKeyCacheOptions = {},
  ) {
    this.dataKeyTtlMs = opts.dataKeyTtlMs ?? 10 * 60_000;
    this.dataKeyMaxUses = opts.dataKeyMaxUses ?? 100_000;
    this.decryptTtlMs = opts.decryptTtlMs ?? 10 * 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** A fresh data key (one GenerateDataKey call): SSE-KMS without bucket keys. */
  async generate(keyId: string, context: EncryptionContext, caller: { accessKeyId: string }): Promise<KmsDataKey> {
    this.calls.generateDataKey++;
    try {
      const r = await this.kms.generateDataKey(keyId, context, caller);
      return { keyArn: r.keyArn, plaintext: r.plaintext, blob: r.ciphertextBlob };
    } catch (e) {
      throw kmsToS3Error(e);
    }
  }

  /** A data key shared by many objects (bucket keys, SSE-S3): cached per (key, context). */
  async shared(keyId: string, context: EncryptionContext, caller: { accessKeyId: string }): Promise<KmsDataKey> {
    const id = `${keyId}\0${canonicalContext(context)}`;
    const hit = await this.usable(this.dataKeys, id);
    if (hit && hit.uses < this.dataKeyMaxUses) {
      hit.uses++;
      return hit.key;
    }
    return this.once(`g\0${id}`, async () => {
      const key = await this.generate(keyId, context, caller);
      this.put(this.dataKeys, id, key, this.dataKeyTtlMs);
      // Reads of objects written with it need no Decrypt either.
      this.put(this.decrypted, this.blobId(key.blob, context), key, this.decryptTtlMs);
      return key;
    });
  }

  /** Decrypt of a stored blob; `cache` for blobs shared by many objects (bucket keys, SSE-S3). */
  async decrypt(blob: Buffer, context: EncryptionContext, caller: { accessKeyId: string }, cache: boolean): Promise<KmsDataKey> {
    const id = this.blobId(blob, context);
    if (cache) {
      const hit = await this.usable(this.decrypted, id);
      if (hit) return hit.key;
    }
    const run = async (): Promise<KmsDataKey> => {
      this.calls.decrypt++;
      let r: { keyArn: string; plaintext: Buffer };
      try {
        r = await this.kms.decrypt(blob, context, caller);
      } catch (e) {
        throw kmsToS3Error(e);
      }
      const key = { keyArn: r.keyArn, plaintext: r.plaintext, blob };
      if (cache) this.put(this.decrypted, id, key, this.decryptTtlMs);
      return key;
    };
    return cache ? this.once(`d\0${id}`, run) : run();
  }

  /** ARN of the key behind a service alias (alias/aws/s3, Kura's SSE-S3 key), created on first use; asked once. */
  defaultKey(alias: string, opts: { managed?: boolean } = {}): Promise<string> {
    let p = this.defaults.get(alias);
    if (!p) {
      p = this.kms.ensureDefaultKey(alias, opts).catch((e: unknown) => {
        this.defaults.delete(alias);
        throw kmsToS3Error(e);
      });
      this.defaults.set(alias, p);
    }
    return p;
  }

  /** ARN of a key id / alias / ARN (a DescribeKey call); S3 errors. */
  async resolve(keyId: string): Promise<string> {
    try {
      return await this.kms.resolveKeyArn(keyId);
    } catch (e) {
      throw kmsToS3Error(e);
    }
  }

  /** Drops every cached key (shutdown: no request is running). */
  clear(): void {
    for (const m of [this.dataKeys, this.decrypted]) {
      for (const e of m.values()) e.key.plaintext.fill(0);
      m.clear();
    }
  }

  private blobId(blob: Buffer, context: EncryptionContext): string {
    return createHash('sha256').update(blob).update('\0').update(canonicalContext(context)).digest('base64');
  }

  /** A live entry whose KMS key is still Enabled; stale entries are dropped. */
  private async usable(map: Map<string, Entry>, id: string): Promise<Entry | undefined> {
    const e = map.get(id);
    if (!e) return undefined;
    if (e.expires > this.now() && (await this.kms.keyState(e.key.keyArn)) === 'Enabled' && map.get(id) === e) return e;
    // Not zeroed here: a request may still be deriving from it; the buffer goes with the last reference.
    map.delete(id);
    return undefined;
  }

  private put(map: Map<string, Entry>, id: string, key: KmsDataKey, ttl: number): void {
    map.delete(id);
    if (map.size >= this.maxEntries) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(id, { key, expires: this.now() + ttl, uses: 1 });
  }

  /** Concurrent misses for the same entry make one KMS call. */
  private once(id: string, fn: () => Promise<KmsDataKey>): Promise<KmsDataKey> {
    const running = this.inflight.get(id);
    if (running) return running;
    const p = fn().finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }
}

/** Kura's own KMS key for SSE-S3 (managed: it cannot be disabled or deleted through the KMS API). */
export const SSE_S3_KEY_ALIAS = 'alias/kura/sse-s3';
const SSE_S3_CONTEXT: EncryptionContext = { 'kura:service': 'sse-s3' };
const INTERNAL_CALLER = { accessKeyId: 'kura-sse-s3' };

/**
 * SSE-S3 secrets from the KMS: one data key of Kura's SSE-S3 key serves all objects for a while (the
 * per-object KEK is derived from it and bucket/key), so SSE-S3 and SSE-KMS share one sealing path and
 * SSE-S3 costs about one KMS call per cache period.
 */
export class KmsServerKeys implements ServerKeyProvider {
  /** `legacy`: opens SSE-S3 objects written before the KMS held the SSE-S3 key (root-key master key). */
  constructor(
    private readonly keys: KmsKeyCache,
    private readonly legacy?: ServerKeyProvider,
  ) {}

  async newSecret(): Promise<{ secret: Buffer; ref: ServerKeyRef }> {
    const arn = await this.keys.defaultKey(SSE_S3_KEY_ALIAS, { managed: true });
    const k = await this.keys.shared(arn, SSE_S3_CONTEXT, INTERNAL_CALLER);
    return { secret: k.plaintext, ref: { provider: 'kms', keyArn: k.keyArn, blob: k.blob.toString('base64') } };
  }

  async openSecret(ref: ServerKeyRef, context: string): Promise<Buffer> {
    if (ref.provider !== 'kms') {
      if (this.legacy) return this.legacy.openSecret(ref, context);
      throw new S3Error('InternalError', 'The server key this object was encrypted under is not available.');
    }
    return (await this.keys.decrypt(Buffer.from(ref.blob, 'base64'), SSE_S3_CONTEXT, INTERNAL_CALLER, true)).plaintext;
  }
}
