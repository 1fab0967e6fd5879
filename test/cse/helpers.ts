// Test helpers for the CSE suites: fresh keys and stream plumbing.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Readable, type Duplex, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export function rsaPem(bits = 2048): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicPem: publicKey, privatePem: privateKey };
}

export const aesBytes = () => randomBytes(32);

/** Pushes `input` through `t` in uneven slices and collects the output. */
export async function through(t: Duplex | Transform, input: Buffer, slice = 7777): Promise<Buffer> {
  const out: Buffer[] = [];
  async function* src() {
    for (let i = 0; i < input.length; i += slice) yield input.subarray(i, i + slice);
  }
  await pipeline(Readable.from(src()), t, async (s: AsyncIterable<Buffer>) => {
    for await (const c of s) out.push(c);
  });
  return Buffer.concat(out);
}

export function flipBit(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return c;
}
