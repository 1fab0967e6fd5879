// The built-in KMS: AWS KMS JSON 1.1 operations (handle) and the in-process API used by SSE.
// Symmetric keys only (SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT), which is what S3 SSE-KMS, the AWS
// Encryption SDK's KMS keyring and the S3 Encryption Client need.
import { randomBytes } from 'node:crypto';
import { AuditLog, type AuditEntry } from './audit.ts';
import { openBlob, parseBlobHeader, sealBlob } from './blob.ts';
import { KmsError, validationError } from './errors.ts';
import { context, optArray, optBool, optEnum, optInt, optString, reqBlob, reqString, type Params } from './params.ts';
import { KeyStore, type KeyRecord, type KeyStoreTx } from './store.ts';
import type { MetaStore } from '../storage/meta/meta-store.ts';

export interface KmsOptions {
  /** The metadata store holding the key store (the server's: one LMDB env, or one PostgreSQL database for every node). */
  meta: MetaStore;
  /** The file key store of an earlier release (<data>/.kura/kms), imported into `meta` at open and removed. */
  dir?: string;
  rootKey: Buffer;
  /**
   * Bound on the staleness of this node's cache of key records and aliases used for cryptographic
   * operations (default 5 s): a key disabled, rotated or deleted on another node takes effect here within it.
   */
  cacheTtlMs?: number;
  auditLogPath: string;
  region: string;
  accountId: string;
  /** Clock (tests). Default: system time shifted by KURA_KMS_CLOCK_OFFSET_DAYS days (a test hook). */
  now?: () => Date;
  /** How often expired deletions and due rotations run in the background (default 1 h). */
  maintenanceIntervalMs?: number;
}

export interface Caller {
  accessKeyId: string;
}

const DAY_MS = 86_400_000;
const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const;
const KEY_SPECS = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'SYMMETRIC_DEFAULT',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'SM2',
  'ML_DSA_44',
  'ML_DSA_65',
  'ML_DSA_87',
  'ECC_NIST_EDWARDS25519',
] as const;
const KEY_USAGES = ['SIGN_VERIFY', 'ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
const ORIGINS = ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
const DATA_KEY_SPECS = ['AES_256', 'AES_128'] as const;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ALIAS_RE = /^[a-zA-Z0-9:/_-]+$/;
const MAX_ON_DEMAND_ROTATIONS = 10;
const INTERNAL_CALLER = 'kura-internal';

type Op = (p: Params, a: AuditEntry, caller: Caller) => Promise<unknown> | unknown;

function epoch(iso: string): number {
  return Date.parse(iso) / 1000;
}

export class KeyManagementService {
  private readonly clock: () => Date;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly ops: Record<string, Op>;

  private constructor(
    private readonly opts: KmsOptions,
    private readonly store: KeyStore,
    private readonly audit: AuditLog,
  ) {
    const offsetDays = Number(process.env.KURA_KMS_CLOCK_OFFSET_DAYS ?? 0) || 0;
    this.clock = opts.now ?? (() => new Date(Date.now() + offsetDays * DAY_MS));
    this.ops = {
      CreateKey: this.createKey,
      DescribeKey: this.describeKey,
      ListKeys: this.listKeys,
      EnableKey: this.enableKey,
      DisableKey: this.disableKey,
      ScheduleKeyDeletion: this.scheduleKeyDeletion,
      CancelKeyDeletion: this.cancelKeyDeletion,
      UpdateKeyDescription: this.updateKeyDescription,
      TagResource: this.tagResource,
      UntagResource: this.untagResource,
      ListResourceTags: this.listResourceTags,
      CreateAlias: this.createAlias,
      UpdateAlias: this.updateAlias,
      DeleteAlias: this.deleteAlias,
      ListAliases: this.listAliases,
      Encrypt: this.encryptOp,
      Decrypt: this.decryptOp,
      ReEncrypt: this.reEncrypt,
      GenerateDataKey: this.generateDataKeyOp,
      GenerateDataKeyWithoutPlaintext: this.generateDataKeyWithoutPlaintext,
      GenerateRandom: this.generateRandom,
      EnableKeyRotation: this.enableKeyRotation,
      DisableKeyRotation: this.disableKeyRotation,
      GetKeyRotationStatus: this.getKeyRotationStatus,
      RotateKeyOnDemand: this.rotateKeyOnDemand,
      ListKeyRotations: this.listKeyRotations,
    };
  }

  static async open(opts: KmsOptions): Promise<KeyManagementService> {
    const store = await KeyStore.open({
      meta: opts.meta,
      rootKey: opts.rootKey,
      cacheTtlMs: opts.cacheTtlMs,
      ...(opts.dir ? { legacyDir: opts.dir } : {}),
    });
    const audit = await AuditLog.open(opts.auditLogPath);
    const kms = new KeyManagementService(opts, store, audit);
    await kms.locked(() => kms.maintainAll());
    kms.timer = setInterval(() => {
      kms.locked(() => kms.maintainAll()).catch(() => undefined); // retried on the next tick and lazily on use
    }, opts.maintenanceIntervalMs ?? 3_600_000);
    kms.timer.unref();
    return kms;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.queue.catch(() => undefined);
    await this.audit.close();
  }

  // ---------------------------------------------------------------- JSON 1.1 entry point

  async handle(target: string, body: unknown, caller: Caller): Promise<{ status: number; body: unknown }> {
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
    const a: AuditEntry = { time: this.clock().toISOString(), accessKeyId: caller.accessKeyId, operation, result: 'success' };
    let status = 200;
    let out: unknown;
    try {
      const op = target.startsWith('TrentService.') ? this.ops[operation] : undefined;
      if (!op || !Object.hasOwn(this.ops, operation)) throw new KmsError('UnknownOperationException', '');
      const params = parseBody(body);
      out = await this.locked(async () => op.call(this, params, a, caller));
    } catch (err) {
      const e = toKmsError(err);
      status = e.status;
      out = e.toBody();
      a.result = e.type;
      if (e.message) a.errorMessage = e.message;
    }
    await this.audit.write(a);
    return { status, body: out ?? {} };
  }

  // ---------------------------------------------------------------- in-process API (SSE)

  async generateDataKey(
    keyId: string,
    ctx: Record<string, string>,
    caller: Caller,
  ): Promise<{ keyArn: string; plaintext: Buffer; ciphertextBlob: Buffer }> {
    return this.internal('GenerateDataKey', caller, { keyId, encryptionContext: ctx }, async (a) => {
      const rec = await this.resolve(keyId, true, true);
      a.keyId = this.arn(rec);
      this.requireUsable(rec);
      const plaintext = randomBytes(32);
      return { keyArn: this.arn(rec), plaintext, ciphertextBlob: this.seal(rec, ctx, plaintext) };
    });
  }

  async decrypt(blob: Buffer, ctx: Record<string, string>, caller: Caller): Promise<{ keyArn: string; plaintext: Buffer }> {
    return this.internal('Decrypt', caller, { encryptionContext: ctx }, async (a) => {
      const { rec, plaintext } = await this.open(blob, ctx, undefined, a);
      return { keyArn: this.arn(rec), plaintext };
    });
  }

  async resolveKeyArn(keyIdAliasOrArn: string): Promise<string> {
    return this.internal('DescribeKey', { accessKeyId: INTERNAL_CALLER }, { keyId: keyIdAliasOrArn }, async (a) => {
      const rec = await this.resolve(keyIdAliasOrArn, true, true);
      a.keyId = this.arn(rec);
      return this.arn(rec);
    });
  }

  /**
   * State of a key by key id or key ARN, from this node's cache (at most cacheTtlMs old): no audit record,
   * no lock. For callers that cache data keys (S3 bucket keys, SSE-S3) to stop using them once the key is
   * disabled or scheduled for deletion — on this node at once, on any other node within cacheTtlMs.
   * undefined = no such key.
   */
  async keyState(keyIdOrArn: string): Promise<KeyRecord['keyState'] | undefined> {
    const id = keyIdOrArn.slice(keyIdOrArn.lastIndexOf('/') + 1).toLowerCase();
    const rec = await this.store.getKey(id, true);
    if (rec && this.deletionDue(rec, this.clock())) return undefined;
    return rec?.keyState;
  }

  /** The staleness bound of this node's key cache (ms). */
  get cacheTtlMs(): number {
    return this.store.cacheTtlMs;
  }

  /**
   * The key behind `alias`, created (with the alias) on first use; AWS-managed (usable, not manageable
   * through the API) when alias/aws/… or when `opts.managed` (Kura's own service keys).
   */
  async ensureDefaultKey(alias: string, opts: { managed?: boolean } = {}): Promise<string> {
    return this.internal('CreateKey', { accessKeyId: INTERNAL_CALLER }, { aliasName: alias }, async (a) => {
      const existing = await this.store.getAlias(alias, true);
      if (existing && (await this.lookup(existing.targetKeyId, true))) {
        a.operation = 'DescribeKey';
        a.keyId = this.keyArnFor(existing.targetKeyId);
        return a.keyId;
      }
      this.checkAliasName(alias);
      const awsManaged = alias.startsWith('alias/aws/') || opts.managed === true;
      const service = alias.slice(alias.lastIndexOf('/') + 1);
      const description =
        service === 's3'
          ? 'Default key that protects my S3 objects when no other key is defined'
          : `Default key that protects my ${service} resources when no other key is defined`;
      const rec = this.newKey(description, [], awsManaged ? 'AWS' : 'CUSTOMER');
      if (awsManaged) {
        // AWS rotates AWS-managed keys every year; so do we.
        rec.rotationEnabled = true;
        rec.rotationPeriodInDays = 365;
        rec.nextRotationDate = new Date(this.clock().getTime() + 365 * DAY_MS).toISOString();
      }
      const now = this.clock().toISOString();
      // One transaction: two nodes asking at once end with one key behind the alias.
      const keyId = await this.store.update(async (tx) => {
        const current = await tx.alias(alias);
        if (current && (await tx.key(current.targetKeyId))) return current.targetKeyId;
        tx.putKey(rec);
        tx.putAlias(alias, { targetKeyId: rec.keyId, creationDate: now, lastUpdatedDate: now });
        return rec.keyId;
      });
      if (keyId !== rec.keyId) a.operation = 'DescribeKey';
      a.keyId = this.keyArnFor(keyId);
      return a.keyId;
    });
  }

  private async internal<T>(
    operation: string,
    caller: Caller,
    fields: Partial<AuditEntry>,
    fn: (a: AuditEntry) => T | Promise<T>,
  ): Promise<T> {
    const a: AuditEntry = { time: this.clock().toISOString(), accessKeyId: caller.accessKeyId, operation, ...fields, result: 'success' };
    try {
      const out = await this.locked(async () => fn(a));
      await this.audit.write(a);
      return out;
    } catch (err) {
      const e = toKmsError(err);
      a.result = e.type;
      if (e.message) a.errorMessage = e.message;
      await this.audit.write(a);
      throw e;
    }
  }

  // ---------------------------------------------------------------- plumbing

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private deletionDue(rec: KeyRecord, now: Date): boolean {
    return rec.keyState === 'PendingDeletion' && rec.deletionDate !== undefined && Date.parse(rec.deletionDate) <= now.getTime();
  }

  private rotationDue(rec: KeyRecord, now: Date): boolean {
    return (
      rec.keyState === 'Enabled' &&
      rec.rotationEnabled &&
      rec.nextRotationDate !== undefined &&
      Date.parse(rec.nextRotationDate) <= now.getTime()
    );
  }

  /**
   * A key by id, with its due housekeeping done first (lazily, on use): a key past its deletion date is
   * destroyed (crypto-shredding) and reads as absent; a key whose rotation is due is rotated.
   * `cached`: from this node's cache (at most cacheTtlMs old), for cryptographic use.
   */
  private async lookup(keyId: string, cached: boolean): Promise<KeyRecord | undefined> {
    const rec = await this.store.getKey(keyId, cached);
    if (!rec) return undefined;
    const now = this.clock();
    return this.deletionDue(rec, now) || this.rotationDue(rec, now) ? this.runDue(keyId) : rec;
  }

  /** Due deletion or rotation of one key, in a transaction (the first node to commit does it; others see it done). */
  private async runDue(keyId: string): Promise<KeyRecord | undefined> {
    const now = this.clock();
    const r = await this.store.update(async (tx): Promise<{ rec?: KeyRecord; event?: string }> => {
      const rec = await tx.key(keyId);
      if (!rec) return {};
      if (this.deletionDue(rec, now)) {
        await tx.destroyKey(keyId, now);
        return { event: 'DeleteKey' };
      }
      if (this.rotationDue(rec, now)) {
        this.addVersion(rec, 'AUTOMATIC', now);
        rec.nextRotationDate = new Date(now.getTime() + (rec.rotationPeriodInDays ?? 365) * DAY_MS).toISOString();
        tx.putKey(rec);
        return { rec, event: 'RotateKey' };
      }
      return { rec };
    });
    if (r.event)
      await this.audit.write({
        time: now.toISOString(),
        accessKeyId: INTERNAL_CALLER,
        operation: r.event,
        keyId: this.keyArnFor(keyId),
        result: 'success',
      });
    return r.rec;
  }

  /** Housekeeping of every key: at open, every maintenanceIntervalMs, and before listings. */
  private async maintainAll(): Promise<void> {
    const now = this.clock();
    for (const rec of await this.store.listKeys()) {
      if (this.deletionDue(rec, now) || this.rotationDue(rec, now)) await this.runDue(rec.keyId);
    }
  }

  /** Changes one key in a transaction: fn checks the current record (throws to refuse) and changes it; false = nothing to write. */
  private changeKey(keyId: string, fn: (rec: KeyRecord) => boolean | void): Promise<KeyRecord> {
    return this.store.update(async (tx) => {
      const rec = await tx.key(keyId);
      if (!rec) throw new KmsError('NotFoundException', `Key '${this.keyArnFor(keyId)}' does not exist`);
      if (fn(rec) !== false) tx.putKey(rec);
      return rec;
    });
  }

  private arn(rec: KeyRecord): string {
    return `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:key/${rec.keyId}`;
  }

  private aliasArn(name: string): string {
    return `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:${name}`;
  }

  private keyArnFor(id: string): string {
    return `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:key/${id}`;
  }

  /**
   * Finds a key by key id or key ARN, and also by alias name or alias ARN when `aliases` (the operations
   * where AWS accepts aliases: DescribeKey and the cryptographic operations).
   */
  private async resolve(id: string, aliases: boolean, cached: boolean): Promise<KeyRecord> {
    let ref = id;
    if (id.startsWith('arn:')) {
      const m = /^arn:aws[a-z-]*:kms:([^:]*):([^:]*):((?:key|alias)\/.+)$/.exec(id);
      if (!m) throw new KmsError('NotFoundException', `Invalid arn ${id}`);
      const [, region, account, resource = ''] = m;
      if (region !== this.opts.region || account !== this.opts.accountId) {
        throw new KmsError('NotFoundException', resource.startsWith('alias/') ? `Alias ${id} is not found.` : `Key '${id}' does not exist`);
      }
      ref = resource.startsWith('key/') ? resource.slice(4) : resource;
    }
    if (ref.startsWith('alias/')) {
      if (!aliases) throw new KmsError('NotFoundException', `Invalid keyId ${id}`);
      const a = await this.store.getAlias(ref, cached);
      const rec = a && (await this.lookup(a.targetKeyId, cached));
      if (!rec) throw new KmsError('NotFoundException', `Alias ${this.aliasArn(ref)} is not found.`);
      return rec;
    }
    if (!UUID_RE.test(ref)) throw new KmsError('NotFoundException', `Invalid keyId ${id}`);
    const rec = await this.lookup(ref.toLowerCase(), cached);
    if (!rec) throw new KmsError('NotFoundException', `Key '${this.keyArnFor(ref)}' does not exist`);
    return rec;
  }

  /** The key a parameter names; `cached` for cryptographic operations, fresh from the store for key management. */
  private keyParam(p: Params, aliases: boolean, cached: boolean, name = 'KeyId'): Promise<KeyRecord> {
    return this.resolve(reqString(p, name, 1, 2048), aliases, cached);
  }

  /** Cryptographic use: the key must be Enabled. */
  private requireUsable(rec: KeyRecord): void {
    this.requireNotPending(rec);
    if (rec.keyState === 'Disabled') throw new KmsError('DisabledException', `${this.arn(rec)} is disabled.`);
  }

  private requireNotPending(rec: KeyRecord): void {
    if (rec.keyState === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${this.arn(rec)} is pending deletion.`);
  }

  /** AWS-managed keys can be used and described, not managed (their key policy denies it). */
  private requireCustomerManaged(rec: KeyRecord, op: string, caller: Caller): void {
    if (rec.keyManager === 'AWS') {
      throw new KmsError(
        'AccessDeniedException',
        `User: ${caller.accessKeyId} is not authorized to perform: kms:${op} on resource: ${this.arn(rec)} because no resource-based policy allows the kms:${op} action`,
      );
    }
  }

  private addVersion(rec: KeyRecord, type: 'AUTOMATIC' | 'ON_DEMAND', now: Date): void {
    const version = Math.max(0, ...rec.versions.map((v) => v.version)) + 1;
    rec.versions.push(this.store.newVersion(rec.keyId, version, now));
    rec.currentVersion = version;
    rec.rotations.push({ date: now.toISOString(), type, version });
  }

  /** A new key's record (not yet stored). */
  private newKey(description: string, tags: KeyRecord['tags'], keyManager: KeyRecord['keyManager']): KeyRecord {
    const now = this.clock();
    const keyId = KeyStore.newKeyId();
    return {
      keyId,
      description,
      tags,
      keyState: 'Enabled',
      keyManager,
      creationDate: now.toISOString(),
      rotationEnabled: false,
      rotations: [],
      currentVersion: 1,
      versions: [this.store.newVersion(keyId, 1, now)],
    };
  }

  private seal(rec: KeyRecord, ctx: Record<string, string>, plaintext: Buffer): Buffer {
    const material = this.store.material(rec, rec.currentVersion);
    try {
      return sealBlob(material, { keyId: rec.keyId, keyVersion: rec.currentVersion }, ctx, plaintext);
    } finally {
      material.fill(0);
    }
  }

  /** Decrypts a blob; `expected` is the key the caller named (IncorrectKeyException if the blob is under another). */
  private async open(
    blob: Buffer,
    ctx: Record<string, string>,
    expected: KeyRecord | undefined,
    a: AuditEntry,
  ): Promise<{ rec: KeyRecord; plaintext: Buffer }> {
    const head = parseBlobHeader(blob);
    if (!head) throw new KmsError('InvalidCiphertextException', '');
    let rec = await this.lookup(head.keyId, true);
    // A version made by a rotation on another node since this node cached the key: read the key again.
    if (rec && !rec.versions.some((v) => v.version === head.keyVersion)) rec = await this.lookup(head.keyId, false);
    if (!rec) {
      a.keyId = this.keyArnFor(head.keyId);
      throw new KmsError('NotFoundException', `Key '${this.keyArnFor(head.keyId)}' does not exist`);
    }
    a.keyId = this.arn(rec);
    if (expected && expected.keyId !== rec.keyId) {
      throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
    }
    this.requireUsable(rec);
    let material: Buffer;
    try {
      material = this.store.material(rec, head.keyVersion);
    } catch {
      throw new KmsError('InvalidCiphertextException', '');
    }
    try {
      return { rec, plaintext: openBlob(material, blob, ctx) };
    } catch {
      throw new KmsError('InvalidCiphertextException', '');
    } finally {
      material.fill(0);
    }
  }

  private metadata(rec: KeyRecord): Record<string, unknown> {
    const m: Record<string, unknown> = {
      AWSAccountId: this.opts.accountId,
      KeyId: rec.keyId,
      Arn: this.arn(rec),
      CreationDate: epoch(rec.creationDate),
      Enabled: rec.keyState === 'Enabled',
      Description: rec.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: rec.keyState,
      Origin: 'AWS_KMS',
      KeyManager: rec.keyManager,
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    };
    if (rec.keyState === 'PendingDeletion' && rec.deletionDate) {
      m.DeletionDate = epoch(rec.deletionDate);
      m.PendingDeletionWindowInDays = rec.pendingWindowInDays;
    }
    return m;
  }

  private checkEncryptionAlgorithm(p: Params, name: string): void {
    const alg = optEnum(p, name, ENCRYPTION_ALGORITHMS);
    if (alg && alg !== 'SYMMETRIC_DEFAULT') {
      throw new KmsError('InvalidKeyUsageException', `${alg} is not a valid encryption algorithm for a symmetric encryption KMS key.`);
    }
  }

  private parseTags(p: Params): KeyRecord['tags'] {
    const raw = optArray(p, 'Tags') ?? [];
    const tags: KeyRecord['tags'] = [];
    for (const t of raw) {
      const tag = (t ?? {}) as Params;
      const key = reqString(tag, 'TagKey', 1, 128);
      const value = optString(tag, 'TagValue', 0, 256);
      if (value === undefined) throw validationError('tagValue', 'Member must not be null');
      if (key.startsWith('aws:')) throw new KmsError('TagException', 'Tags beginning with aws: are reserved');
      const i = tags.findIndex((x) => x.TagKey === key);
      if (i >= 0) tags[i] = { TagKey: key, TagValue: value };
      else tags.push({ TagKey: key, TagValue: value });
    }
    return tags;
  }

  private checkAliasName(name: string): void {
    if (!name.startsWith('alias/')) {
      throw new KmsError(
        'ValidationException',
        'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
      );
    }
    if (!ALIAS_RE.test(name)) {
      throw validationError('aliasName', `Member must satisfy regular expression pattern: ${ALIAS_RE.source}`, name);
    }
    if (name.includes(':') || name.length === 'alias/'.length) {
      throw new KmsError('InvalidAliasNameException', `${name} contains invalid characters for an alias`);
    }
  }

  /** The key id an alias is to point at (found in the store); its state is checked in the alias's transaction. */
  private async aliasTarget(p: Params): Promise<string> {
    const target = reqString(p, 'TargetKeyId', 1, 2048);
    if (target.startsWith('alias/') || /^arn:[^:]*:kms:[^:]*:[^:]*:alias\//.test(target)) {
      throw new KmsError('ValidationException', 'Aliases must refer to keys. Not aliases');
    }
    return (await this.resolve(target, false, false)).keyId;
  }

  /** The target key as the alias's transaction reads it: present, not pending deletion, customer managed. */
  private async checkAliasTarget(tx: KeyStoreTx, keyId: string, caller: Caller, op: string): Promise<void> {
    const rec = await tx.key(keyId);
    if (!rec) throw new KmsError('NotFoundException', `Key '${this.keyArnFor(keyId)}' does not exist`);
    this.requireNotPending(rec);
    this.requireCustomerManaged(rec, op, caller);
  }

  private page<T>(
    items: T[],
    p: Params,
    maxLimit: number,
    defaultLimit: number,
    keyOf: (x: T) => string,
  ): { items: T[]; truncated: boolean; nextMarker?: string } {
    const limit = optInt(p, 'Limit', 1, maxLimit) ?? defaultLimit;
    const marker = optString(p, 'Marker', 1, 1024);
    let start = 0;
    if (marker !== undefined) {
      const after = Buffer.from(marker, 'base64url').toString('utf8');
      if (!after || Buffer.from(after, 'utf8').toString('base64url') !== marker)
        throw new KmsError('InvalidMarkerException', 'Invalid marker');
      start = items.findIndex((x) => keyOf(x) > after);
      if (start < 0) start = items.length;
    }
    const slice = items.slice(start, start + limit);
    const truncated = start + limit < items.length;
    const last = slice[slice.length - 1];
    return {
      items: slice,
      truncated,
      nextMarker: truncated && last !== undefined ? Buffer.from(keyOf(last), 'utf8').toString('base64url') : undefined,
    };
  }

  // ---------------------------------------------------------------- key management

  private async createKey(p: Params, a: AuditEntry): Promise<unknown> {
    const description = optString(p, 'Description', 0, 8192) ?? '';
    const keySpec = optEnum(p, 'KeySpec', KEY_SPECS) ?? optEnum(p, 'CustomerMasterKeySpec', KEY_SPECS) ?? 'SYMMETRIC_DEFAULT';
    const keyUsage = optEnum(p, 'KeyUsage', KEY_USAGES) ?? 'ENCRYPT_DECRYPT';
    const origin = optEnum(p, 'Origin', ORIGINS) ?? 'AWS_KMS';
    optString(p, 'Policy', 1, 32768);
    optBool(p, 'BypassPolicyLockoutSafetyCheck');
    if (keySpec !== 'SYMMETRIC_DEFAULT')
      throw new KmsError(
        'UnsupportedOperationException',
        `KeySpec ${keySpec} is not supported by this KMS; only SYMMETRIC_DEFAULT keys are available.`,
      );
    if (keyUsage !== 'ENCRYPT_DECRYPT')
      throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec SYMMETRIC_DEFAULT`);
    if (origin !== 'AWS_KMS')
      throw new KmsError(
        'UnsupportedOperationException',
        `Origin ${origin} is not supported by this KMS; only AWS_KMS keys are available.`,
      );
    if (optBool(p, 'MultiRegion')) throw new KmsError('UnsupportedOperationException', 'Multi-Region keys are not supported by this KMS.');
    if (optString(p, 'CustomKeyStoreId') !== undefined || optString(p, 'XksKeyId') !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'Custom key stores are not supported by this KMS.');
    }
    const rec = this.newKey(description, this.parseTags(p), 'CUSTOMER');
    await this.store.update(async (tx) => tx.putKey(rec));
    a.keyId = this.arn(rec);
    return { KeyMetadata: this.metadata(rec) };
  }

  private async describeKey(p: Params, a: AuditEntry): Promise<unknown> {
    const rec = await this.keyParam(p, true, false);
    a.keyId = this.arn(rec);
    return { KeyMetadata: this.metadata(rec) };
  }

  private async listKeys(p: Params): Promise<unknown> {
    await this.maintainAll();
    const keys = (await this.store.listKeys()).sort((x, y) => (x.keyId < y.keyId ? -1 : x.keyId > y.keyId ? 1 : 0));
    const pg = this.page(keys, p, 1000, 100, (k) => k.keyId);
    return {
      Keys: pg.items.map((k) => ({ KeyId: k.keyId, KeyArn: this.arn(k) })),
      Truncated: pg.truncated,
      ...(pg.nextMarker ? { NextMarker: pg.nextMarker } : {}),
    };
  }

  // Key management reads the key from the store and changes it in one transaction (changeKey): the
  // checks run on the record as committed, whichever node changed it last.

  private async enableKey(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    await this.changeKey(keyId, (rec) => {
      this.requireNotPending(rec);
      this.requireCustomerManaged(rec, 'EnableKey', caller);
      if (rec.keyState === 'Enabled') return false;
      rec.keyState = 'Enabled';
    });
    return {};
  }

  private async disableKey(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    await this.changeKey(keyId, (rec) => {
      this.requireNotPending(rec);
      this.requireCustomerManaged(rec, 'DisableKey', caller);
      if (rec.keyState === 'Disabled') return false;
      rec.keyState = 'Disabled';
    });
    return {};
  }

  private async scheduleKeyDeletion(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    const days = optInt(p, 'PendingWindowInDays', 7, 30) ?? 30;
    const deletion = new Date(this.clock().getTime() + days * DAY_MS);
    const rec = await this.changeKey(keyId, (r) => {
      this.requireNotPending(r);
      this.requireCustomerManaged(r, 'ScheduleKeyDeletion', caller);
      r.keyState = 'PendingDeletion';
      r.deletionDate = deletion.toISOString();
      r.pendingWindowInDays = days;
    });
    return { KeyId: this.arn(rec), DeletionDate: epoch(rec.deletionDate!), KeyState: 'PendingDeletion', PendingWindowInDays: days };
  }

  private async cancelKeyDeletion(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    await this.changeKey(keyId, (rec) => {
      this.requireCustomerManaged(rec, 'CancelKeyDeletion', caller);
      if (rec.keyState !== 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${this.arn(rec)} is not pending deletion.`);
      // As AWS: a key whose deletion is cancelled comes back Disabled.
      rec.keyState = 'Disabled';
      delete rec.deletionDate;
      delete rec.pendingWindowInDays;
    });
    return { KeyId: this.keyArnFor(keyId) };
  }

  private async updateKeyDescription(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    const description = optString(p, 'Description', 0, 8192);
    if (description === undefined) throw validationError('description', 'Member must not be null');
    await this.changeKey(keyId, (rec) => {
      this.requireNotPending(rec);
      this.requireCustomerManaged(rec, 'UpdateKeyDescription', caller);
      rec.description = description;
    });
    return {};
  }

  private async tagResource(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    const tags = this.parseTags(p);
    await this.changeKey(keyId, (rec) => {
      this.requireNotPending(rec);
      this.requireCustomerManaged(rec, 'TagResource', caller);
      for (const t of tags) {
        const i = rec.tags.findIndex((x) => x.TagKey === t.TagKey);
        if (i >= 0) rec.tags[i] = t;
        else rec.tags.push(t);
      }
    });
    return {};
  }

  private async untagResource(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    const names = optArray(p, 'TagKeys') ?? [];
    await this.changeKey(keyId, (rec) => {
      this.requireNotPending(rec);
      this.requireCustomerManaged(rec, 'UntagResource', caller);
      rec.tags = rec.tags.filter((t) => !names.includes(t.TagKey));
    });
    return {};
  }

  private async listResourceTags(p: Params, a: AuditEntry): Promise<unknown> {
    const rec = await this.keyParam(p, false, false);
    a.keyId = this.arn(rec);
    const pg = this.page(
      [...rec.tags].sort((x, y) => (x.TagKey < y.TagKey ? -1 : 1)),
      p,
      50,
      50,
      (t) => t.TagKey,
    );
    return { Tags: pg.items, Truncated: pg.truncated, ...(pg.nextMarker ? { NextMarker: pg.nextMarker } : {}) };
  }

  // ---------------------------------------------------------------- aliases

  private async createAlias(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const name = reqString(p, 'AliasName', 1, 256);
    a.aliasName = name;
    this.checkAliasName(name);
    if (name.startsWith('alias/aws/')) throw new KmsError('NotAuthorizedException', '');
    const keyId = await this.aliasTarget(p);
    a.keyId = this.keyArnFor(keyId);
    const now = this.clock().toISOString();
    await this.store.update(async (tx) => {
      await this.checkAliasTarget(tx, keyId, caller, 'CreateAlias');
      if (await tx.alias(name))
        throw new KmsError('AlreadyExistsException', `An alias with the name ${this.aliasArn(name)} already exists`);
      tx.putAlias(name, { targetKeyId: keyId, creationDate: now, lastUpdatedDate: now });
    });
    return {};
  }

  private async updateAlias(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const name = reqString(p, 'AliasName', 1, 256);
    a.aliasName = name;
    this.checkAliasName(name);
    if (name.startsWith('alias/aws/')) throw new KmsError('NotAuthorizedException', '');
    const keyId = await this.aliasTarget(p);
    a.keyId = this.keyArnFor(keyId);
    const now = this.clock().toISOString();
    await this.store.update(async (tx) => {
      await this.checkAliasTarget(tx, keyId, caller, 'UpdateAlias');
      const existing = await tx.alias(name);
      if (!existing) throw new KmsError('NotFoundException', `Alias ${this.aliasArn(name)} is not found.`);
      tx.putAlias(name, { ...existing, targetKeyId: keyId, lastUpdatedDate: now });
    });
    return {};
  }

  private async deleteAlias(p: Params, a: AuditEntry): Promise<unknown> {
    const name = reqString(p, 'AliasName', 1, 256);
    a.aliasName = name;
    if (!name.startsWith('alias/')) {
      throw new KmsError(
        'ValidationException',
        'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
      );
    }
    if (name.startsWith('alias/aws/')) throw new KmsError('NotAuthorizedException', '');
    await this.store.update(async (tx) => {
      const existing = await tx.alias(name);
      if (!existing) throw new KmsError('NotFoundException', `Alias ${this.aliasArn(name)} is not found.`);
      a.keyId = this.keyArnFor(existing.targetKeyId);
      tx.deleteAlias(name);
    });
    return {};
  }

  private async listAliases(p: Params, a: AuditEntry): Promise<unknown> {
    let filter: string | undefined;
    if (optString(p, 'KeyId') !== undefined) {
      const rec = await this.keyParam(p, false, false);
      a.keyId = this.arn(rec);
      filter = rec.keyId;
    }
    await this.maintainAll();
    const all = (await this.store.listAliases())
      .filter(([, al]) => !filter || al.targetKeyId === filter)
      .sort((x, y) => (x[0] < y[0] ? -1 : 1));
    const pg = this.page(all, p, 100, 50, (x) => x[0]);
    return {
      Aliases: pg.items.map(([name, al]) => ({
        AliasName: name,
        AliasArn: this.aliasArn(name),
        TargetKeyId: al.targetKeyId,
        CreationDate: epoch(al.creationDate),
        LastUpdatedDate: epoch(al.lastUpdatedDate),
      })),
      Truncated: pg.truncated,
      ...(pg.nextMarker ? { NextMarker: pg.nextMarker } : {}),
    };
  }

  // ---------------------------------------------------------------- cryptographic operations

  // Cryptographic operations use this node's cache of keys and aliases (at most cacheTtlMs old).

  private async encryptOp(p: Params, a: AuditEntry): Promise<unknown> {
    const rec = await this.keyParam(p, true, true);
    a.keyId = this.arn(rec);
    const plaintext = reqBlob(p, 'Plaintext', 1, 4096);
    const ctx = context(p, 'EncryptionContext');
    a.encryptionContext = ctx;
    this.checkEncryptionAlgorithm(p, 'EncryptionAlgorithm');
    this.requireUsable(rec);
    return {
      CiphertextBlob: this.seal(rec, ctx, plaintext).toString('base64'),
      KeyId: this.arn(rec),
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  }

  private async decryptOp(p: Params, a: AuditEntry): Promise<unknown> {
    const blob = reqBlob(p, 'CiphertextBlob', 1, 6144);
    const ctx = context(p, 'EncryptionContext');
    a.encryptionContext = ctx;
    this.checkEncryptionAlgorithm(p, 'EncryptionAlgorithm');
    const expected = optString(p, 'KeyId') !== undefined ? await this.keyParam(p, true, true) : undefined;
    if (p.Recipient !== undefined && p.Recipient !== null)
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.');
    const { rec, plaintext } = await this.open(blob, ctx, expected, a);
    return { KeyId: this.arn(rec), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  private async reEncrypt(p: Params, a: AuditEntry): Promise<unknown> {
    const blob = reqBlob(p, 'CiphertextBlob', 1, 6144);
    const srcCtx = context(p, 'SourceEncryptionContext');
    const dstCtx = context(p, 'DestinationEncryptionContext');
    a.encryptionContext = srcCtx;
    a.destinationEncryptionContext = dstCtx;
    this.checkEncryptionAlgorithm(p, 'SourceEncryptionAlgorithm');
    this.checkEncryptionAlgorithm(p, 'DestinationEncryptionAlgorithm');
    const dst = await this.keyParam(p, true, true, 'DestinationKeyId');
    a.destinationKeyId = this.arn(dst);
    const expected = optString(p, 'SourceKeyId') !== undefined ? await this.keyParam(p, true, true, 'SourceKeyId') : undefined;
    const { rec, plaintext } = await this.open(blob, srcCtx, expected, a);
    try {
      this.requireUsable(dst);
      return {
        CiphertextBlob: this.seal(dst, dstCtx, plaintext).toString('base64'),
        SourceKeyId: this.arn(rec),
        KeyId: this.arn(dst),
        SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    } finally {
      plaintext.fill(0);
    }
  }

  private async dataKey(p: Params, a: AuditEntry): Promise<{ rec: KeyRecord; plaintext: Buffer; blob: Buffer }> {
    const rec = await this.keyParam(p, true, true);
    a.keyId = this.arn(rec);
    const ctx = context(p, 'EncryptionContext');
    a.encryptionContext = ctx;
    const spec = optEnum(p, 'KeySpec', DATA_KEY_SPECS);
    const n = optInt(p, 'NumberOfBytes', 1, 1024);
    if (spec && n !== undefined) throw new KmsError('ValidationException', 'KeySpec and NumberOfBytes cannot both be specified.');
    if (!spec && n === undefined) throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
    if (p.Recipient !== undefined && p.Recipient !== null)
      throw new KmsError('UnsupportedOperationException', 'Recipient (Nitro Enclaves attestation) is not supported by this KMS.');
    this.requireUsable(rec);
    const plaintext = randomBytes(n ?? (spec === 'AES_128' ? 16 : 32));
    return { rec, plaintext, blob: this.seal(rec, ctx, plaintext) };
  }

  private async generateDataKeyOp(p: Params, a: AuditEntry): Promise<unknown> {
    const { rec, plaintext, blob } = await this.dataKey(p, a);
    return { CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: this.arn(rec) };
  }

  private async generateDataKeyWithoutPlaintext(p: Params, a: AuditEntry): Promise<unknown> {
    const { rec, plaintext, blob } = await this.dataKey(p, a);
    plaintext.fill(0);
    return { CiphertextBlob: blob.toString('base64'), KeyId: this.arn(rec) };
  }

  private generateRandom(p: Params): unknown {
    const n = optInt(p, 'NumberOfBytes', 1, 1024);
    if (n === undefined) throw new KmsError('ValidationException', 'NumberOfBytes is required.');
    if (optString(p, 'CustomKeyStoreId') !== undefined)
      throw new KmsError('UnsupportedOperationException', 'Custom key stores are not supported by this KMS.');
    return { Plaintext: randomBytes(n).toString('base64') };
  }

  // ---------------------------------------------------------------- rotation

  private async enableKeyRotation(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    const period = optInt(p, 'RotationPeriodInDays', 90, 2560) ?? 365;
    const next = new Date(this.clock().getTime() + period * DAY_MS).toISOString();
    await this.changeKey(keyId, (rec) => {
      this.requireUsable(rec);
      this.requireCustomerManaged(rec, 'EnableKeyRotation', caller);
      if (rec.rotationEnabled && rec.rotationPeriodInDays === period) return false;
      rec.rotationEnabled = true;
      rec.rotationPeriodInDays = period;
      rec.nextRotationDate = next;
    });
    return {};
  }

  private async disableKeyRotation(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    await this.changeKey(keyId, (rec) => {
      this.requireUsable(rec);
      this.requireCustomerManaged(rec, 'DisableKeyRotation', caller);
      if (!rec.rotationEnabled) return false;
      rec.rotationEnabled = false;
      delete rec.nextRotationDate;
    });
    return {};
  }

  private async getKeyRotationStatus(p: Params, a: AuditEntry): Promise<unknown> {
    const rec = await this.keyParam(p, false, false);
    a.keyId = this.arn(rec);
    this.requireNotPending(rec);
    return {
      KeyRotationEnabled: rec.rotationEnabled,
      KeyId: this.arn(rec),
      ...(rec.rotationEnabled ? { RotationPeriodInDays: rec.rotationPeriodInDays, NextRotationDate: epoch(rec.nextRotationDate!) } : {}),
    };
  }

  private async rotateKeyOnDemand(p: Params, a: AuditEntry, caller: Caller): Promise<unknown> {
    const { keyId } = await this.keyParam(p, false, false);
    a.keyId = this.keyArnFor(keyId);
    const now = this.clock();
    // In the transaction: two nodes rotating at once make two versions, never one overwriting the other.
    await this.changeKey(keyId, (rec) => {
      this.requireUsable(rec);
      this.requireCustomerManaged(rec, 'RotateKeyOnDemand', caller);
      if (rec.rotations.filter((r) => r.type === 'ON_DEMAND').length >= MAX_ON_DEMAND_ROTATIONS) {
        throw new KmsError(
          'LimitExceededException',
          `The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: ${this.arn(rec)}`,
        );
      }
      this.addVersion(rec, 'ON_DEMAND', now);
    });
    return { KeyId: keyId };
  }

  private async listKeyRotations(p: Params, a: AuditEntry): Promise<unknown> {
    const rec = await this.keyParam(p, false, false);
    a.keyId = this.arn(rec);
    this.requireNotPending(rec);
    const rotations = rec.rotations.map((r) => ({ ...r, marker: String(r.version).padStart(10, '0') }));
    const pg = this.page(rotations, p, 1000, 100, (r) => r.marker);
    return {
      Rotations: pg.items.map((r) => ({ KeyId: rec.keyId, RotationDate: epoch(r.date), RotationType: r.type })),
      Truncated: pg.truncated,
      ...(pg.nextMarker ? { NextMarker: pg.nextMarker } : {}),
    };
  }
}

function parseBody(body: unknown): Params {
  let v = body;
  if (Buffer.isBuffer(v)) v = v.toString('utf8');
  if (typeof v === 'string') {
    if (v.trim() === '') return {};
    try {
      v = JSON.parse(v);
    } catch {
      throw new KmsError('SerializationException', 'Start of structure or map found where not expected.');
    }
  }
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new KmsError('SerializationException', 'Start of structure or map found where not expected.');
  return v as Params;
}

function toKmsError(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  // Never echo internal error text: it could carry paths or key-store details.
  return new KmsError(
    'KMSInternalException',
    'The request was rejected because an internal exception occurred. The request can be retried.',
  );
}

/**
 * The KMS as the server uses it: mounted at POST / with X-Amz-Target: TrentService.* (see CONTRACTS.md
 * and src/kms/http.ts), and used in-process by SSE-KMS / SSE-S3 to wrap object keys.
 */
export type KmsService = Pick<
  KeyManagementService,
  'handle' | 'generateDataKey' | 'decrypt' | 'resolveKeyArn' | 'ensureDefaultKey' | 'keyState'
>;
