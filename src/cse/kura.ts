// Format 4: Kura's own. The object is a sequence of segments, each an independent stream of the crypto
// core's chunked AES-256-GCM format (src/crypto, docs/FORMAT.md) — the same chunks as the server's at-rest
// format — so multipart parts encrypt in parallel and any range decrypts (authenticated) without reading the
// rest. Metadata travels as x-amz-meta-kura-cse-*. Details in docs/CSE-FORMATS.md.
import { randomBytes } from 'node:crypto';
import {
  DEFAULT_CHUNK_SIZE,
  NONCE_SIZE,
  ciphertextSize,
  createDecryptor,
  createEncryptor,
  encryptBuffer,
  planPartsRange,
  plaintextSize,
  type StreamParams,
} from '../crypto/index.ts';
import { CseError, integrity } from './errors.ts';
import { parseDescription } from './keys.ts';
import type { MultiKeyring } from './keyrings/multi.ts';
import type { WrapContext } from './keyrings/keyring.ts';
import type { CseDescription, EncryptOptions, FormatModule, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { checkPlaintext, segmented } from './streams.ts';
import { b64, intMeta, statedSize, unb64 } from './meta.ts';
import { pipelineDuplex } from './pipe.ts';

const P = 'kura-cse-';
const KURA = {
  version: 'kura-cse',
  wrapAlg: `${P}wrap-alg`,
  key: `${P}key`,
  nonce: `${P}nonce`,
  chunkSize: `${P}chunk-size`,
  segmentSize: `${P}segment-size`,
  size: `${P}size`,
  matdesc: `${P}matdesc`,
} as const;
const KURA_DEFAULT_SEGMENT = 8 * 1024 * 1024;
const END_BIT = 0x80; // segment-nonce marker of the terminator that ends an object of undeclared size

interface Layout {
  nonce: Buffer;
  chunkSize: number;
  segmentSize: number;
  size?: number;
  matdesc: Record<string, string>;
}

/** Everything the data key is bound to: changing any of it makes the unwrap fail. */
function aadOf(l: Layout): Buffer {
  const md = JSON.stringify(
    Object.keys(l.matdesc)
      .sort()
      .map((k) => [k, l.matdesc[k]]),
  );
  return Buffer.from(`kura-cse/1\n${l.nonce.toString('base64')}\n${l.chunkSize}\n${l.segmentSize}\n${l.size ?? ''}\n${md}`);
}

/** Segment j's stream nonce: the object nonce with j XORed into bytes 0..3 (chunk indexes go into bytes 4..11). */
function segmentParams(key: Buffer, l: Layout, j: number, end = false): StreamParams {
  const nonce = Buffer.from(l.nonce);
  nonce.writeUInt32BE((nonce.readUInt32BE(0) ^ j) >>> 0, 0);
  if (end) nonce[0]! ^= END_BIT;
  return { key, nonce, chunkSize: l.chunkSize };
}

/** What the keyring binds the wrapped data key to: the layout (as AAD) and the material description. */
const wrapContext = (l: Layout): WrapContext => ({ format: 'kura', aad: aadOf(l), description: l.matdesc });

function layoutOf(meta: UserMetadata): Layout {
  if (meta[KURA.version] !== '1')
    throw new CseError('UnsupportedFormat', `unsupported Kura CSE version ${JSON.stringify(meta[KURA.version])}`);
  const nonce = unb64(meta[KURA.nonce], KURA.nonce);
  if (nonce.length !== NONCE_SIZE) throw integrity('Kura CSE nonce has the wrong size');
  const chunkSize = intMeta(meta[KURA.chunkSize], KURA.chunkSize);
  const segmentSize = intMeta(meta[KURA.segmentSize], KURA.segmentSize);
  if (!chunkSize || !segmentSize) throw integrity('Kura CSE chunk/segment size missing');
  return { nonce, chunkSize, segmentSize, size: intMeta(meta[KURA.size], KURA.size), matdesc: parseDescription(meta[KURA.matdesc]) };
}

async function unwrap(meta: UserMetadata, keys: MultiKeyring): Promise<{ dataKey: Buffer; layout: Layout }> {
  const layout = layoutOf(meta);
  const wrapped = unb64(meta[KURA.key], KURA.key);
  const [dataKey] = await keys.unwrap([wrapped], meta[KURA.wrapAlg], wrapContext(layout));
  if (dataKey!.length !== 32) throw integrity('unwrapped data key is not 256 bits');
  return { dataKey: dataKey!, layout };
}

function encryptorFrom(dataKey: Buffer, l: Layout, metadata: UserMetadata): ObjectEncryptor {
  const seg = l.segmentSize;
  const segLen = (j: number) => (l.size === undefined ? seg : Math.min(seg, l.size - j * seg));
  const segCount = l.size === undefined ? undefined : Math.max(1, Math.ceil(l.size / seg));
  // From segment `first` on, over `length` plaintext bytes (undefined: to the end of an undeclared-size object).
  const segments = (first: number, length?: number) => {
    const last = length === undefined ? undefined : first + Math.max(1, Math.ceil(length / seg)) - 1;
    return segmented(
      (i) => {
        const j = first + i;
        if (last !== undefined && j > last) return undefined;
        if (segCount !== undefined && j >= segCount) return undefined;
        const n = l.size === undefined ? undefined : segLen(j);
        return { inLen: n ?? seg, t: createEncryptor(segmentParams(dataKey, l, j), n) };
      },
      {
        shortLastOk: l.size === undefined,
        finish: (started) => {
          const parts: Buffer[] = [];
          if (started === 0) parts.push(encryptBuffer(segmentParams(dataKey, l, first), Buffer.alloc(0)));
          if (l.size === undefined) parts.push(encryptBuffer(segmentParams(dataKey, l, 0, true), Buffer.alloc(0)));
          return parts.length ? Buffer.concat(parts) : undefined;
        },
      },
    );
  };
  const storedSize = (plain: number) => {
    let total = 0;
    for (let off = 0; off < plain || (off === 0 && plain === 0); off += seg)
      total += ciphertextSize(Math.min(seg, plain - off), l.chunkSize);
    return total;
  };
  return {
    format: 'kura',
    metadata,
    cipherSize: (n) => storedSize(n) + (l.size === undefined ? ciphertextSize(0, l.chunkSize) : 0),
    stream: () => segments(0),
    partAlign: l.size === undefined ? undefined : seg,
    part: (offset, length) => segments(offset / seg, length),
    partCipherSize: (_o, length) => storedSize(length),
  };
}

async function kuraEncryptor(keys: MultiKeyring, opts: EncryptOptions): Promise<ObjectEncryptor> {
  // A multipart upload's parts are whole segments, so that they encrypt independently.
  const segmentSize = opts.partSize ?? KURA_DEFAULT_SEGMENT;
  const layout: Layout = {
    nonce: randomBytes(NONCE_SIZE),
    chunkSize: DEFAULT_CHUNK_SIZE,
    segmentSize,
    size: opts.plainSize,
    matdesc: keys.generator.description,
  };
  const { wrapAlg, wrapped, dataKey } = await keys.generate(wrapContext(layout));
  const metadata: UserMetadata = {
    [KURA.version]: '1',
    [KURA.wrapAlg]: wrapAlg,
    [KURA.key]: b64(wrapped),
    [KURA.nonce]: b64(layout.nonce),
    [KURA.chunkSize]: String(layout.chunkSize),
    [KURA.segmentSize]: String(segmentSize),
  };
  if (layout.size !== undefined) metadata[KURA.size] = String(layout.size);
  if (Object.keys(layout.matdesc).length) metadata[KURA.matdesc] = JSON.stringify(layout.matdesc);
  return encryptorFrom(dataKey, layout, metadata);
}

async function kuraResume(meta: UserMetadata, keys: MultiKeyring): Promise<ObjectEncryptor> {
  const { dataKey, layout } = await unwrap(meta, keys);
  return encryptorFrom(dataKey, layout, meta);
}

/** Plaintext sizes of the segments of a stored object (without the terminator). */
function segmentSizes(l: Layout, stored: number): number[] {
  const full = ciphertextSize(l.segmentSize, l.chunkSize);
  const n = Math.floor(stored / full);
  const rest = stored - n * full;
  const sizes = new Array<number>(n).fill(l.segmentSize);
  if (rest > 0 || n === 0) {
    try {
      sizes.push(plaintextSize(rest, l.chunkSize));
    } catch {
      throw integrity('object size does not fit its Kura CSE layout (truncated or extended)');
    }
  }
  return sizes;
}

async function kuraDecryptor(meta: UserMetadata, keys: MultiKeyring, storedSize: number): Promise<ObjectDecryptor> {
  const { dataKey, layout: l } = await unwrap(meta, keys);
  const terminator = l.size === undefined ? ciphertextSize(0, l.chunkSize) : 0;
  if (storedSize < terminator) throw integrity('object too short for its Kura CSE layout');
  const sizes = segmentSizes(l, storedSize - terminator);
  const plainSize = sizes.reduce((a, b) => a + b, 0);
  if (l.size !== undefined && plainSize !== l.size) throw integrity(`object size does not match the stored plaintext size ${l.size}`);
  const segs = sizes.map((s) => ({ plainSize: s, chunkSize: l.chunkSize }));
  // An object of undeclared size ends with an empty stream under the END-marked nonce (truncation guard).
  const endStream = () => ({ inLen: terminator, t: createDecryptor(segmentParams(dataKey, l, 0, true), 0) });
  return {
    format: 'kura',
    plainSize,
    stream: () =>
      pipelineDuplex(
        segmented((j) => {
          const size = sizes[j];
          if (size !== undefined)
            return { inLen: ciphertextSize(size, l.chunkSize), t: createDecryptor(segmentParams(dataKey, l, j), size) };
          if (j === sizes.length && terminator) return endStream();
          return undefined;
        }),
        checkPlaintext({ size: plainSize }),
      ),
    range(start, end) {
      const plans = planPartsRange(segs, start, end);
      // planPartsRange returns at least one part for a valid range.
      const first = plans[0]!,
        last = plans[plans.length - 1]!;
      return {
        storedStart: first.partStoredStart + first.storedStart,
        storedEnd: last.partStoredStart + last.storedEnd,
        authenticated: true,
        transform: () =>
          segmented((i) => {
            const p = plans[i];
            if (!p) return undefined;
            return {
              inLen: p.storedEnd - p.storedStart + 1,
              t: createDecryptor(segmentParams(dataKey, l, p.part), sizes[p.part]!, {
                firstChunk: p.firstChunk,
                skip: p.skip,
                length: p.length,
              }),
            };
          }),
      };
    },
  };
}

async function kuraDescribe(meta: UserMetadata): Promise<CseDescription> {
  return {
    format: 'kura',
    algorithm: `AES-256-GCM chunked (${meta[KURA.chunkSize] ?? '?'}-byte chunks)`,
    wrapAlgorithm: meta[KURA.wrapAlg],
    keys: `material description ${meta[KURA.matdesc] ?? '{}'}`,
    plainSize: statedSize(meta[KURA.size]),
  };
}

export const kuraFormat: FormatModule = {
  name: 'kura',
  inMetadata: (m) => m[KURA.version] !== undefined,
  ownsMetadataName: (name) => name.startsWith(KURA.version),
  partSize: (requested) => requested,
  needsMd5: false,
  plainSizeOf: () => undefined,
  encryptor: kuraEncryptor,
  resume: kuraResume,
  decryptor: kuraDecryptor,
  describe: kuraDescribe,
};
