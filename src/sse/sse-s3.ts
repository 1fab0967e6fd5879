// SSE-S3: server-managed keys. The object's KEK = deriveKey(secret, 'SSE-S3', "bucket/key"), where the
// secret comes from a ServerKeyProvider: today a master key derived from the server root key
// (KURA_ROOT_KEY or <data>/.kura/root.key); with a KMS, a per-object KMS data key (ServerKeyRef 'kms').
import { deriveKey } from '../crypto/index.ts';
import { RECORD_VERSION, objectContext, type EncryptionRecord, type ServerKeyRef } from './metadata.ts';
import { sseErrors } from './errors.ts';
import { S3Error, isS3Error } from '../protocol/s3-errors.ts';

export const SSE_S3_LABEL = 'SSE-S3';

/** Where SSE-S3 secrets come from. `context` is "bucket/key" (a KMS binds its data key to it). */
export interface ServerKeyProvider {
  /** A secret for a new object (or upload) and the reference to store to obtain it again. */
  newSecret(context: string): Promise<{ secret: Buffer; ref: ServerKeyRef }>;
  /** The secret a stored reference names. Throws (InternalError) when it is not available. */
  openSecret(ref: ServerKeyRef, context: string): Promise<Buffer>;
}

/** One master key for all objects, derived from the root key; the per-object KEK binds it to bucket/key. */
export class RootKeyProvider implements ServerKeyProvider {
  private readonly master: Buffer;
  private readonly id: string;

  constructor(rootKey: Buffer) {
    if (rootKey.length !== 32) throw new Error('root key must be 32 bytes');
    this.master = deriveKey(rootKey, 'SSE-S3 master key', 'kura');
    // Names the master key without revealing it, so a changed root key is reported as such.
    this.id = deriveKey(this.master, 'key id', '').subarray(0, 8).toString('hex');
  }

  async newSecret(): Promise<{ secret: Buffer; ref: ServerKeyRef }> {
    return { secret: this.master, ref: { provider: 'root', id: this.id } };
  }

  async openSecret(ref: ServerKeyRef): Promise<Buffer> {
    if (ref.provider !== 'root' || ref.id !== this.id) {
      throw new S3Error('InternalError', 'The server key this object was encrypted under is not available.');
    }
    return this.master;
  }
}

type SseS3Record = Extract<EncryptionRecord, { mode: 'SSE-S3' }>;

export async function newSseS3(provider: ServerKeyProvider, bucket: string, key: string): Promise<{ record: SseS3Record; kek: Buffer }> {
  const { secret, ref } = await provider.newSecret(objectContext(bucket, key));
  return {
    record: { v: RECORD_VERSION, mode: 'SSE-S3', serverKey: ref },
    kek: deriveKey(secret, SSE_S3_LABEL, objectContext(bucket, key)),
  };
}

export async function openSseS3(provider: ServerKeyProvider, record: SseS3Record, bucket: string, key: string): Promise<Buffer> {
  let secret: Buffer;
  try {
    secret = await provider.openSecret(record.serverKey, objectContext(bucket, key));
  } catch (e) {
    if (isS3Error(e)) throw e;
    throw sseErrors.integrity();
  }
  return deriveKey(secret, SSE_S3_LABEL, objectContext(bucket, key));
}
