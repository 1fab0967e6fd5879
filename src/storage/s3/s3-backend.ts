// Gateway backend: Kura's buckets and objects kept in one bucket (under a prefix) of any
// S3-compatible store — AWS S3, MinIO, Ceph RGW, another Kura. The SSE layer above has already
// encrypted every object, so only ciphertext goes upstream; the metadata records are sealed too
// (records.ts). The whole state lives upstream: a gateway restarted elsewhere with an empty data dir
// (but the same root key and KMS state) serves the same buckets.
//
// Writes: a blob is streamed to its final, random upstream name (lib-storage Upload: one PUT when
// small, multipart when large; bounded memory), then the key's metadata record is PUT. The record
// PUT is the commit: a reader sees the old or the new record, never a torn object. Blobs that no
// record references (crashes between the two steps) are deleted when the bucket is loaded.
// Reads: an in-memory index per bucket (loaded from the records on first use, written through), and
// ranged GETs of the blobs. One gateway per upstream bucket/prefix at a time: the index is not shared.
import { Readable, Transform, pipeline } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  S3Client, GetObjectCommand, PutObjectCommand, DeleteObjectsCommand, HeadBucketCommand, ListMultipartUploadsCommand,
  AbortMultipartUploadCommand, paginateListObjectsV2, S3ServiceException, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { S3Error } from '../../server/errors.ts';
import type {
  BucketConfig, BucketInfo, ListOptions, ListResult, ListVersionsOptions, ListVersionsResult, ObjectMeta,
  ObjectRecord, PartRecord, StagedBlob, StorageBackend, UploadMeta, UploadRecord, WriteOptions,
} from '../backend.ts';
import { BlobRetirer } from '../blob-retirer.ts';
import { BucketIndex } from '../bucket-index.ts';
import { compareKeys, compareUploads } from '../key-order.ts';
import { KeyedLock } from '../keyed-lock.ts';
import { mapLimit } from '../map-limit.ts';
import { multipartRecord, partRecord, segmentsOf, singlePartRecord } from '../part-layout.ts';
import { addVersion, checkPreconditions, pickVersion, planDelete, versionIdFor } from '../versions.ts';
import { FORMAT, MARKER, RecordSealer, names } from './records.ts';

export interface S3BackendOptions {
  /** Upstream endpoint URL (path-style addressing); unset = AWS S3 itself (virtual-hosted style). */
  endpoint?: string;
  bucket: string;
  /** Key prefix inside the upstream bucket ('' = the whole bucket). */
  prefix?: string;
  region?: string;
  /** Upstream credentials; unset = the AWS SDK's default chain (AWS_* variables, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** PEM file of CA certificates to trust for an HTTPS endpoint. */
  caBundle?: string;
  /**
   * This gateway's identity for the upstream lease (kept in the data dir, so a restart of the same gateway,
   * even after a crash, takes its own lease over at once). Default: a fresh one.
   */
  instanceId?: string;
}

const UPLOAD_ID = /^[0-9a-f]{48}$/;
const BLOB_ID = /^[0-9a-f]{32}$/;
/** lib-storage part size for staging a blob: memory per in-flight write is about (queue + 1) × this. */
const STAGE_PART_SIZE = 8 * 1024 * 1024;
const STAGE_QUEUE = 2;
const LOAD_CONCURRENCY = 32;
/** The lease: renewed this often, and another gateway's lease counts as held this long after its last renewal. */
const LEASE_RENEW_MS = 20_000;
const LEASE_TTL_MS = 60_000;
const LEASE = 'gateway-lease.json';

interface BucketFile {
  info: BucketInfo;
  id: string;
}

interface MetaFile {
  key: string;
  versions: ObjectRecord[];
}

interface UploadState {
  record: UploadRecord;
  parts: Map<number, PartRecord>;
}

interface Loaded {
  objects: BucketIndex;
  uploads: Map<string, UploadState>;
}

interface BucketState {
  info: BucketInfo;
  id: string;
  loaded?: Promise<Loaded>;
  /** Leftovers of earlier runs removed (first load in this process only; see loadBucket). */
  cleaned?: boolean;
}

function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

function isNotFound(e: unknown): boolean {
  if (!(e instanceof S3ServiceException)) return false;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata.httpStatusCode === 404;
}

/** Upstream throttling or unavailability → 503 to the client (it retries); other failures stay internal errors. */
function upstreamError(e: unknown): unknown {
  if (e instanceof S3ServiceException && (e.$metadata.httpStatusCode === 503 || e.name === 'SlowDown')) return new S3Error('ServiceUnavailable');
  return e;
}

function normalizePrefix(p: string | undefined): string {
  const s = (p ?? '').replace(/^\/+/, '');
  return s && !s.endsWith('/') ? `${s}/` : s;
}

export class S3Backend implements StorageBackend {
  private buckets = new Map<string, BucketState>();
  private locks = new KeyedLock();
  /** Staged (uncommitted) blobs: id → upstream name. */
  private staged = new Map<string, string>();
  /** Blobs of replaced data (upstream names), deleted once no reader has them open (one that fails to go is removed at the next load of its bucket). */
  private blobs = new BlobRetirer((list) => void this.deleteNames(list).catch(() => {}));
  private leaseTimer?: NodeJS.Timeout;

  private constructor(
    private readonly client: S3Client,
    private readonly upstreamBucket: string,
    private readonly prefix: string,
    private readonly sealer: RecordSealer,
  ) {}

  /** Where the state lives, for messages: s3://bucket/prefix. */
  get location(): string {
    return `s3://${this.upstreamBucket}/${this.prefix}`;
  }

  static async open(opts: S3BackendOptions, rootKey: Buffer): Promise<S3Backend> {
    const ca = opts.caBundle ? readFileSync(opts.caBundle, 'utf8') : undefined;
    const config: S3ClientConfig = {
      region: opts.region ?? 'us-east-1',
      credentials: opts.credentials ?? fromNodeProviderChain(),
      // Checksums only where S3 requires them: third-party stores do not all know the newer default ones.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64, ...(ca ? { ca } : {}) }),
      }),
    };
    if (opts.endpoint) {
      config.endpoint = opts.endpoint;
      config.forcePathStyle = true;
    }
    const b = new S3Backend(new S3Client(config), opts.bucket, normalizePrefix(opts.prefix), new RecordSealer(rootKey));
    try {
      await b.client.send(new HeadBucketCommand({ Bucket: opts.bucket }));
    } catch (e) {
      const why = e instanceof S3ServiceException ? `${e.$metadata.httpStatusCode ?? ''} ${e.name}`.trim() : e instanceof Error ? e.message : String(e);
      throw new Error(`upstream bucket ${opts.bucket} at ${opts.endpoint ?? 'AWS S3'} is not usable: ${why}`);
    }
    await b.checkMarker();
    await b.takeLease(opts.instanceId ?? randomId());
    await b.loadBuckets();
    return b;
  }

  // ---- upstream primitives (names relative to the prefix) ----

  private async getBytes(name: string): Promise<Buffer | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.upstreamBucket, Key: this.prefix + name }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw upstreamError(e);
    }
  }

  private async getRecord<T>(name: string): Promise<T | undefined> {
    const data = await this.getBytes(name);
    if (!data) return undefined;
    try {
      return this.sealer.open<T>(name, data);
    } catch {
      // Never skipped: a record dropped at load would make its blobs look orphaned, and they would be deleted.
      throw new Error(`gateway record ${this.location}${name} failed authentication (altered upstream, or sealed under another root key)`);
    }
  }

  private async putRecord(name: string, value: unknown): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.upstreamBucket, Key: this.prefix + name, Body: this.sealer.seal(name, value), ContentType: 'application/octet-stream',
      }));
    } catch (e) {
      throw upstreamError(e);
    }
  }

  /** Every upstream name under a prefix (relative), with delimiter '/' the sub-folders instead of their contents. */
  private async listNames(under: string, delimiter?: string): Promise<{ names: string[]; folders: string[] }> {
    const out = { names: [] as string[], folders: [] as string[] };
    const pages = paginateListObjectsV2({ client: this.client, pageSize: 1000 }, { Bucket: this.upstreamBucket, Prefix: this.prefix + under, ...(delimiter ? { Delimiter: delimiter } : {}) });
    try {
      for await (const page of pages) {
        for (const o of page.Contents ?? []) if (o.Key) out.names.push(o.Key.slice(this.prefix.length));
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.folders.push(p.Prefix.slice(this.prefix.length));
      }
    } catch (e) {
      throw upstreamError(e);
    }
    return out;
  }

  private async deleteNames(list: string[]): Promise<void> {
    for (let i = 0; i < list.length; i += 1000) {
      const batch = list.slice(i, i + 1000);
      let r;
      try {
        r = await this.client.send(new DeleteObjectsCommand({
          Bucket: this.upstreamBucket, Delete: { Quiet: true, Objects: batch.map((n) => ({ Key: this.prefix + n })) },
        }));
      } catch (e) {
        throw upstreamError(e);
      }
      const failed = (r.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`upstream delete failed for ${failed.length} object(s): ${failed[0]!.Code ?? ''}`);
    }
  }

  private async removeTree(under: string): Promise<void> {
    await this.deleteNames((await this.listNames(under)).names);
  }

  // ---- start-up ----

  private async checkMarker(): Promise<void> {
    const raw = await this.getBytes(MARKER);
    const check = Buffer.from('kura gateway', 'utf8');
    if (!raw) {
      const marker = { format: FORMAT, check: this.sealer.seal(MARKER, check.toString('utf8')).toString('base64') };
      await this.client.send(new PutObjectCommand({ Bucket: this.upstreamBucket, Key: this.prefix + MARKER, Body: JSON.stringify(marker), ContentType: 'application/json' }));
      return;
    }
    let marker: { format?: number; check?: string };
    try {
      marker = JSON.parse(raw.toString('utf8')) as typeof marker;
    } catch {
      throw new Error(`${this.location}${MARKER} is not a Kura gateway marker`);
    }
    if (marker.format !== FORMAT) throw new Error(`${this.location} holds gateway format ${String(marker.format)}; this Kura reads format ${FORMAT}`);
    try {
      this.sealer.open(MARKER, Buffer.from(marker.check ?? '', 'base64'));
    } catch {
      throw new Error(`${this.location} was written by a Kura gateway with another root key (KURA_ROOT_KEY or <data>/.kura/root.key)`);
    }
  }

  /**
   * One gateway per upstream bucket/prefix: two would each take the other's uncommitted blobs for crash
   * leftovers and delete them. A lease object, renewed every 20 s, keeps a second gateway from starting;
   * a graceful stop releases it, a crashed gateway's lease expires after 60 s (or its own restart takes it over).
   */
  private async takeLease(instance: string): Promise<void> {
    let held: { instance?: string; host?: string; pid?: number } | undefined;
    let renewed: Date | undefined;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.upstreamBucket, Key: this.prefix + LEASE }));
      held = JSON.parse(await r.Body!.transformToString()) as typeof held;
      renewed = r.LastModified;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (held && held.instance !== instance && renewed && Date.now() - renewed.getTime() < LEASE_TTL_MS) {
      const age = Math.max(0, Math.round((Date.now() - renewed.getTime()) / 1000));
      throw new Error(
        `${this.location} is in use by another Kura gateway (${held.host ?? '?'}, pid ${held.pid ?? '?'}; lease renewed ${age} s ago). ` +
          `Stop it first; a crashed gateway's lease expires ${LEASE_TTL_MS / 1000} s after its last renewal.`,
      );
    }
    const body = JSON.stringify({ instance, host: hostname(), pid: process.pid });
    const renew = (): Promise<unknown> => this.client.send(new PutObjectCommand({ Bucket: this.upstreamBucket, Key: this.prefix + LEASE, Body: body, ContentType: 'application/json' }));
    await renew();
    this.leaseTimer = setInterval(() => void renew().catch(() => {}), LEASE_RENEW_MS);
    this.leaseTimer.unref();
  }

  private async loadBuckets(): Promise<void> {
    const { names: files } = await this.listNames('buckets/');
    const records = await mapLimit(files, LOAD_CONCURRENCY, (n) => this.getRecord<BucketFile>(n));
    for (const r of records) if (r) this.buckets.set(r.info.name, { info: r.info, id: r.id });
    // Folders of deleted buckets whose clean-up was cut short.
    const live = new Set([...this.buckets.values()].map((s) => names.root(s.id)));
    const { folders } = await this.listNames('b/', '/');
    for (const f of folders) if (!live.has(f)) await this.removeTree(f).catch(() => {});
  }

  /** The upstream names of the records' blobs. */
  private blobNames(st: BucketState, records: readonly { parts: readonly { ref: string }[] }[]): string[] {
    return records.flatMap((r) => r.parts.map((p) => names.blob(st.id, p.ref)));
  }

  // ---- buckets ----

  private state(bucket: string): BucketState {
    const s = this.buckets.get(bucket);
    if (!s) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
    return s;
  }

  /** The bucket's index and uploads, loaded on first use (with the clean-up of crashed writes). */
  private load(bucket: string): Promise<Loaded> {
    const s = this.state(bucket);
    s.loaded ??= this.loadBucket(s).catch((e) => {
      s.loaded = undefined;
      throw e;
    });
    return s.loaded;
  }

  private async loadBucket(st: BucketState): Promise<Loaded> {
    const { names: objectFiles } = await this.listNames(names.objects(st.id));
    const metas = await mapLimit(objectFiles, LOAD_CONCURRENCY, (n) => this.getRecord<MetaFile>(n));
    const objects = new BucketIndex();
    objects.load(metas.filter((m): m is MetaFile => !!m).map((m) => [m.key, m.versions]));
    const referenced = new Set<string>();
    for (const v of objects.allVersions()) for (const p of v.parts) referenced.add(p.ref);

    const uploads = new Map<string, UploadState>();
    const byUpload = new Map<string, string[]>();
    for (const n of (await this.listNames(names.uploads(st.id))).names) {
      const id = n.slice(names.uploads(st.id).length).split('/')[0]!;
      byUpload.set(id, [...(byUpload.get(id) ?? []), n]);
    }
    for (const [uploadId, files] of byUpload) {
      const recs = await mapLimit(files, LOAD_CONCURRENCY, async (n) => ({ n, r: await this.getRecord<UploadRecord | PartRecord>(n) }));
      const upload = recs.find((x) => x.n.endsWith('/upload'))?.r as UploadRecord | undefined;
      const parts = recs.filter((x) => !x.n.endsWith('/upload') && x.r).map((x) => x.r as PartRecord);
      // An upload whose parts are already an object's segments was completed just before a crash.
      if (!upload || !UPLOAD_ID.test(uploadId) || parts.some((p) => referenced.has(p.ref))) {
        await this.deleteNames(files);
        continue;
      }
      uploads.set(uploadId, { record: upload, parts: new Map(parts.map((p) => [p.partNumber, p])) });
      for (const p of parts) referenced.add(p.ref);
    }

    // Only the first load in this process removes unreferenced blobs: no write to the bucket can be in flight
    // then. A reload (after a failed record write) may run beside writes that commit between its listing of
    // records and its listing of blobs, so it leaves blobs alone.
    if (!st.cleaned) {
      const orphans = (await this.listNames(names.blobs(st.id))).names.filter((n) => {
        const ref = n.slice(names.blobs(st.id).length);
        return !referenced.has(ref) && !this.staged.has(ref);
      });
      await this.deleteNames(orphans);
      await this.abortStaleStaging(st);
      st.cleaned = true;
    }
    return { objects, uploads };
  }

  /** Upstream multipart uploads of blobs whose staging was cut by a crash (none are in flight before the bucket is loaded). */
  private async abortStaleStaging(st: BucketState): Promise<void> {
    const prefix = this.prefix + names.blobs(st.id);
    try {
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.upstreamBucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
        for (const u of r.Uploads ?? []) {
          if (u.Key && u.UploadId && !this.staged.has(u.Key.slice(prefix.length))) {
            await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.upstreamBucket, Key: u.Key, UploadId: u.UploadId }));
          }
        }
        if (!r.IsTruncated) break;
        keyMarker = r.NextKeyMarker;
        uploadIdMarker = r.NextUploadIdMarker;
      }
    } catch {
      // Best effort: a store without ListMultipartUploads keeps its incomplete uploads (its own lifecycle rules can expire them).
    }
  }

  async listBuckets(): Promise<BucketInfo[]> {
    return [...this.buckets.values()].map((s) => s.info).sort((a, b) => compareKeys(a.name, b.name));
  }

  async createBucket(name: string, config: BucketConfig): Promise<BucketInfo> {
    return this.locks.run(`bucket\0${name}`, async () => {
      if (this.buckets.has(name)) throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
      const info: BucketInfo = { name, created: new Date().toISOString(), config };
      const id = randomId();
      await this.putRecord(names.bucket(this.sealer, name), { info, id } satisfies BucketFile);
      // A new bucket has no objects: nothing to load.
      this.buckets.set(name, { info, id, cleaned: true, loaded: Promise.resolve({ objects: new BucketIndex(), uploads: new Map() }) });
      return info;
    });
  }

  async getBucket(name: string): Promise<BucketInfo> {
    return this.state(name).info;
  }

  async updateBucketConfig(name: string, update: (config: BucketConfig) => BucketConfig): Promise<BucketInfo> {
    return this.locks.run(`bucket\0${name}`, async () => {
      const s = this.state(name);
      const info: BucketInfo = { ...s.info, config: update(structuredClone(s.info.config)) };
      try {
        await this.putRecord(names.bucket(this.sealer, name), { info, id: s.id } satisfies BucketFile);
      } catch (e) {
        // The write may have landed: take what the store now holds.
        const now = await this.getRecord<BucketFile>(names.bucket(this.sealer, name)).catch(() => undefined);
        if (now) s.info = now.info;
        throw e;
      }
      s.info = info;
      return info;
    });
  }

  async deleteBucket(name: string): Promise<void> {
    await this.locks.run(`bucket\0${name}`, async () => {
      const s = this.state(name);
      const { objects, uploads } = await this.load(name);
      if (objects.size > 0) throw new S3Error('BucketNotEmpty', undefined, { BucketName: name });
      // Deleting the record is the commit; the folder's contents (incomplete uploads, their parts) go after,
      // or at the next start-up when that is cut short.
      await this.deleteNames([names.bucket(this.sealer, name)]);
      this.buckets.delete(name);
      uploads.clear();
      await this.removeTree(names.root(s.id)).catch(() => {});
    });
  }

  // ---- blobs ----

  async stageBlob(bucket: string, data: Readable): Promise<StagedBlob> {
    let st: BucketState;
    try {
      st = this.state(bucket);
      await this.load(bucket);
    } catch (e) {
      data.resume();
      throw e;
    }
    const id = randomId();
    const name = names.blob(st.id, id);
    this.staged.set(id, name);
    let storedSize = 0;
    let sourceError: unknown;
    const counted = pipeline(
      data,
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          storedSize += chunk.length;
          cb(null, chunk);
        },
      }),
      (err) => {
        if (err) sourceError = err;
      },
    );
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.upstreamBucket, Key: this.prefix + name, Body: counted, ContentType: 'application/octet-stream' },
      partSize: STAGE_PART_SIZE,
      queueSize: STAGE_QUEUE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (e) {
      counted.destroy();
      this.staged.delete(id);
      // The client's stream failing (bad digest, short body, …) is the error to report, not the upload's.
      throw sourceError ?? upstreamError(e);
    }
    if (sourceError) {
      await this.discardBlob(bucket, { id, storedSize });
      throw sourceError;
    }
    return { id, storedSize };
  }

  async discardBlob(_bucket: string, blob: StagedBlob): Promise<void> {
    const name = this.staged.get(blob.id);
    if (!name) return;
    this.staged.delete(blob.id);
    // Left behind on failure: unreferenced, so removed at the next load of the bucket.
    await this.deleteNames([name]).catch(() => {});
  }

  private checkStaged(blob: StagedBlob): void {
    if (!this.staged.has(blob.id)) throw new Error('blob is not staged (already committed or discarded)');
  }

  // ---- objects ----

  /**
   * Writes a key's version list (the commit). When the write fails its outcome is unknown (it may
   * have landed): the key's entry is re-read from the store, or the bucket index dropped (reloaded
   * on next use) when that fails too, so memory never disagrees with the store.
   */
  private async writeVersions(bucket: string, st: BucketState, loaded: Loaded, key: string, versions: ObjectRecord[]): Promise<void> {
    const name = names.object(this.sealer, st.id, key);
    try {
      if (versions.length) await this.putRecord(name, { key, versions } satisfies MetaFile);
      else await this.deleteNames([name]);
    } catch (e) {
      try {
        loaded.objects.setVersions(key, (await this.getRecord<MetaFile>(name))?.versions ?? []);
      } catch {
        if (this.buckets.get(bucket) === st) st.loaded = undefined;
      }
      throw e;
    }
    loaded.objects.setVersions(key, versions);
  }

  /** Whether the stored (indexed) versions of key use blob ref; true when unknown (the index was dropped). */
  private async references(bucket: string, key: string, ref: string): Promise<boolean> {
    const st = this.buckets.get(bucket);
    if (!st) return false;
    const loaded = st.loaded && (await st.loaded.catch(() => undefined));
    if (!loaded) return true;
    return (loaded.objects.getVersions(key) ?? []).some((v) => v.parts.some((p) => p.ref === ref));
  }

  private commitRecord(bucket: string, key: string, build: (versionId: string) => ObjectRecord, opts?: WriteOptions, afterCommit?: () => Promise<void>): Promise<ObjectRecord> {
    return this.locks.run(`key\0${bucket}\0${key}`, async () => {
      const loaded = await this.load(bucket);
      const st = this.state(bucket);
      checkPreconditions(loaded.objects.latest(key), opts);
      const rec = build(versionIdFor(st.info));
      const { list, removed } = addVersion(st.info, loaded.objects.getVersions(key) ?? [], rec);
      await this.writeVersions(bucket, st, loaded, key, list);
      if (afterCommit) await afterCommit();
      this.blobs.retire(this.blobNames(st, removed));
      return rec;
    });
  }

  async putObject(bucket: string, key: string, blob: StagedBlob, meta: ObjectMeta, part?: { etag: string; checksum?: string; encryption?: unknown }, opts?: WriteOptions): Promise<ObjectRecord> {
    try {
      this.state(bucket);
      this.checkStaged(blob);
      const rec = await this.commitRecord(bucket, key, (versionId) => singlePartRecord(key, versionId, meta, blob.storedSize, blob.id, part), opts);
      this.staged.delete(blob.id);
      return rec;
    } finally {
      // Not committed: drop the blob, unless a failed commit may have landed after all.
      if (this.staged.has(blob.id)) {
        if (await this.references(bucket, key, blob.id)) this.staged.delete(blob.id);
        else await this.discardBlob(bucket, blob);
      }
    }
  }

  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectRecord> {
    const { objects } = await this.load(bucket);
    return pickVersion(key, objects.getVersions(key), versionId);
  }

  openObject(bucket: string, record: ObjectRecord, range?: { start: number; end: number }): Readable {
    const st = this.buckets.get(bucket);
    if (!st) return new Readable({ read() { this.destroy(new S3Error('NoSuchBucket', undefined, { BucketName: bucket })); } });
    const segments = segmentsOf(record, range).map((s) => {
      if (!BLOB_ID.test(s.ref)) throw new Error('corrupt blob reference');
      return { name: names.blob(st.id, s.ref), start: s.start, end: s.end };
    });
    const pinned = segments.map((s) => s.name);
    this.blobs.pin(pinned);
    const { client, upstreamBucket, prefix } = this;
    async function* read(): AsyncGenerator<Buffer> {
      for (const seg of segments) {
        let body: Readable;
        try {
          const r = await client.send(new GetObjectCommand({ Bucket: upstreamBucket, Key: prefix + seg.name, Range: `bytes=${seg.start}-${seg.end}` }));
          body = r.Body as Readable;
        } catch (e) {
          throw upstreamError(e);
        }
        let got = 0;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          got += chunk.length;
          yield chunk;
        }
        // A store that ignored the Range would hand back the wrong bytes: never pass them on.
        if (got !== seg.end - seg.start + 1) throw new Error(`upstream returned ${got} bytes for a ${seg.end - seg.start + 1}-byte range`);
      }
    }
    const stream = Readable.from(read(), { objectMode: false });
    stream.once('close', () => this.blobs.unpin(pinned));
    return stream;
  }

  async deleteObject(bucket: string, key: string, versionId?: string): Promise<{ versionId?: string; deleteMarker?: boolean }> {
    const loaded = await this.load(bucket);
    return this.locks.run(`key\0${bucket}\0${key}`, async () => {
      const st = this.state(bucket);
      const { list, removed, changed, result } = planDelete(st.info, key, loaded.objects.getVersions(key) ?? [], versionId);
      if (changed) await this.writeVersions(bucket, st, loaded, key, list);
      this.blobs.retire(this.blobNames(st, removed));
      return result;
    });
  }

  async listObjects(bucket: string, opts: ListOptions): Promise<ListResult> {
    return (await this.load(bucket)).objects.list(opts);
  }

  async listObjectVersions(bucket: string, opts: ListVersionsOptions): Promise<ListVersionsResult> {
    return (await this.load(bucket)).objects.listVersions(opts);
  }

  // ---- multipart ----

  private async upload(bucket: string, uploadId: string): Promise<{ st: BucketState; loaded: Loaded; upload: UploadState }> {
    const loaded = await this.load(bucket);
    const upload = UPLOAD_ID.test(uploadId) ? loaded.uploads.get(uploadId) : undefined;
    if (!upload) throw new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
    return { st: this.state(bucket), loaded, upload };
  }

  /** After a failed upload/part record write (outcome unknown): reload the bucket from the store on next use. */
  private dropIndex(bucket: string, st: BucketState): void {
    if (this.buckets.get(bucket) === st) st.loaded = undefined;
  }

  async createUpload(bucket: string, key: string, meta: UploadMeta): Promise<UploadRecord> {
    const loaded = await this.load(bucket);
    const st = this.state(bucket);
    const uploadId = randomId(24);
    const record: UploadRecord = { ...meta, uploadId, key, initiated: new Date().toISOString() };
    await this.putRecord(names.upload(st.id, uploadId), record);
    loaded.uploads.set(uploadId, { record, parts: new Map() });
    return record;
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadRecord> {
    return (await this.upload(bucket, uploadId)).upload.record;
  }

  async listUploads(bucket: string): Promise<UploadRecord[]> {
    const { uploads } = await this.load(bucket);
    return [...uploads.values()]
      .map((u) => u.record)
      .sort(compareUploads);
  }

  async putPart(bucket: string, uploadId: string, partNumber: number, blob: StagedBlob, part: { size: number; etag: string; checksum?: string; encryption?: unknown }): Promise<PartRecord> {
    try {
      this.checkStaged(blob);
      return await this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
        const { st, upload } = await this.upload(bucket, uploadId);
        const old = upload.parts.get(partNumber);
        const rec = partRecord(partNumber, blob.storedSize, blob.id, part);
        try {
          await this.putRecord(names.part(st.id, uploadId, partNumber), rec);
        } catch (e) {
          this.dropIndex(bucket, st);
          this.staged.delete(blob.id); // may be referenced now; the reload removes it if not
          throw e;
        }
        this.staged.delete(blob.id);
        upload.parts.set(partNumber, rec);
        if (old) this.blobs.retire([names.blob(st.id, old.ref)]);
        return rec;
      });
    } finally {
      await this.discardBlob(bucket, blob);
    }
  }

  async listParts(bucket: string, uploadId: string): Promise<PartRecord[]> {
    const { upload } = await this.upload(bucket, uploadId);
    return [...upload.parts.values()].sort((a, b) => a.partNumber - b.partNumber);
  }

  private async removeUpload(bucket: string, st: BucketState, loaded: Loaded, upload: UploadState): Promise<void> {
    const id = upload.record.uploadId;
    const files = [...upload.parts.keys()].map((n) => names.part(st.id, id, n));
    // The upload record first: without it, leftover part records are dropped at the next load.
    try {
      await this.deleteNames([names.upload(st.id, id)]);
    } catch (e) {
      this.dropIndex(bucket, st);
      throw e;
    }
    loaded.uploads.delete(id);
    await this.deleteNames(files).catch(() => {});
  }

  async abortUpload(bucket: string, uploadId: string): Promise<void> {
    await this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
      const { st, loaded, upload } = await this.upload(bucket, uploadId);
      await this.removeUpload(bucket, st, loaded, upload);
      this.blobs.retire(this.blobNames(st, [{ parts: [...upload.parts.values()] }]));
    });
  }

  async completeUpload(bucket: string, uploadId: string, parts: PartRecord[], meta: ObjectMeta, opts?: WriteOptions): Promise<ObjectRecord> {
    return this.locks.run(`upload\0${bucket}\0${uploadId}`, async () => {
      const { st, loaded, upload } = await this.upload(bucket, uploadId);
      for (const p of parts) {
        if (upload.parts.get(p.partNumber)?.ref !== p.ref) throw new S3Error('InvalidPart', undefined, { PartNumber: String(p.partNumber) });
      }
      const used = new Set(parts.map((p) => p.ref));
      const unused = [...upload.parts.values()].filter((p) => !used.has(p.ref));
      const key = upload.record.key;
      const finish = async (): Promise<void> => {
        await this.removeUpload(bucket, st, loaded, upload).catch(() => {});
        this.blobs.retire(this.blobNames(st, [{ parts: unused }]));
      };
      try {
        return await this.commitRecord(bucket, key, (versionId) => multipartRecord(key, versionId, meta, parts), opts, finish);
      } catch (e) {
        // A failed commit that landed after all: the parts now belong to the object, never to a second completion.
        if (parts.length && (await this.references(bucket, key, parts[0]!.ref)) && loaded.uploads.has(uploadId)) await finish();
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    if (this.leaseTimer) {
      clearInterval(this.leaseTimer);
      await this.deleteNames([LEASE]).catch(() => {});
    }
    this.blobs.close();
    // Blobs still pending deletion are unreferenced; the next load of their bucket removes them.
    this.locks.clear();
    this.client.destroy();
  }
}
