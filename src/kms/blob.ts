// Kura KMS ciphertext blob (what Encrypt/GenerateDataKey return as CiphertextBlob):
//
//   magic 'KK' (2) | format version 0x01 (1) | key id (16, the UUID's bytes) | key version (uint32 BE)
//   | sealKey(key version material, plaintext, AAD) (crypto core: AES-256-GCM, random 12-byte IV)
//
// The header names the key and the key version, so Decrypt needs no KeyId and old blobs still decrypt
// after rotation. AAD = header ‖ canonical encryption context, so a blob only opens with the exact
// context it was made with (and the header cannot be edited to point at another key version).
import { sealKey, unsealKey, SEALED_KEY_OVERHEAD } from '../crypto/index.ts';

const MAGIC = Buffer.from('KK', 'latin1');
export const BLOB_VERSION = 1;
const HEADER_LEN = 2 + 1 + 16 + 4;
export const BLOB_OVERHEAD = HEADER_LEN + SEALED_KEY_OVERHEAD;

export interface BlobHeader {
  keyId: string;
  keyVersion: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uuidToBytes(id: string): Buffer {
  if (!UUID_RE.test(id)) throw new Error('key id is not a lower-case UUID');
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Canonical serialization of an encryption context: pairs sorted by key (UTF-8 byte order),
 * each string length-prefixed, so no two different contexts serialize alike.
 */
export function canonicalContext(context: Record<string, string>): Buffer {
  const entries = Object.entries(context).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [u32(entries.length)];
  for (const [k, v] of entries) parts.push(u32(k.length), k, u32(v.length), v);
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function header(h: BlobHeader): Buffer {
  const b = Buffer.alloc(HEADER_LEN);
  MAGIC.copy(b, 0);
  b[2] = BLOB_VERSION;
  uuidToBytes(h.keyId).copy(b, 3);
  b.writeUInt32BE(h.keyVersion, 19);
  return b;
}

/** Reads the header of a blob; undefined when it is not a Kura KMS blob. */
export function parseBlobHeader(blob: Buffer): BlobHeader | undefined {
  if (blob.length < BLOB_OVERHEAD) return undefined;
  if (!blob.subarray(0, 2).equals(MAGIC) || blob[2] !== BLOB_VERSION) return undefined;
  return { keyId: bytesToUuid(blob.subarray(3, 19)), keyVersion: blob.readUInt32BE(19) };
}

export function sealBlob(material: Buffer, h: BlobHeader, context: Record<string, string>, plaintext: Buffer): Buffer {
  const head = header(h);
  return Buffer.concat([head, sealKey(material, plaintext, Buffer.concat([head, canonicalContext(context)]))]);
}

/** Throws when the blob does not authenticate (wrong context, tampering, wrong key). */
export function openBlob(material: Buffer, blob: Buffer, context: Record<string, string>): Buffer {
  const head = blob.subarray(0, HEADER_LEN);
  return unsealKey(material, blob.subarray(HEADER_LEN), Buffer.concat([head, canonicalContext(context)]));
}
