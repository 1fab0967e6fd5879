// A write workload to kill a server under (kill -9 crash tests of every backend), and the check that
// what a restarted server shows is complete: each listed object one of the bodies written for its key.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  PutObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  HeadObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { collect } from './server.ts';

const MiB = 1024 * 1024;

function md5hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

export interface CrashWorkload {
  /** MD5s of every body written (or attempted) per key. */
  written: Map<string, Set<string>>;
  /** Writes answered with success so far. */
  completed(): number;
  /** Stops the writers and waits for them (after the server was killed, every call fails fast). */
  stop(): Promise<void>;
}

/** `writers` PutObject loops over `keys` keys plus one two-part multipart loop, until stopped or the server dies. */
export function startCrashWorkload(
  s3: S3Client,
  bucket: string,
  opts: { writers: number; keys: number; bodySize: (i: number) => number; written?: Map<string, Set<string>> },
): CrashWorkload {
  const written = opts.written ?? new Map<string, Set<string>>();
  const remember = (key: string, body: Buffer): void => {
    if (!written.has(key)) written.set(key, new Set());
    written.get(key)!.add(md5hex(body));
  };
  let stop = false;
  let completed = 0;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const key = `k${(w + i) % opts.keys}`;
      const body = randomBytes(opts.bodySize(i));
      remember(key, body);
      try {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        completed++;
      } catch {
        return; // the server died
      }
    }
  };
  const multipart = async (): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const key = `mpu${i % 2}`;
      const parts = [randomBytes(5 * MiB), randomBytes(1 + Math.floor(Math.random() * MiB))];
      remember(key, Buffer.concat(parts));
      try {
        const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
        const etags: string[] = [];
        for (const [n, p] of parts.entries())
          etags.push((await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n + 1, Body: p }))).ETag!);
        await s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: etags.map((ETag, n) => ({ ETag, PartNumber: n + 1 })) },
          }),
        );
        completed++;
      } catch {
        return;
      }
    }
  };
  const running = [...Array.from({ length: opts.writers }, (_, w) => writer(w)), multipart()];
  return {
    written,
    completed: () => completed,
    stop: async () => {
      stop = true;
      await Promise.all(running);
    },
  };
}

/**
 * Every listed object must read back whole and be one of the bodies written for its key. Returns how many
 * objects are visible and how many stored blobs they and the open uploads' parts refer to (for orphan checks).
 */
export async function verifyCrashedStore(
  s3: S3Client,
  bucket: string,
  written: Map<string, Set<string>>,
): Promise<{ visible: number; blobs: number }> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  let blobs = 0;
  for (const o of listed.Contents ?? []) {
    const body = await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body);
    assert.equal(body.length, o.Size, `${o.Key}: listed size`);
    assert.ok(written.get(o.Key!)?.has(md5hex(body)), `${o.Key}: content is one of the written versions`);
    blobs += (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: o.Key!, PartNumber: 1 }))).PartsCount ?? 1;
  }
  for (const u of (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []) {
    blobs += (await s3.send(new ListPartsCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }))).Parts?.length ?? 0;
  }
  return { visible: listed.Contents?.length ?? 0, blobs };
}
