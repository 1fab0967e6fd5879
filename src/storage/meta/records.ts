// Sealed metadata values: every value in the metadata store is AES-256-GCM (src/crypto sealKey) of its
// JSON under a key derived from the root key, with the row's key bytes as associated data. The row key
// holds the bucket, the object key and the version order (= the version id), so a value edited, or moved
// to another row (another key, version, bucket), fails authentication and is refused: the read throws
// RecordIntegrityError, which the server answers as 500 InternalError (logged), never serving the record.
//
// What this does not detect (docs/FORMAT.md): the replay of an older value of a row whose value changes in
// place (a bucket's configuration, a key's `L` latest copy used by listings, a re-uploaded part number), and
// a rollback of the whole store. Object versions are immutable rows: a version's row is never rewritten, and
// HEAD/GET read the version rows, so an older version cannot be replayed as the latest one.
import { deriveKey, sealKey, unsealKey } from '../../crypto/index.ts';

export class RecordIntegrityError extends Error {
  constructor(what: string) {
    super(`metadata record (${what}) failed authentication: edited, moved to another row, or sealed under another root key; refused`);
    this.name = 'RecordIntegrityError';
  }
}

export class RecordSealer {
  private readonly key: Buffer;

  constructor(rootKey: Buffer) {
    this.key = deriveKey(rootKey, 'metadata record', '');
  }

  seal(rowKey: Buffer, value: unknown): Buffer {
    return sealKey(this.key, Buffer.from(JSON.stringify(value), 'utf8'), rowKey);
  }

  /** what: a description for the error (table and bucket; never the object key). */
  open<T>(rowKey: Buffer, data: Buffer, what: string): T {
    let json: Buffer;
    try {
      json = unsealKey(this.key, data, rowKey);
    } catch {
      throw new RecordIntegrityError(what);
    }
    return JSON.parse(json.toString('utf8')) as T;
  }
}
