// Property test through the server: random objects (single PUT and multipart, SSE-C and SSE-S3) and
// random ranges, chunk and part boundaries included, read back exactly the plaintext slice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { startKura, collect } from '../helpers/server.ts';
import { newKey, ssecParams } from './helpers.ts';

const CHUNK = 65536;
const MiB = 1024 * 1024;

test('random objects and ranges decrypt to exactly the plaintext slice', async () => {
  const srv = await startKura();
  const s3 = srv.client({ https: true });
  const bucket = 'sse-prop';
  const k = newKey();
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    // Objects: sizes around chunk boundaries, and one 3-part multipart object with an odd last part.
    const objects: Array<{ key: string; data: Buffer; ssec: boolean; boundaries: number[] }> = [];
    for (const [i, size] of [1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17].entries()) {
      const data = randomBytes(size);
      const ssec = i % 2 === 0;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `o${i}`, Body: data, ...(ssec ? ssecParams(k) : {}) }));
      objects.push({ key: `o${i}`, data, ssec, boundaries: [CHUNK, 2 * CHUNK, 3 * CHUNK] });
    }
    const parts = [randomBytes(5 * MiB + 3), randomBytes(5 * MiB - 3 + CHUNK), randomBytes(CHUNK + 5)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp', ...ssecParams(k) }));
    const etags = [];
    for (const [i, p] of parts.entries())
      etags.push(
        (await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mp', UploadId, PartNumber: i + 1, Body: p, ...ssecParams(k) }))).ETag!,
      );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp',
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        ...ssecParams(k),
      }),
    );
    const b1 = parts[0]!.length;
    const b2 = b1 + parts[1]!.length;
    objects.push({ key: 'mp', data: Buffer.concat(parts), ssec: true, boundaries: [CHUNK, b1, b1 + CHUNK, b2, b2 + CHUNK] });

    // Offsets near boundaries are likelier than uniform ones.
    const offset = (o: (typeof objects)[number]) =>
      fc.oneof(
        fc.nat({ max: o.data.length - 1 }),
        fc
          .tuple(fc.constantFrom(0, ...o.boundaries, o.data.length), fc.integer({ min: -2, max: 1 }))
          .map(([b, d]) => Math.min(o.data.length - 1, Math.max(0, b + d))),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: objects.length - 1 }).chain((i) => fc.tuple(fc.constant(i), offset(objects[i]!), offset(objects[i]!))),
        async ([i, a, b]) => {
          const o = objects[i]!;
          const [s, e] = a <= b ? [a, b] : [b, a];
          const r = await s3.send(
            new GetObjectCommand({ Bucket: bucket, Key: o.key, Range: `bytes=${s}-${e}`, ...(o.ssec ? ssecParams(k) : {}) }),
          );
          assert.deepEqual(await collect(r.Body), o.data.subarray(s, e + 1), `${o.key} ${s}-${e}`);
        },
      ),
      { numRuns: 80 },
    );
    for (const o of objects) {
      assert.deepEqual(
        await collect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, ...(o.ssec ? ssecParams(k) : {}) }))).Body),
        o.data,
      );
    }
  } finally {
    s3.destroy();
    await srv.stop();
  }
});
