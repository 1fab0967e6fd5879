// Every field SSE stores, in one place. Two records:
//  - EncryptionRecord: per object (ObjectMeta.encryption) and per multipart upload (UploadMeta.encryption):
//    the mode and what is needed to obtain the key-encryption key (KEK) of the object.
//  - StreamRecord: per stored stream (PartLayout.encryption / PartRecord.encryption; a single PUT has one):
//    the stream's DEK sealed under the KEK, its nonce and chunk size (docs/FORMAT.md sections 5 and 7).
// Nothing here is secret: no customer key, no key MD5, no DEK in the clear.
import { KEY_SIZE, NONCE_SIZE, SEALED_KEY_OVERHEAD, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE } from '../crypto/index.ts';
import { sseErrors } from './errors.ts';

export const RECORD_VERSION = 1;

/** How a server-managed KEK secret is obtained (SSE-S3). */
export type ServerKeyRef =
  /** Master key derived from the server root key; `id` names that master key (detects a changed root key). */
  | { provider: 'root'; id: string }
  /** A KMS data key: `blob` is its ciphertext (base64), opened with KMS Decrypt under `keyArn`. */
  | { provider: 'kms'; keyArn: string; blob: string };

export type EncryptionRecord =
  | {
      v: 1;
      mode: 'SSE-C';
      /** base64 of the random salt and of keyFingerprint(customerKey, salt): the only trace of the key. */
      salt: string;
      fingerprint: string;
    }
  | { v: 1; mode: 'SSE-S3'; serverKey: ServerKeyRef }
  /** SSE-KMS (sse-kms.ts): blob = KMS data key ciphertext; bucketKey: the data key is the bucket's, under bucketKeyContext(context). */
  | { v: 1; mode: 'SSE-KMS'; keyArn: string; context: Record<string, string>; blob: string; bucketKey?: true };

export type SseMode = EncryptionRecord['mode'];

export interface StreamRecord {
  /** base64 of sealKey(KEK, DEK, "bucket/key"). */
  sealedKey: string;
  /** base64 of the 12-byte stream nonce. */
  nonce: string;
  chunkSize: number;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';

function b64(x: unknown, size?: number): boolean {
  if (!isStr(x)) return false;
  const n = Buffer.from(x, 'base64').length;
  return size === undefined ? n > 0 : n === size;
}

/** Validates a stored object/upload record; undefined stays undefined (objects written before SSE existed). */
export function readEncryptionRecord(raw: unknown): EncryptionRecord | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObj(raw) || raw.v !== RECORD_VERSION) throw sseErrors.integrity();
  switch (raw.mode) {
    case 'SSE-C':
      if (b64(raw.salt) && b64(raw.fingerprint, 32)) return raw as EncryptionRecord;
      break;
    case 'SSE-S3': {
      const k = raw.serverKey;
      if (isObj(k) && ((k.provider === 'root' && isStr(k.id)) || (k.provider === 'kms' && isStr(k.keyArn) && b64(k.blob)))) {
        return raw as EncryptionRecord;
      }
      break;
    }
    case 'SSE-KMS':
      if (
        isStr(raw.keyArn) &&
        isObj(raw.context) &&
        Object.values(raw.context).every(isStr) &&
        b64(raw.blob) &&
        (raw.bucketKey === undefined || raw.bucketKey === true)
      )
        return raw as EncryptionRecord;
      break;
  }
  throw sseErrors.integrity();
}

export interface StreamParamsSealed {
  sealedKey: Buffer;
  nonce: Buffer;
  chunkSize: number;
}

export function readStreamRecord(raw: unknown): StreamParamsSealed {
  if (!isObj(raw) || !isStr(raw.sealedKey) || !isStr(raw.nonce) || typeof raw.chunkSize !== 'number') throw sseErrors.integrity();
  const sealedKey = Buffer.from(raw.sealedKey, 'base64');
  const nonce = Buffer.from(raw.nonce, 'base64');
  const cs = raw.chunkSize;
  if (
    sealedKey.length !== SEALED_KEY_OVERHEAD + KEY_SIZE ||
    nonce.length !== NONCE_SIZE ||
    !Number.isSafeInteger(cs) ||
    cs < MIN_CHUNK_SIZE ||
    cs > MAX_CHUNK_SIZE
  ) {
    throw sseErrors.integrity();
  }
  return { sealedKey, nonce, chunkSize: cs };
}

export function writeStreamRecord(sealedKey: Buffer, nonce: Buffer, chunkSize: number): StreamRecord {
  return { sealedKey: sealedKey.toString('base64'), nonce: nonce.toString('base64'), chunkSize };
}

/** The context every sealed DEK and every derived KEK of an object is bound to (FORMAT.md section 5). */
export function objectContext(bucket: string, key: string): string {
  return `${bucket}/${key}`;
}
