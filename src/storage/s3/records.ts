// What the gateway keeps in the upstream store besides data blobs: its metadata records (bucket
// info, each key's version list, multipart uploads and parts), sealed with AES-256-GCM under a key
// derived from the root key, and named by HMACs, so the upstream operator sees neither bucket
// names, object keys, user metadata nor content types: only opaque names and ciphertext.
//
// Upstream layout, under the configured prefix P:
//   P kura-gateway.json             marker: format version + a sealed check value (wrong root key → refuse to start)
//   P buckets/<h(name)>             sealed { info: BucketInfo, id }     (id: random, names the bucket's folder)
//   P b/<id>/o/<h(id, key)>         sealed { key, versions: ObjectRecord[] } (newest first)
//   P b/<id>/d/<blob id>            data blob (the SSE layer's ciphertext), immutable, random name
//   P b/<id>/u/<uploadId>/upload    sealed UploadRecord
//   P b/<id>/u/<uploadId>/p<nnnnn>  sealed PartRecord
import { createHmac } from 'node:crypto';
import { deriveKey, sealKey, unsealKey } from '../../crypto/index.ts';

export const MARKER = 'kura-gateway.json';
export const FORMAT = 1;

export class RecordSealer {
  private readonly recordKey: Buffer;
  private readonly nameKey: Buffer;

  constructor(rootKey: Buffer) {
    this.recordKey = deriveKey(rootKey, 'gateway record', '');
    this.nameKey = deriveKey(rootKey, 'gateway name', '');
  }

  /** A record as stored: AES-256-GCM of its JSON, bound (AAD) to its upstream name, so records cannot be swapped. */
  seal(name: string, value: unknown): Buffer {
    return sealKey(this.recordKey, Buffer.from(JSON.stringify(value), 'utf8'), Buffer.from(name, 'utf8'));
  }

  /** Throws CryptoError when the record was altered, moved, or sealed under another root key. */
  open<T>(name: string, data: Buffer): T {
    const json = unsealKey(this.recordKey, data, Buffer.from(name, 'utf8'));
    return JSON.parse(json.toString('utf8')) as T;
  }

  /** An opaque upstream name component for a secret-ish name (bucket name, object key): 32 hex chars of an HMAC. */
  hash(kind: string, ...parts: string[]): string {
    const h = createHmac('sha256', this.nameKey).update(kind);
    for (const p of parts) h.update('\0').update(p, 'utf8');
    return h.digest('hex').slice(0, 32);
  }
}

export const names = {
  bucket: (s: RecordSealer, name: string) => `buckets/${s.hash('bucket', name)}`,
  root: (id: string) => `b/${id}/`,
  object: (s: RecordSealer, id: string, key: string) => `b/${id}/o/${s.hash('key', id, key)}`,
  objects: (id: string) => `b/${id}/o/`,
  blob: (id: string, ref: string) => `b/${id}/d/${ref}`,
  blobs: (id: string) => `b/${id}/d/`,
  uploads: (id: string) => `b/${id}/u/`,
  upload: (id: string, uploadId: string) => `b/${id}/u/${uploadId}/upload`,
  part: (id: string, uploadId: string, n: number) => `b/${id}/u/${uploadId}/p${String(n).padStart(5, '0')}`,
};
