// The encrypting S3 client (what OSS calls a CryptoBucket and AWS an S3 Encryption Client), on
// @aws-sdk/client-s3, for any S3 endpoint. Envelope encryption: a fresh data key per object (per multipart
// upload), wrapped by the first master key; reading picks the matching key among all of them. The work is in
// upload.ts, download.ts (with ranged-reader.ts) and checkpoint.ts; this class holds the settings.
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  type CompletedPart,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { MasterKey } from './keys.ts';
import type { CseFormat, UserMetadata } from './format.ts';
import { MultiKeyring } from './keyrings/multi.ts';
import { sseInput, type SseOptions } from './transfer.ts';
import * as upload from './upload.ts';
import * as download from './download.ts';
import type { MultipartContext, UploadOptions } from './upload.ts';
import type { DownloadOptions, GetResult, HeadResult } from './download.ts';

export type { SseOptions, Progress } from './transfer.ts';
export type { MultipartContext, UploadOptions } from './upload.ts';
export type { DownloadOptions, GetResult, HeadResult } from './download.ts';

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

export interface CseClientOptions {
  s3: S3Client;
  /** Master keys. The first encrypts new objects; all are candidates for decryption. */
  keys: MasterKey[];
  /** Format of new objects (default 'esdk'). */
  format?: CseFormat;
  partSize?: number;
  /** Objects larger than this go multipart (default 2 × partSize). */
  multipartThreshold?: number;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
}

export class CseClient implements upload.UploadTransfer {
  readonly s3: S3Client;
  format: CseFormat;
  partSize: number;
  multipartThreshold: number;
  concurrency: number;
  keyring: MultiKeyring;

  constructor(o: CseClientOptions) {
    this.s3 = o.s3;
    this.keyring = new MultiKeyring(o.keys);
    this.format = o.format ?? 'esdk';
    this.partSize = o.partSize ?? DEFAULT_PART_SIZE;
    this.multipartThreshold = o.multipartThreshold ?? 2 * this.partSize;
    this.concurrency = o.concurrency ?? 4;
  }

  /** Master keys. The first encrypts new objects; all are candidates for decryption. */
  get keys(): MasterKey[] {
    return [...this.keyring.keys];
  }
  set keys(keys: MasterKey[]) {
    this.keyring = new MultiKeyring(keys);
  }

  /** Encrypts and stores a Buffer or stream (size unknown: multipart past one part). */
  putObject(Bucket: string, Key: string, body: Buffer | Readable, opts: UploadOptions = {}): Promise<{ ETag?: string }> {
    return upload.putObject(this, Bucket, Key, body, opts);
  }

  /** Encrypts and uploads a local file; with `checkpoint`, an interrupted upload resumes where it stopped. */
  uploadFile(path: string, Bucket: string, Key: string, opts: UploadOptions = {}): Promise<{ ETag?: string }> {
    return upload.uploadFile(this, path, Bucket, Key, opts);
  }

  /** Starts a multipart upload with its own crypto context; parts may then be sent in any order, in parallel. */
  createMultipartUpload(
    Bucket: string,
    Key: string,
    o: { dataSize: number; partSize: number; format?: CseFormat; Metadata?: UserMetadata; sse?: SseOptions },
  ): Promise<MultipartContext> {
    return upload.createMultipartUpload(this, Bucket, Key, o);
  }

  uploadPart(ctx: MultipartContext, PartNumber: number, plaintext: Buffer): Promise<CompletedPart> {
    return upload.uploadPart(this, ctx, PartNumber, plaintext);
  }

  completeMultipartUpload(ctx: MultipartContext, parts: CompletedPart[]): Promise<{ ETag?: string }> {
    return upload.completeMultipartUpload(this, ctx, parts);
  }

  abortMultipartUpload(ctx: MultipartContext): Promise<void> {
    return upload.abortMultipartUpload(this, ctx);
  }

  headObject(Bucket: string, Key: string, sse?: SseOptions): Promise<HeadResult> {
    return download.headObject(this, Bucket, Key, sse);
  }

  /** Reads and decrypts an object (or a plaintext range of it). Plaintext objects come back as they are. */
  getObject(
    Bucket: string,
    Key: string,
    opts: { range?: { start: number; end?: number }; sse?: SseOptions; signal?: AbortSignal } = {},
  ): Promise<GetResult> {
    return download.getObject(this, Bucket, Key, opts);
  }

  /**
   * Downloads and decrypts into `path`. The file appears (by rename) only when every check passed: a
   * failure leaves no partial output. With `checkpoint`, an interrupted download resumes.
   */
  downloadFile(Bucket: string, Key: string, path: string, opts: DownloadOptions = {}) {
    return download.downloadFile(this, Bucket, Key, path, opts);
  }

  /** Server-side copy: the encryption metadata travels with the object, so the copy decrypts with the same keys. */
  async copyObject(
    src: { Bucket: string; Key: string },
    dst: { Bucket: string; Key: string },
    sse?: SseOptions,
  ): Promise<{ ETag?: string }> {
    const r = await this.s3.send(
      new CopyObjectCommand({
        Bucket: dst.Bucket,
        Key: dst.Key,
        CopySource: `${src.Bucket}/${src.Key.split('/').map(encodeURIComponent).join('/')}`,
        MetadataDirective: 'COPY',
        ...sseInput(sse),
        ...(sse?.CopySourceSSECustomerKey
          ? { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: sse.CopySourceSSECustomerKey as unknown as string }
          : {}),
      }),
    );
    return { ETag: r.CopyObjectResult?.ETag };
  }

  async *listObjects(Bucket: string, Prefix?: string, Delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket, Prefix, Delimiter, ContinuationToken }));
      yield page;
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async deleteObject(Bucket: string, Key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket, Key }));
  }
}
