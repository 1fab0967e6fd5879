// What uploads and downloads share: the settings of a client, server-side encryption request fields,
// progress counting and bounded parallelism.
import { Transform, type Duplex } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { MultiKeyring } from './keyrings/multi.ts';

/** The client's settings, as uploads and downloads read them. */
export interface Transfer {
  readonly s3: S3Client;
  readonly keyring: MultiKeyring;
  readonly partSize: number;
  readonly multipartThreshold: number;
  readonly concurrency: number;
}

/** Server-side encryption passed through to S3 unchanged (it stacks with client-side encryption). */
export interface SseOptions {
  ServerSideEncryption?: 'AES256' | 'aws:kms' | 'aws:kms:dsse';
  SSEKMSKeyId?: string;
  /** SSE-C: the 256-bit customer key (the SDK sends its base64 and MD5). */
  SSECustomerKey?: Buffer;
  /** SSE-C key of the copy source. */
  CopySourceSSECustomerKey?: Buffer;
}

export type Progress = (done: number, total?: number) => void;

export function sseInput(sse: SseOptions | undefined) {
  if (!sse) return {};
  return {
    ServerSideEncryption: sse.ServerSideEncryption,
    SSEKMSKeyId: sse.SSEKMSKeyId,
    ...(sse.SSECustomerKey ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sse.SSECustomerKey as unknown as string } : {}),
  };
}
export function ssecRead(sse: SseOptions | undefined) {
  return sse?.SSECustomerKey ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: sse.SSECustomerKey as unknown as string } : {};
}

/** Counts bytes flowing through for progress reports. */
function counter(onProgress: Progress | undefined, total: number | undefined, start = 0): Transform {
  let n = start;
  return new Transform({
    transform(c: Buffer, _e, cb) {
      n += c.length;
      onProgress?.(n, total);
      cb(null, c);
    },
  });
}

/** `stream`, followed by a byte counter only when someone listens (one stage less per chunk otherwise). */
export function withProgress(stream: Duplex, onProgress: Progress | undefined, total: number | undefined): Duplex[] {
  return onProgress ? [stream, counter(onProgress, total)] : [stream];
}

/** Runs `work(i)` for i in [0, n) with at most `limit` in flight; the first failure stops new work. */
export async function parallel(n: number, limit: number, work: (i: number) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < n) {
      signal?.throwIfAborted();
      const i = next++;
      try {
        await work(i);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, Math.max(n, 1)) }, worker));
  if (failed !== undefined) throw failed;
}
