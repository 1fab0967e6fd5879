// Blobs in an S3-compatible store (AWS S3, MinIO, Ceph RGW, another Kura): one upstream object per
// blob, named <prefix>blobs/<random id>. Only what the SSE layer wrote (ciphertext) goes upstream;
// names are random, so the upstream sees neither bucket names, object keys nor metadata (those live in
// the metadata store). Several Kura processes may share one upstream prefix: blobs are immutable and
// only the metadata store decides which are live.
import { Readable, Transform, pipeline } from 'node:stream';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  S3Client,
  AbortMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { S3Error } from '../../protocol/s3-errors.ts';
import { checkBlobId, type BlobStore } from './blob-store.ts';

export interface S3BlobStoreOptions {
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
}

/** lib-storage part size for a blob: memory per in-flight write is about (queue + 1) × this. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE = 2;

/** Upstream throttling or unavailability → 503 to the client (it retries); other failures stay internal errors. */
function upstreamError(e: unknown): unknown {
  if (e instanceof S3ServiceException && (e.$metadata.httpStatusCode === 503 || e.name === 'SlowDown'))
    return new S3Error('ServiceUnavailable');
  return e;
}

const MARKER = 'kura-store';

function normalizePrefix(p: string | undefined): string {
  const s = (p ?? '').replace(/^\/+/, '');
  return s && !s.endsWith('/') ? `${s}/` : s;
}

export class S3BlobStore implements BlobStore {
  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  static async open(opts: S3BlobStoreOptions): Promise<S3BlobStore> {
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
    const s = new S3BlobStore(new S3Client(config), opts.bucket, normalizePrefix(opts.prefix));
    try {
      await s.client.send(new HeadBucketCommand({ Bucket: opts.bucket }));
    } catch (e) {
      s.client.destroy();
      const why =
        e instanceof S3ServiceException
          ? `${e.$metadata.httpStatusCode ?? ''} ${e.name}`.trim()
          : e instanceof Error
            ? e.message
            : String(e);
      throw new Error(`upstream bucket ${opts.bucket} at ${opts.endpoint ?? 'AWS S3'} is not usable: ${why}`, { cause: e });
    }
    return s;
  }

  private name(id: string): string {
    checkBlobId(id);
    return `${this.prefix}blobs/${id}`;
  }

  async put(id: string, data: Readable): Promise<number> {
    let size = 0;
    let sourceError: unknown;
    const counted = pipeline(
      data,
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          cb(null, chunk);
        },
      }),
      (err) => {
        if (err) sourceError = err;
      },
    );
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.name(id), Body: counted, ContentType: 'application/octet-stream' },
      partSize: PART_SIZE,
      queueSize: QUEUE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (e) {
      counted.destroy();
      // The client's stream failing (bad digest, short body, …) is the error to report, not the upload's.
      throw sourceError ?? upstreamError(e);
    }
    if (sourceError) throw sourceError;
    return size;
  }

  open(id: string, range: { start: number; end: number }): Readable {
    const { client, bucket } = this;
    const key = this.name(id);
    async function* read(): AsyncGenerator<Buffer> {
      let body: Readable;
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${range.start}-${range.end}` }));
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
      if (got !== range.end - range.start + 1)
        throw new Error(`upstream returned ${got} bytes for a ${range.end - range.start + 1}-byte range`);
    }
    return Readable.from(read(), { objectMode: false });
  }

  async delete(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      const batch = ids.slice(i, i + 1000);
      let r;
      try {
        r = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Quiet: true, Objects: batch.map((id) => ({ Key: this.name(id) })) } }),
        );
      } catch (e) {
        throw upstreamError(e);
      }
      const failed = (r.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`upstream delete failed for ${failed.length} blob(s): ${failed[0]!.Code ?? ''}`);
    }
  }

  /** The store's marker object (`<prefix>kura-store`): who owns this prefix. undefined = none yet. */
  async readMarker(): Promise<Buffer | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${MARKER}` }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (e instanceof S3ServiceException && (e.name === 'NoSuchKey' || e.$metadata.httpStatusCode === 404)) return undefined;
      throw upstreamError(e);
    }
  }

  /** Writes the marker only where there is none (If-None-Match: a racing node's marker wins; re-read it). */
  async writeMarker(data: Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${MARKER}`, Body: data, IfNoneMatch: '*' }));
    } catch (e) {
      if (e instanceof S3ServiceException && e.$metadata.httpStatusCode === 412) return;
      throw upstreamError(e);
    }
  }

  async discardUnfinished(ids: string[]): Promise<void> {
    // A large blob goes up as a multipart upload: a crash mid-way leaves the upload and its parts.
    for (const id of ids) {
      const key = this.name(id);
      try {
        const r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: key }));
        for (const u of r.Uploads ?? []) {
          if (u.Key === key && u.UploadId)
            await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: u.UploadId }));
        }
      } catch (e) {
        throw upstreamError(e);
      }
    }
    await this.delete(ids);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
