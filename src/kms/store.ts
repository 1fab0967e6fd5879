// Persistent key store of the built-in KMS, in the metadata store (MetaStore: LMDB by default, or one
// PostgreSQL database shared by several Kura nodes). Rows (src/storage/meta/keys.ts):
//   K‖'k'‖keyId → KeyRecord      K‖'a'‖aliasName → AliasRecord      K‖'x'‖keyId → tombstone of a destroyed key
// Each value is sealed as every metadata row (records.ts: AES-256-GCM under a key derived from the root
// key, the row key as associated data), and inside it each version's 32 random bytes of key material are
// sealed once more under the KMS key-encryption key with AAD binding the key id and the version, so a
// sealed version cannot be moved to another key or version.
//
// Changes are transactions of the metadata store (read, check, write; retried on conflict), so two nodes
// changing one key never lose each other's change (a rotation's new version, a state change).
// Reads for cryptographic use may come from a per-node cache whose entries are re-read from the store
// once older than `cacheTtlMs`: that is the bound on how long another node's change goes unseen here.
//
// Data dirs of earlier releases kept the store as files (<dir>/keys/<key-id>.json, <dir>/aliases.json):
// they are imported at open, in one transaction (only rows that do not exist and were never destroyed),
// and the files removed after it committed — idempotent and crash-safe.
import { randomBytes, randomUUID } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deriveKey, sealKey, unsealKey } from '../crypto/index.ts';
import type { MetaStore, MetaTx } from '../storage/meta/meta-store.ts';
import { keys, kmsNameOf } from '../storage/meta/keys.ts';
import { RecordSealer } from '../storage/meta/records.ts';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
export type KeyManager = 'CUSTOMER' | 'AWS';

export interface KeyVersion {
  version: number;
  created: string; // ISO date
  sealed: string; // base64 of sealKey(kek, material, aad)
}

export interface RotationRecord {
  date: string; // ISO
  type: 'AUTOMATIC' | 'ON_DEMAND';
  version: number;
}

export interface KeyRecord {
  keyId: string;
  description: string;
  tags: { TagKey: string; TagValue: string }[];
  keyState: KeyState;
  keyManager: KeyManager;
  creationDate: string; // ISO
  deletionDate?: string; // ISO, when PendingDeletion
  pendingWindowInDays?: number;
  rotationEnabled: boolean;
  rotationPeriodInDays?: number;
  nextRotationDate?: string; // ISO, when rotation is enabled
  rotations: RotationRecord[];
  currentVersion: number;
  versions: KeyVersion[];
}

export interface AliasRecord {
  targetKeyId: string;
  creationDate: string;
  lastUpdatedDate: string;
}

export const MATERIAL_LEN = 32;
/** Default bound on the staleness of cached key records and aliases (another node's change is seen within it). */
export const DEFAULT_CACHE_TTL_MS = 5_000;

export interface KeyStoreOptions {
  meta: MetaStore;
  rootKey: Buffer;
  /** Cached records are re-read from the store once older than this. 0 = every use reads the store. */
  cacheTtlMs?: number;
  /** Directory of a file key store of an earlier release, imported at open. */
  legacyDir?: string;
}

/** The key store as one transaction sees it; the store's caches learn its writes when it commits. */
export class KeyStoreTx {
  readonly keyWrites = new Map<string, KeyRecord | undefined>();
  readonly aliasWrites = new Map<string, AliasRecord | undefined>();

  constructor(
    private readonly tx: MetaTx,
    private readonly sealer: RecordSealer,
  ) {}

  async key(keyId: string): Promise<KeyRecord | undefined> {
    const row = keys.kmsKey(keyId);
    const v = await this.tx.get(row);
    return v && this.sealer.open<KeyRecord>(row, v, 'KMS key');
  }

  putKey(rec: KeyRecord): void {
    const row = keys.kmsKey(rec.keyId);
    this.tx.put(row, this.sealer.seal(row, rec));
    this.keyWrites.set(rec.keyId, rec);
  }

  async alias(name: string): Promise<AliasRecord | undefined> {
    const row = keys.kmsAlias(name);
    const v = await this.tx.get(row);
    return v && this.sealer.open<AliasRecord>(row, v, 'KMS alias');
  }

  putAlias(name: string, a: AliasRecord): void {
    const row = keys.kmsAlias(name);
    this.tx.put(row, this.sealer.seal(row, a));
    this.aliasWrites.set(name, a);
  }

  deleteAlias(name: string): void {
    this.tx.delete(keys.kmsAlias(name));
    this.aliasWrites.set(name, undefined);
  }

  async aliases(): Promise<[string, AliasRecord][]> {
    const out: [string, AliasRecord][] = [];
    for (const e of await this.tx.scan(keys.kmsAliases()))
      out.push([kmsNameOf(e.key), this.sealer.open<AliasRecord>(e.key, e.value, 'KMS alias')]);
    return out;
  }

  async wasDestroyed(keyId: string): Promise<boolean> {
    return (await this.tx.get(keys.kmsDestroyed(keyId))) !== undefined;
  }

  /**
   * Crypto-shredding: the sealed material exists only in this row, so deleting it destroys the key. Its
   * aliases go in the same transaction; a tombstone keeps a re-run import of old files from reviving it.
   */
  async destroyKey(keyId: string, when: Date): Promise<void> {
    for (const [name, a] of await this.aliases()) if (a.targetKeyId === keyId) this.deleteAlias(name);
    this.tx.delete(keys.kmsKey(keyId));
    const tomb = keys.kmsDestroyed(keyId);
    this.tx.put(tomb, this.sealer.seal(tomb, { destroyed: when.toISOString() }));
    this.keyWrites.set(keyId, undefined);
  }
}

interface Cached<T> {
  value: T;
  at: number;
}

export class KeyStore {
  private readonly kek: Buffer;
  private readonly sealer: RecordSealer;
  private readonly meta: MetaStore;
  readonly cacheTtlMs: number;
  private readonly keyCache = new Map<string, Cached<KeyRecord>>();
  private readonly aliasCache = new Map<string, Cached<AliasRecord>>();

  private constructor(opts: KeyStoreOptions) {
    if (opts.rootKey.length !== 32) throw new Error('KMS root key must be 32 bytes');
    // A dedicated key-encryption key: the root key itself may serve other purposes (SSE-S3).
    this.kek = deriveKey(opts.rootKey, 'KMS key store', 'key material sealing');
    this.sealer = new RecordSealer(opts.rootKey);
    this.meta = opts.meta;
    this.cacheTtlMs = Math.max(0, opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS);
  }

  static async open(opts: KeyStoreOptions): Promise<KeyStore> {
    const store = new KeyStore(opts);
    if (opts.legacyDir) await store.importFiles(opts.legacyDir);
    // Fail at start-up, not on first use, when the root key is not the one the store was sealed with.
    try {
      const first = await store.meta.read((tx) => tx.scan({ ...keys.kmsKeys(), limit: 1 }));
      if (first[0]) {
        const rec = store.sealer.open<KeyRecord>(first[0].key, first[0].value, 'KMS key');
        if (rec.versions.length > 0) store.material(rec, rec.versions[0]!.version).fill(0);
      }
    } catch {
      throw new Error('KMS key store cannot be opened with this root key');
    }
    return store;
  }

  private sealAad(keyId: string, version: number): Buffer {
    return Buffer.from(`kura-kms-key-material\0${keyId}\0${version}`, 'utf8');
  }

  /** New random key material for `version` of `keyId`, returned sealed. */
  newVersion(keyId: string, version: number, now: Date): KeyVersion {
    const material = randomBytes(MATERIAL_LEN);
    const sealed = sealKey(this.kek, material, this.sealAad(keyId, version));
    material.fill(0);
    return { version, created: now.toISOString(), sealed: sealed.toString('base64') };
  }

  /** Unsealed material of one version; the caller should zero it after use. Throws if absent. */
  material(rec: KeyRecord, version: number): Buffer {
    const v = rec.versions.find((x) => x.version === version);
    if (!v) throw new Error('no such key version');
    return unsealKey(this.kek, Buffer.from(v.sealed, 'base64'), this.sealAad(rec.keyId, version));
  }

  static newKeyId(): string {
    return randomUUID();
  }

  /**
   * A key record: from this node's cache when `cached` and the entry is younger than the TTL, else read
   * from the store (and cached). Absence is never cached: a key created on another node is found at once.
   * The record is shared with the cache: never modify it (changes go through update()).
   */
  async getKey(keyId: string, cached: boolean): Promise<KeyRecord | undefined> {
    const hit = this.keyCache.get(keyId);
    if (cached && hit && this.fresh(hit.at)) return hit.value;
    const rec = await this.meta.read((tx) => new KeyStoreTx(tx, this.sealer).key(keyId));
    this.remember(this.keyCache, keyId, rec);
    return rec;
  }

  async getAlias(name: string, cached: boolean): Promise<AliasRecord | undefined> {
    const hit = this.aliasCache.get(name);
    if (cached && hit && this.fresh(hit.at)) return hit.value;
    const a = await this.meta.read((tx) => new KeyStoreTx(tx, this.sealer).alias(name));
    this.remember(this.aliasCache, name, a);
    return a;
  }

  /** Every key, from the store (key id order). */
  async listKeys(): Promise<KeyRecord[]> {
    const rows = await this.meta.read((tx) => tx.scan(keys.kmsKeys()));
    return rows.map((e) => this.sealer.open<KeyRecord>(e.key, e.value, 'KMS key'));
  }

  /** Every alias, from the store (name order). */
  listAliases(): Promise<[string, AliasRecord][]> {
    return this.meta.read((tx) => new KeyStoreTx(tx, this.sealer).aliases());
  }

  /** A transaction over the key store (`fn` may run more than once); the caches take its writes once it committed. */
  async update<T>(fn: (tx: KeyStoreTx) => Promise<T>): Promise<T> {
    let last: KeyStoreTx | undefined;
    const out = await this.meta.write(async (tx) => {
      last = new KeyStoreTx(tx, this.sealer);
      return fn(last);
    });
    if (last) {
      for (const [id, rec] of last.keyWrites) this.remember(this.keyCache, id, rec);
      for (const [name, a] of last.aliasWrites) this.remember(this.aliasCache, name, a);
    }
    return out;
  }

  private fresh(at: number): boolean {
    return performance.now() - at < this.cacheTtlMs;
  }

  private remember<T>(cache: Map<string, Cached<T>>, id: string, value: T | undefined): void {
    if (value === undefined) cache.delete(id);
    else cache.set(id, { value, at: performance.now() });
  }

  /** Imports a file key store of an earlier release, then removes its files (only after the commit). */
  private async importFiles(dir: string): Promise<void> {
    const keysDir = join(dir, 'keys');
    let names: string[];
    try {
      names = await readdir(keysDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      names = [];
    }
    const recs: KeyRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue; // temp files of interrupted writes go with the directory
      recs.push(JSON.parse(await readFile(join(keysDir, name), 'utf8')) as KeyRecord);
    }
    let aliases: Record<string, AliasRecord> = {};
    try {
      aliases = JSON.parse(await readFile(join(dir, 'aliases.json'), 'utf8')) as Record<string, AliasRecord>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (recs.length === 0 && Object.keys(aliases).length === 0) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    // Never import what this root key cannot open.
    for (const rec of recs) {
      for (const v of rec.versions) {
        try {
          this.material(rec, v.version).fill(0);
        } catch {
          throw new Error('KMS key store cannot be opened with this root key');
        }
      }
    }
    await this.update(async (tx) => {
      const present = new Set<string>();
      for (const rec of recs) {
        if (await tx.key(rec.keyId)) present.add(rec.keyId);
        else if (!(await tx.wasDestroyed(rec.keyId))) {
          tx.putKey(rec);
          present.add(rec.keyId);
        }
      }
      for (const [name, a] of Object.entries(aliases)) {
        // Aliases of keys deleted mid-crash by the old release are dropped, as it did.
        if (present.has(a.targetKeyId) && !(await tx.alias(name))) tx.putAlias(name, a);
      }
    });
    await rm(dir, { recursive: true, force: true });
  }
}
