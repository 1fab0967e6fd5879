// Persistent key store of the built-in KMS.
//
// Layout under opts.dir (0700):  keys/<key-id>.json (one record per KMS key)  and  aliases.json.
// Key material is never written in the clear: each version's 32 random bytes are sealed (crypto core
// sealKey, AES-256-GCM) under a key-encryption key derived from the root key, with AAD binding the key
// id and the version, so a sealed version cannot be moved to another key or version.
// Every file is written atomically (temp file, fsync, rename, fsync of the directory), mode 0600.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deriveKey, sealKey, unsealKey } from '../crypto/index.ts';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
export type KeyManager = 'CUSTOMER' | 'AWS';

export interface KeyVersion {
  version: number;
  created: string; // ISO date
  sealed: string;  // base64 of sealKey(kek, material, aad)
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
  creationDate: string;         // ISO
  deletionDate?: string;        // ISO, when PendingDeletion
  pendingWindowInDays?: number;
  rotationEnabled: boolean;
  rotationPeriodInDays?: number;
  nextRotationDate?: string;    // ISO, when rotation is enabled
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

export class KeyStore {
  readonly keys = new Map<string, KeyRecord>();
  readonly aliases = new Map<string, AliasRecord>();
  private readonly kek: Buffer;
  private readonly keysDir: string;

  private constructor(private readonly dir: string, rootKey: Buffer) {
    if (rootKey.length !== 32) throw new Error('KMS root key must be 32 bytes');
    // A dedicated key-encryption key: the root key itself may serve other purposes (SSE-S3).
    this.kek = deriveKey(rootKey, 'KMS key store', 'key material sealing');
    this.keysDir = join(dir, 'keys');
  }

  static async open(dir: string, rootKey: Buffer): Promise<KeyStore> {
    const store = new KeyStore(dir, rootKey);
    await mkdir(store.keysDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(store.keysDir)) {
      if (name.endsWith('.tmp')) {
        await rm(join(store.keysDir, name), { force: true }); // temp file of an interrupted write
        continue;
      }
      if (!name.endsWith('.json')) continue;
      const rec = JSON.parse(await readFile(join(store.keysDir, name), 'utf8')) as KeyRecord;
      store.keys.set(rec.keyId, rec);
    }
    try {
      const raw = JSON.parse(await readFile(join(dir, 'aliases.json'), 'utf8')) as Record<string, AliasRecord>;
      for (const [name, a] of Object.entries(raw)) {
        if (store.keys.has(a.targetKeyId)) store.aliases.set(name, a); // drop aliases of keys deleted mid-crash
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Fail at start-up, not on first use, when the root key is not the one the store was sealed with.
    const any = [...store.keys.values()].find((k) => k.versions.length > 0);
    if (any) {
      try {
        store.material(any, any.versions[0].version).fill(0);
      } catch {
        throw new Error('KMS key store cannot be opened with this root key');
      }
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

  async saveKey(rec: KeyRecord): Promise<void> {
    await writeAtomic(this.keysDir, `${rec.keyId}.json`, JSON.stringify(rec));
    this.keys.set(rec.keyId, rec);
  }

  /** Crypto-shredding: the sealed material exists only in this file, so removing it destroys the key. */
  async destroyKey(keyId: string): Promise<void> {
    let aliasesChanged = false;
    for (const [name, a] of this.aliases) {
      if (a.targetKeyId === keyId) {
        this.aliases.delete(name);
        aliasesChanged = true;
      }
    }
    if (aliasesChanged) await this.saveAliases();
    await rm(join(this.keysDir, `${keyId}.json`), { force: true });
    await fsyncDir(this.keysDir);
    this.keys.delete(keyId);
  }

  async saveAliases(): Promise<void> {
    const obj: Record<string, AliasRecord> = {};
    for (const [name, a] of [...this.aliases].sort((x, y) => (x[0] < y[0] ? -1 : 1))) obj[name] = a;
    await writeAtomic(this.dir, 'aliases.json', JSON.stringify(obj));
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeAtomic(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}
