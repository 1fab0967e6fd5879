// Flexible checksums (x-amz-checksum-*): CRC32, CRC32C, CRC64NVME, SHA1, SHA256, streaming; and the
// multipart checksums (COMPOSITE: checksum of the part checksums; FULL_OBJECT: CRCs combined).
import { crc32 } from 'node:zlib';
import { createHash, type Hash } from 'node:crypto';
import { Crc32c } from '@aws-crypto/crc32c';
import { S3Error } from '../protocol/s3-errors.ts';

export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256' | 'CRC64NVME';

export const SUPPORTED_CHECKSUMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

export interface ChecksumHasher {
  update(data: Buffer): void;
  digest(): Buffer;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

// CRC-64/NVME (what S3 calls CRC64NVME): reflected, polynomial 0xad93d23594c93659 (reflected form
// 0x9a6c9329ac4bc9b5), init and xorout all ones; check value of "123456789" = 0xae8b14860a799888.
// Neither Node nor zlib has it, so it is computed here: slice-by-8 tables, the 64-bit state kept
// as two 32-bit halves (no BigInt in the per-byte loop).
const CRC64_POLY_HI = 0x9a6c9329;
const CRC64_POLY_LO = 0xac4bc9b5;
let crc64Tables: { hi: Uint32Array; lo: Uint32Array } | undefined;

/** Table k (entries k*256 … k*256+255): the CRC of a byte followed by k zero bytes. */
function crc64NvmeTables(): { hi: Uint32Array; lo: Uint32Array } {
  if (crc64Tables) return crc64Tables;
  const hi = new Uint32Array(8 * 256);
  const lo = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let h = 0;
    let l = i;
    for (let bit = 0; bit < 8; bit++) {
      const carry = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h >>>= 1;
      if (carry) {
        h = (h ^ CRC64_POLY_HI) >>> 0;
        l = (l ^ CRC64_POLY_LO) >>> 0;
      }
    }
    hi[i] = h;
    lo[i] = l;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const ph = hi[(k - 1) * 256 + i]!;
      const pl = lo[(k - 1) * 256 + i]!;
      const t = pl & 0xff;
      hi[k * 256 + i] = ((ph >>> 8) ^ hi[t]!) >>> 0;
      lo[k * 256 + i] = (((pl >>> 8) | (ph << 24)) ^ lo[t]!) >>> 0;
    }
  }
  crc64Tables = { hi, lo };
  return crc64Tables;
}

/** Streaming CRC-64/NVME; digest() is the 8-byte big-endian value S3 puts (base64) in x-amz-checksum-crc64nvme. */
export class Crc64Nvme implements ChecksumHasher {
  private hi = 0xffffffff;
  private lo = 0xffffffff;
  private readonly t = crc64NvmeTables();

  update(data: Uint8Array): void {
    const { hi: TH, lo: TL } = this.t;
    let h = this.hi;
    let l = this.lo;
    let i = 0;
    const n = data.length;
    for (const end = n - (n % 8); i < end; i += 8) {
      // The 8 bytes XORed into the state (low half first: the CRC is reflected), then looked up all at once.
      const a = (l ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
      const b = (h ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24))) >>> 0;
      const i7 = 7 * 256 + (a & 0xff),
        i6 = 6 * 256 + ((a >>> 8) & 0xff),
        i5 = 5 * 256 + ((a >>> 16) & 0xff),
        i4 = 4 * 256 + (a >>> 24);
      const i3 = 3 * 256 + (b & 0xff),
        i2 = 2 * 256 + ((b >>> 8) & 0xff),
        i1 = 256 + ((b >>> 16) & 0xff),
        i0 = b >>> 24;
      h = TH[i7]! ^ TH[i6]! ^ TH[i5]! ^ TH[i4]! ^ TH[i3]! ^ TH[i2]! ^ TH[i1]! ^ TH[i0]!;
      l = TL[i7]! ^ TL[i6]! ^ TL[i5]! ^ TL[i4]! ^ TL[i3]! ^ TL[i2]! ^ TL[i1]! ^ TL[i0]!;
    }
    for (; i < n; i++) {
      const t = (l ^ data[i]!) & 0xff;
      l = ((l >>> 8) | (h << 24)) ^ TL[t]!;
      h = (h >>> 8) ^ TH[t]!;
    }
    this.hi = h >>> 0;
    this.lo = l >>> 0;
  }

  digest(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0);
    b.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4);
    return b;
  }
}

export function newChecksum(alg: ChecksumAlgorithm): ChecksumHasher {
  switch (alg) {
    case 'CRC32': {
      let v = 0;
      // Node's zlib.crc32 answers 0 for some empty buffers (those without a backing store): skip them.
      return { update: (d) => void (d.length && (v = crc32(d, v))), digest: () => u32(v) };
    }
    case 'CRC32C': {
      const c = new Crc32c();
      return { update: (d) => void c.update(d), digest: () => u32(c.digest()) };
    }
    case 'CRC64NVME':
      return new Crc64Nvme();
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
  if (!SUPPORTED_CHECKSUMS.includes(up))
    throw new S3Error(
      'InvalidRequest',
      `Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]`,
    );
  return up;
}

/** Which algorithm headers/trailers ask for: x-amz-checksum-<alg> header, x-amz-trailer, or x-amz-sdk-checksum-algorithm. */
export function requestedChecksum(headers: Record<string, string | string[] | undefined>): {
  algorithm?: ChecksumAlgorithm;
  value?: string;
  inTrailer: boolean;
} {
  const present = SUPPORTED_CHECKSUMS.filter((a) => headers[checksumHeader(a)] !== undefined);
  if (present.length > 1)
    throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  const trailer = String(headers['x-amz-trailer'] ?? '')
    .trim()
    .toLowerCase();
  if (trailer) {
    const alg = SUPPORTED_CHECKSUMS.find((a) => checksumHeader(a) === trailer);
    if (!alg) throw new S3Error('InvalidRequest', `The value specified in the x-amz-trailer header is not supported`);
    return { algorithm: alg, inTrailer: true };
  }
  if (present.length === 1) {
    const alg = present[0]!;
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

// CRC combination (as zlib's crc32_combine, generalised to 64 bits): for these CRCs (reflected,
// init = xorout = all ones), crc(A‖B) = crc(A)·x^(8·len(B)) mod P  ⊕  crc(B). This gives the
// FULL_OBJECT checksum of a multipart object from its part CRCs without reading the data again.
// BigInt is fine here: it runs per part, not per byte.
interface CrcSpec {
  width: bigint;
  /** Reflected polynomial. */
  poly: bigint;
}

const CRC_SPECS: Partial<Record<ChecksumAlgorithm, CrcSpec>> = {
  CRC32: { width: 32n, poly: 0xedb88320n },
  CRC32C: { width: 32n, poly: 0x82f63b78n },
  CRC64NVME: { width: 64n, poly: 0x9a6c9329ac4bc9b5n },
};

/** a·b mod P in the reflected representation (bit width-1 is x^0). */
function multModP(spec: CrcSpec, a: bigint, b: bigint): bigint {
  let m = 1n << (spec.width - 1n);
  let p = 0n;
  while (m !== 0n) {
    if (a & m) p ^= b;
    m >>= 1n;
    b = b & 1n ? (b >> 1n) ^ spec.poly : b >> 1n;
  }
  return p;
}

/** x^(8·bytes) mod P, by squaring: x^(2^k) for k = 3, 4, … */
function xPowBytes(spec: CrcSpec, bytes: number): bigint {
  let p = 1n << (spec.width - 1n); // x^0
  let sq = 1n << (spec.width - 9n); // x^8
  for (let n = bytes; n > 0; n = Math.floor(n / 2)) {
    if (n % 2) p = multModP(spec, sq, p);
    sq = multModP(spec, sq, sq);
  }
  return p;
}

export function supportsFullObject(alg: ChecksumAlgorithm): boolean {
  return CRC_SPECS[alg] !== undefined;
}

/** Full-object CRC (base64) of concatenated parts, from each part's CRC (base64) and size. */
export function combineCrcs(alg: ChecksumAlgorithm, parts: { checksum: string; size: number }[]): string {
  const spec = CRC_SPECS[alg];
  if (spec === undefined) throw new S3Error('InvalidRequest', `The FULL_OBJECT checksum type is not supported for ${alg}`);
  const bytes = Number(spec.width / 8n);
  // Parts mostly share one size: its shift factor is computed once.
  const shifts = new Map<number, bigint>();
  let crc = 0n; // CRC of the empty string
  for (const p of parts) {
    let shift = shifts.get(p.size);
    if (shift === undefined) shifts.set(p.size, (shift = xPowBytes(spec, p.size)));
    crc = multModP(spec, shift, crc) ^ BigInt(`0x${Buffer.from(p.checksum, 'base64').toString('hex') || '0'}`);
  }
  return Buffer.from(crc.toString(16).padStart(bytes * 2, '0'), 'hex').toString('base64');
}
