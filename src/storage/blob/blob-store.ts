// Where object bytes live: immutable blobs named by random ids. Blobs hold only what the SSE layer
// wrote (ciphertext when encrypted); names are opaque. Which blobs are live is the metadata store's
// business (core-backend.ts): a blob store only puts, reads and deletes.
import type { Readable } from 'node:stream';

export interface BlobStore {
  /** Where blobs live, for logs. */
  readonly location: string;
  /** Writes the stream as blob `id`, durably (fsynced / acknowledged by the upstream) before it resolves; returns its size. */
  put(id: string, data: Readable): Promise<number>;
  /** The blob's bytes start..end (inclusive). */
  open(id: string, range: { start: number; end: number }): Readable;
  /** Removes blobs (missing ones are fine). */
  delete(ids: string[]): Promise<void>;
  /**
   * Removes blobs whose write may have been cut short by a crash, with whatever a half-done write left
   * behind (an upstream multipart upload holds parts that are not an object yet).
   */
  discardUnfinished(ids: string[]): Promise<void>;
  close(): Promise<void>;
}

export const BLOB_ID = /^[0-9a-f]{32}$/;

export function checkBlobId(id: string): void {
  if (!BLOB_ID.test(id)) throw new Error('corrupt blob reference');
}
