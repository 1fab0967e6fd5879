// Flexible checksums (x-amz-checksum-*): CRC32, CRC32C, SHA1, SHA256, streaming.
import { crc32 } from 'node:zlib';
import { createHash, type Hash } from 'node:crypto';
import { Crc32c } from '@aws-crypto/crc32c';
import type { ChecksumAlgorithm } from '../storage/backend.ts';
import { S3Error } from './errors.ts';

export const SUPPORTED_CHECKSUMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256'];
const ALL_CHECKSUMS: readonly ChecksumAlgorithm[] = [...SUPPORTED_CHECKSUMS, 'CRC64NVME'];

export interface ChecksumHasher {
  update(data: Buffer): void;
  digest(): Buffer;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function newChecksum(alg: ChecksumAlgorithm): ChecksumHasher {
  switch (alg) {
    case 'CRC32': {
      let v = 0;
      return { update: (d) => void (v = crc32(d, v)), digest: () => u32(v) };
    }
    case 'CRC32C': {
      const c = new Crc32c();
      return { update: (d) => void c.update(d), digest: () => u32(c.digest()) };
    }
    case 'SHA1':
    case 'SHA256': {
      const h: Hash = createHash(alg === 'SHA1' ? 'sha1' : 'sha256');
      return { update: (d) => void h.update(d), digest: () => h.digest() };
    }
    default:
      throw new S3Error('NotImplemented', `Checksum algorithm ${alg} is not implemented`);
  }
}

export function checksumHeader(alg: ChecksumAlgorithm): string {
  return `x-amz-checksum-${alg.toLowerCase()}`;
}

/** XML element name in responses, e.g. ChecksumCRC32. */
export function checksumElement(alg: ChecksumAlgorithm): string {
  return `Checksum${alg}`;
}

export function digestLength(alg: ChecksumAlgorithm): number {
  return alg === 'SHA1' ? 20 : alg === 'SHA256' ? 32 : alg === 'CRC64NVME' ? 8 : 4;
}

/** Parses an algorithm name as sent by clients (any case); throws InvalidRequest for unknown names. */
export function parseChecksumAlgorithm(v: string | undefined): ChecksumAlgorithm | undefined {
  if (v === undefined || v === '') return undefined;
  const up = v.toUpperCase() as ChecksumAlgorithm;
  if (!ALL_CHECKSUMS.includes(up)) throw new S3Error('InvalidRequest', `Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]`);
  if (up === 'CRC64NVME') throw new S3Error('NotImplemented', 'The CRC64NVME checksum algorithm is not implemented');
  return up;
}

/** Which algorithm headers/trailers ask for: x-amz-checksum-<alg> header, x-amz-trailer, or x-amz-sdk-checksum-algorithm. */
export function requestedChecksum(headers: Record<string, string | string[] | undefined>): { algorithm?: ChecksumAlgorithm; value?: string; inTrailer: boolean } {
  const present = ALL_CHECKSUMS.filter((a) => headers[checksumHeader(a)] !== undefined);
  if (present.length > 1) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const trailer = String(headers['x-amz-trailer'] ?? '').trim().toLowerCase();
  if (trailer) {
    const alg = ALL_CHECKSUMS.find((a) => checksumHeader(a) === trailer);
    if (!alg) throw new S3Error('InvalidRequest', `The value specified in the x-amz-trailer header is not supported`);
    if (alg === 'CRC64NVME') throw new S3Error('NotImplemented', 'The CRC64NVME checksum algorithm is not implemented');
    return { algorithm: alg, inTrailer: true };
  }
  if (present.length === 1) {
    const alg = present[0]!;
    if (alg === 'CRC64NVME') throw new S3Error('NotImplemented', 'The CRC64NVME checksum algorithm is not implemented');
    const value = String(headers[checksumHeader(alg)]);
    if (Buffer.from(value, 'base64').length !== digestLength(alg) || !/^[A-Za-z0-9+/]+=*$/.test(value)) {
      throw new S3Error('InvalidRequest', `Value for ${checksumHeader(alg)} header is invalid.`);
    }
    return { algorithm: alg, value, inTrailer: false };
  }
  const sdk = headers['x-amz-sdk-checksum-algorithm'];
  const algorithm = parseChecksumAlgorithm(typeof sdk === 'string' ? sdk : undefined);
  return algorithm ? { algorithm, inTrailer: false } : { inTrailer: false };
}

/** Composite checksum of a multipart object: checksum of the concatenated binary part checksums, '-N'. */
export function compositeChecksum(alg: ChecksumAlgorithm, partChecksums: string[]): string {
  const h = newChecksum(alg);
  for (const c of partChecksums) h.update(Buffer.from(c, 'base64'));
  return `${h.digest().toString('base64')}-${partChecksums.length}`;
}

// CRC combination (as zlib's crc32_combine): the CRC of A‖B from crc(A), crc(B) and len(B), by
// applying len(B) zero bytes to crc(A) with GF(2) matrix squaring. Gives full-object CRC32/CRC32C of
// a multipart object from its part CRCs without reading the data again.
function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n]!);
}

function crcCombine(poly: number, crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = poly;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
  gf2Square(even, odd); // 2 zero bits
  gf2Square(odd, even); // 4 zero bits
  let c = crc1 >>> 0;
  let len = len2;
  do {
    gf2Square(even, odd);
    if (len % 2) c = gf2Times(even, c);
    len = Math.floor(len / 2);
    if (len === 0) break;
    gf2Square(odd, even);
    if (len % 2) c = gf2Times(odd, c);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (c ^ crc2) >>> 0;
}

const POLY: Partial<Record<ChecksumAlgorithm, number>> = { CRC32: 0xedb88320, CRC32C: 0x82f63b78 };

export function supportsFullObject(alg: ChecksumAlgorithm): boolean {
  return POLY[alg] !== undefined;
}

/** Full-object CRC (base64) of concatenated parts, from each part's CRC (base64) and size. */
export function combineCrcs(alg: ChecksumAlgorithm, parts: { checksum: string; size: number }[]): string {
  const poly = POLY[alg];
  if (poly === undefined) throw new S3Error('InvalidRequest', `The FULL_OBJECT checksum type is not supported for ${alg}`);
  let crc = 0;
  for (const p of parts) crc = crcCombine(poly, crc, Buffer.from(p.checksum, 'base64').readUInt32BE(0), p.size);
  return u32(crc).toString('base64');
}
