// The StorageBackend interface: everything the S3 handlers need from a store, and nothing about
// where bytes live. Its one implementation, CoreBackend (core-backend.ts), joins a metadata store
// (LMDB or PostgreSQL) and a blob store (files in the data dir, or objects in an upstream S3 bucket).
//
// Data flow of a write: the handler pipes (decoded body → hashing → optional encryption) into
// stageBlob(), checks digests, then commits the staged blob with putObject()/putPart(), or drops it
// with discardBlob(). Nothing is visible before the commit; a commit is atomic.
// Reads: headObject() gives the record, openObject() streams stored bytes (ciphertext when the
// object is encrypted), optionally a stored-byte range.
import type { Readable } from 'node:stream';
import type { ChecksumAlgorithm } from '../hashing/checksums.ts';

export type VersioningStatus = 'Enabled' | 'Suspended';

/** Per-bucket configuration, stored with the bucket. Other parts add their fields (e.g. encryption). */
export interface BucketConfig {
  /** LocationConstraint given at creation ('' = us-east-1). */
  location: string;
  /** Unset = never versioned; once set, only Enabled <-> Suspended. */
  versioning?: VersioningStatus;
  /** MfaDelete as last set by PutBucketVersioning (only 'Disabled' is accepted); unset = never configured. */
  mfaDelete?: 'Enabled' | 'Disabled';
  /** Bucket default encryption (owned by the SSE part; opaque here). */
  encryption?: unknown;
  [extra: string]: unknown;
}

export interface BucketInfo {
  name: string;
  /** ISO-8601 creation time. */
  created: string;
  config: BucketConfig;
}

export type { ChecksumAlgorithm };

export interface ChecksumValue {
  algorithm: ChecksumAlgorithm;
  /** base64 of the checksum; composite multipart checksums end in '-<parts>'. */
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

/**
 * One stored segment of an object (a single PUT has one; a multipart object one per part).
 * size is the plaintext size, storedSize the bytes the backend holds (differs when encrypted), so a
 * plaintext range maps to stored offsets: segment i starts at the sum of the previous storedSize.
 */
export interface PartLayout {
  partNumber: number;
  size: number;
  storedSize: number;
  /** MD5 hex of the part's plaintext (quoted/unquoted: never quoted here). */
  etag: string;
  /** base64 checksum of this part, in the object's checksum algorithm, if any. */
  checksum?: string;
  /** Per-part encryption parameters (opaque; owned by the SSE part). */
  encryption?: unknown;
  /** Backend-private reference to the stored bytes. Handlers never interpret it. */
  ref: string;
}

/** What a handler supplies when it writes an object. */
export interface ObjectMeta {
  /** Plaintext size in bytes. */
  size: number;
  /** ETag without quotes: MD5 hex, or '<md5 of part md5s>-N' for multipart. */
  etag: string;
  contentType: string;
  /** x-amz-meta-* without the prefix, lower-case names. */
  userMetadata: Record<string, string>;
  /** Stored system headers, lower-case: cache-control, content-disposition, content-encoding, content-language, expires. */
  headers: Record<string, string>;
  checksum?: ChecksumValue;
  /** Object-level encryption metadata (opaque; owned by the SSE part, e.g. sealed key, mode, key id). */
  encryption?: unknown;
  storageClass?: string;
}

export interface ObjectRecord extends ObjectMeta {
  key: string;
  /** 'null' for objects written while the bucket was unversioned (or suspended). */
  versionId: string;
  /** ISO-8601. */
  lastModified: string;
  /** Total stored bytes (sum of parts' storedSize). */
  storedSize: number;
  parts: PartLayout[];
  /** Set on delete markers (versioned buckets; then size is 0 and parts empty). */
  deleteMarker?: boolean;
}

/** A blob written to durable temporary storage, not yet visible. */
export interface StagedBlob {
  readonly id: string;
  readonly storedSize: number;
}

export interface WriteOptions {
  /** Conditional write: the current object's ETag (unquoted) must equal this, else PreconditionFailed. */
  ifMatch?: string;
  /** Conditional write: '*' = only if the key does not exist, else PreconditionFailed. */
  ifNoneMatch?: string;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  /** Exclusive: entries (keys or common prefixes) must sort after this. */
  startAfter?: string;
  maxKeys: number;
}

/** One key of a listing: all that ListObjects/ListObjectsV2 show of it (the content of its `L` row). */
export type ListedObject = Pick<ObjectRecord, 'key' | 'lastModified' | 'etag' | 'size' | 'storageClass' | 'checksum'>;

export interface ListResult {
  objects: ListedObject[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last entry returned (key or common prefix), for markers/continuation tokens. */
  lastEntry?: string;
}

export interface ListVersionsOptions {
  prefix?: string;
  delimiter?: string;
  keyMarker?: string;
  versionIdMarker?: string;
  maxKeys: number;
}

export interface ListVersionsResult {
  /** Versions and delete markers, by key, newest first within a key; isLatest marks each key's current one. */
  versions: (ObjectRecord & { isLatest: boolean })[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/** Settings of a multipart upload, fixed at CreateMultipartUpload. */
export interface UploadMeta {
  contentType: string;
  userMetadata: Record<string, string>;
  headers: Record<string, string>;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
  encryption?: unknown;
  storageClass?: string;
}

export interface UploadRecord extends UploadMeta {
  uploadId: string;
  key: string;
  /** ISO-8601. */
  initiated: string;
}

export interface PartRecord {
  partNumber: number;
  size: number;
  storedSize: number;
  etag: string;
  checksum?: string;
  encryption?: unknown;
  lastModified: string;
  ref: string;
}

export interface StorageBackend {
  listBuckets(): Promise<BucketInfo[]>;
  /** Throws BucketAlreadyOwnedByYou. */
  createBucket(name: string, config: BucketConfig): Promise<BucketInfo>;
  /** Throws NoSuchBucket. */
  getBucket(name: string): Promise<BucketInfo>;
  /** Read-modify-write of the bucket config, atomic. */
  updateBucketConfig(name: string, update: (config: BucketConfig) => BucketConfig): Promise<BucketInfo>;
  /** Throws NoSuchBucket, BucketNotEmpty. Removes incomplete multipart uploads. */
  deleteBucket(name: string): Promise<void>;

  /** Writes a stream to durable temporary storage (fsynced). Throws if the stream errors. */
  stageBlob(bucket: string, data: Readable): Promise<StagedBlob>;
  discardBlob(bucket: string, blob: StagedBlob): Promise<void>;

  /** Makes a staged blob the object's data, atomically (last commit wins). meta.size etc. are the plaintext facts. */
  putObject(
    bucket: string,
    key: string,
    blob: StagedBlob,
    meta: ObjectMeta,
    part?: { etag: string; checksum?: string; encryption?: unknown },
    opts?: WriteOptions,
  ): Promise<ObjectRecord>;
  /** Latest version (or the given one). Throws NoSuchBucket, NoSuchKey (NoSuchVersion with versionId). A latest delete marker → NoSuchKey. */
  headObject(bucket: string, key: string, versionId?: string): Promise<ObjectRecord>;
  /** Stored bytes of a record from headObject(); range = stored offsets, inclusive. */
  openObject(bucket: string, record: ObjectRecord, range?: { start: number; end: number }): Readable;
  /** Unversioned: removes the object (no error if missing). Returns what S3 reports. */
  deleteObject(bucket: string, key: string, versionId?: string): Promise<{ versionId?: string; deleteMarker?: boolean }>;
  listObjects(bucket: string, opts: ListOptions): Promise<ListResult>;
  listObjectVersions(bucket: string, opts: ListVersionsOptions): Promise<ListVersionsResult>;

  createUpload(bucket: string, key: string, meta: UploadMeta): Promise<UploadRecord>;
  /** Throws NoSuchUpload. */
  getUpload(bucket: string, uploadId: string): Promise<UploadRecord>;
  /** All uploads of the bucket, sorted by key then initiation time. */
  listUploads(bucket: string): Promise<UploadRecord[]>;
  /** Commits a staged blob as a part (replacing an earlier part with that number). */
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: number,
    blob: StagedBlob,
    part: { size: number; etag: string; checksum?: string; encryption?: unknown },
  ): Promise<PartRecord>;
  /** Sorted by part number. Throws NoSuchUpload. */
  listParts(bucket: string, uploadId: string): Promise<PartRecord[]>;
  /** Throws NoSuchUpload. */
  abortUpload(bucket: string, uploadId: string): Promise<void>;
  /**
   * Makes the given parts (as returned by listParts, in order) the object's segments, atomically,
   * and removes the upload. Throws NoSuchUpload, InvalidPart if a part changed meanwhile.
   */
  completeUpload(bucket: string, uploadId: string, parts: PartRecord[], meta: ObjectMeta, opts?: WriteOptions): Promise<ObjectRecord>;

  close(): Promise<void>;
}
