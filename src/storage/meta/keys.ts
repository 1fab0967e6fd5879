// Row keys of the metadata store: an order-preserving tuple encoding, so that one ordered range scan
// is an S3 listing (S3 sorts keys by their UTF-8 bytes). Layout (docs/FORMAT.md):
//
//   B ‖ s(bucket)                                   bucket record
//   V ‖ s(bucket) ‖ s(key) ‖ order(16)              one row per version or delete marker, newest first
//   L ‖ s(bucket) ‖ s(key)                          latest live version (copy), absent when the latest is a delete marker
//   N ‖ s(bucket) ‖ s(key)                          order of the key's null version (versionId 'null'), when it has one
//   U ‖ s(bucket) ‖ s(key) ‖ s(initiated) ‖ s(id)   multipart upload, ListMultipartUploads order
//   I ‖ s(bucket) ‖ s(uploadId)                     multipart upload by id
//   P ‖ s(bucket) ‖ s(uploadId) ‖ u16(partNumber)   uploaded part
//   G ‖ s(blobId)                                   blob being written (staged, not committed): crash leftovers
//   D ‖ s(blobId)                                   blob no longer referenced, to delete
//   K ‖ 'k' ‖ s(keyId)                              KMS key (state, rotation history, sealed material of every version)
//   K ‖ 'a' ‖ s(aliasName)                          KMS alias → key id
//   K ‖ 'x' ‖ s(keyId)                              KMS key destroyed (tombstone: a re-run import never revives it)
//   C ‖ s(name)                                     store-wide rows: the root-key check value
//
// s(x) = UTF-8 bytes of x with 0x00 escaped as 0x00 0xFF, then the terminator 0x00 0x01: a component
// that is a prefix of another sorts first, and 0x00 inside a component sorts after the end of a shorter one,
// so tuples compare component by component as byte strings (= S3 order for keys).
// order(16) = 8 bytes of (2^64 − 1 − microseconds) ‖ 8 random bytes: ascending = newest first. A non-null
// version's order is its version id (32 hex = these 16 bytes); the null version gets a fresh one each write.
import { NULL_VERSION } from '../version-id.ts';

export const TABLE = {
  bucket: 0x42,
  version: 0x56,
  latest: 0x4c,
  nullVersion: 0x4e,
  upload: 0x55,
  uploadById: 0x49,
  part: 0x50,
  pendingBlob: 0x47,
  deadBlob: 0x44,
  kms: 0x4b,
  control: 0x43,
} as const;

const TERMINATOR = Buffer.from([0x00, 0x01]);

/** The smallest byte string greater than every string that begins with prefix (trailing 0xFF dropped, last byte + 1). */
function successor(prefix: Buffer): Buffer {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) throw new Error('no successor of an all-0xFF prefix');
  const out = Buffer.from(prefix.subarray(0, n));
  out[n - 1]!++;
  return out;
}

/** The escaped bytes of a string, without terminator (a prefix of every longer string's encoding). */
export function escaped(s: string): Buffer {
  const raw = Buffer.from(s, 'utf8');
  if (!raw.includes(0)) return raw;
  const out: number[] = [];
  for (const b of raw) {
    out.push(b);
    if (b === 0) out.push(0xff);
  }
  return Buffer.from(out);
}

export function component(s: string): Buffer {
  return Buffer.concat([escaped(s), TERMINATOR]);
}

/** Decodes one component at offset; returns the string and the offset after its terminator. */
export function readComponent(buf: Buffer, offset: number): { value: string; next: number } {
  const out: number[] = [];
  let i = offset;
  for (;;) {
    if (i >= buf.length) throw new Error('malformed metadata key');
    const b = buf[i]!;
    if (b === 0) {
      const n = buf[i + 1];
      if (n === 0x01) return { value: Buffer.from(out).toString('utf8'), next: i + 2 };
      if (n === 0xff) {
        out.push(0);
        i += 2;
        continue;
      }
      throw new Error('malformed metadata key');
    }
    out.push(b);
    i++;
  }
}

function row(table: number, ...parts: Buffer[]): Buffer {
  return Buffer.concat([Buffer.of(table), ...parts]);
}

/** [start, end) of every row whose key begins with these bytes. */
export function prefixRange(prefix: Buffer): { start: Buffer; end: Buffer } {
  return { start: prefix, end: successor(prefix) };
}

/** The smallest key after every key that begins with prefix (seek past a common prefix). */
export function after(prefix: Buffer): Buffer {
  return successor(prefix);
}

/** The smallest key greater than k itself (exclusive start). */
export function justAfter(k: Buffer): Buffer {
  return Buffer.concat([k, Buffer.of(0)]);
}

export function versionOrderOf(versionId: string): Buffer | undefined {
  return versionId === NULL_VERSION || !/^[0-9a-f]{32}$/.test(versionId) ? undefined : Buffer.from(versionId, 'hex');
}

export const keys = {
  bucket: (bucket: string) => row(TABLE.bucket, component(bucket)),
  buckets: () => prefixRange(Buffer.of(TABLE.bucket)),
  /** Prefix of a key's version rows. */
  versionsOf: (bucket: string, key: string) => row(TABLE.version, component(bucket), component(key)),
  version: (bucket: string, key: string, order: Buffer) => row(TABLE.version, component(bucket), component(key), order),
  /** Prefix of a bucket's version rows whose key starts with keyPrefix (no terminator). */
  versionsUnder: (bucket: string, keyPrefix: string) => row(TABLE.version, component(bucket), escaped(keyPrefix)),
  latest: (bucket: string, key: string) => row(TABLE.latest, component(bucket), component(key)),
  latestUnder: (bucket: string, keyPrefix: string) => row(TABLE.latest, component(bucket), escaped(keyPrefix)),
  nullVersion: (bucket: string, key: string) => row(TABLE.nullVersion, component(bucket), component(key)),
  upload: (bucket: string, key: string, initiated: string, uploadId: string) =>
    row(TABLE.upload, component(bucket), component(key), component(initiated), component(uploadId)),
  uploadsOf: (bucket: string) => row(TABLE.upload, component(bucket)),
  uploadById: (bucket: string, uploadId: string) => row(TABLE.uploadById, component(bucket), component(uploadId)),
  part: (bucket: string, uploadId: string, partNumber: number) => {
    const n = Buffer.alloc(2);
    n.writeUInt16BE(partNumber);
    return row(TABLE.part, component(bucket), component(uploadId), n);
  },
  partsOf: (bucket: string, uploadId: string) => row(TABLE.part, component(bucket), component(uploadId)),
  /** Every row of a bucket in table t (for deletion of the bucket). */
  bucketRows: (table: number, bucket: string) => row(table, component(bucket)),
  pendingBlob: (id: string) => row(TABLE.pendingBlob, component(id)),
  pendingBlobs: () => prefixRange(Buffer.of(TABLE.pendingBlob)),
  deadBlob: (id: string) => row(TABLE.deadBlob, component(id)),
  deadBlobs: () => prefixRange(Buffer.of(TABLE.deadBlob)),
  kmsKey: (keyId: string) => row(TABLE.kms, Buffer.from('k'), component(keyId)),
  kmsKeys: () => prefixRange(Buffer.from([TABLE.kms, 0x6b])),
  kmsAlias: (name: string) => row(TABLE.kms, Buffer.from('a'), component(name)),
  kmsAliases: () => prefixRange(Buffer.from([TABLE.kms, 0x61])),
  kmsDestroyed: (keyId: string) => row(TABLE.kms, Buffer.from('x'), component(keyId)),
  /** The sealed check value written at initialisation: a node with another root key cannot open it. */
  rootKeyCheck: () => row(TABLE.control, component('root key check')),
};

/** The single component of a K row (key id or alias name). */
export function kmsNameOf(rowKey: Buffer): string {
  return readComponent(rowKey, 2).value;
}

/** The object key of a V/L/N row (after the table byte and bucket component). */
export function objectKeyOf(rowKey: Buffer): string {
  const b = readComponent(rowKey, 1);
  return readComponent(rowKey, b.next).value;
}

/** The 16-byte order of a version row. */
export function versionOrderFromRow(rowKey: Buffer): Buffer {
  return rowKey.subarray(rowKey.length - 16);
}

/** The single component of a G/D row. */
export function blobIdOf(rowKey: Buffer): string {
  return readComponent(rowKey, 1).value;
}
