// Streaming encryptor/decryptor for the chunked AES-256-GCM format (docs/FORMAT.md).
// Memory per stream is one chunk buffer; input may be sliced arbitrarily.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { CryptoError, badParams } from './errors.ts';
import {
  AAD_SIZE,
  NONCE_SIZE,
  TAG_SIZE,
  checkParams,
  checkSize,
  chunkAad,
  chunkCount,
  chunkNonce,
  chunkPlainLength,
  type StreamParams,
} from './format.ts';

const ALGORITHM = 'aes-256-gcm';

/** Seals and opens single chunks of one stream; reuses its nonce/AAD scratch buffers. */
class ChunkCipher {
  private readonly key: KeyObject;
  private readonly nonceBuf = Buffer.allocUnsafe(NONCE_SIZE);
  private readonly aadBuf = Buffer.allocUnsafe(AAD_SIZE);
  constructor(private readonly p: StreamParams) {
    checkParams(p);
    this.key = createSecretKey(p.key);
  }

  /** Returns [ciphertext, tag]. */
  seal(index: number, final: boolean, plaintext: Buffer): [Buffer, Buffer] {
    const cipher = createCipheriv(ALGORITHM, this.key, chunkNonce(this.p.nonce, index, this.nonceBuf), { authTagLength: TAG_SIZE });
    cipher.setAAD(chunkAad(index, final, this.aadBuf));
    const ct = cipher.update(plaintext);
    cipher.final();
    return [ct, cipher.getAuthTag()];
  }

  /** `stored` is ciphertext ‖ tag. Returns the plaintext only if the tag verified. */
  open(index: number, final: boolean, stored: Buffer): Buffer {
    const ctLen = stored.length - TAG_SIZE;
    const decipher = createDecipheriv(ALGORITHM, this.key, chunkNonce(this.p.nonce, index, this.nonceBuf), { authTagLength: TAG_SIZE });
    decipher.setAAD(chunkAad(index, final, this.aadBuf));
    decipher.setAuthTag(stored.subarray(ctLen));
    const pt = decipher.update(stored.subarray(0, ctLen));
    try {
      decipher.final();
    } catch {
      throw new CryptoError('KURA_CRYPTO_AUTH_FAILED', `chunk ${index} failed authentication`);
    }
    return pt;
  }
}

/** Receives output of the synchronous encryptor/decryptor: sealed chunks or verified plaintext, in order. */
export type Emit = (data: Buffer) => void;

/**
 * Encrypts one stream synchronously: write() plaintext in any slicing, end() once; sealed bytes go to
 * `emit` as they are ready (ciphertext, then its tag). With `plainSize` the input must be exactly that long.
 * No stream machinery: callers embed it in whatever pipeline they run (createEncryptor wraps it in a Transform).
 */
export class StreamEncryptor {
  private readonly cipher: ChunkCipher;
  private readonly chunkSize: number;
  private readonly acc: Buffer;
  private accLen = 0;
  private index = 0;
  private received = 0;
  private readonly lastIndex: number; // -1 when the size is not known up front

  constructor(
    p: StreamParams,
    private readonly plainSize?: number,
  ) {
    this.cipher = new ChunkCipher(p);
    this.chunkSize = p.chunkSize;
    if (plainSize !== undefined) checkSize(plainSize);
    this.lastIndex = plainSize === undefined ? -1 : chunkCount(plainSize, p.chunkSize) - 1;
    this.acc = Buffer.allocUnsafe(plainSize === undefined ? p.chunkSize : Math.min(p.chunkSize, plainSize));
  }

  private sealChunk(plaintext: Buffer, final: boolean, emit: Emit): void {
    const [ct, tag] = this.cipher.seal(this.index++, final, plaintext);
    if (ct.length) emit(ct);
    emit(tag);
  }

  write(data: Buffer, emit: Emit): void {
    this.received += data.length;
    const cs = this.chunkSize;
    if (this.plainSize !== undefined && this.received > this.plainSize) {
      throw new CryptoError('KURA_CRYPTO_SIZE_MISMATCH', 'more input than the declared plaintext size');
    }
    let off = 0;
    while (off < data.length) {
      const avail = data.length - off;
      if (this.plainSize === undefined) {
        // A full chunk is sealed only once a further byte shows it is not the last one.
        if (this.accLen === cs) {
          this.sealChunk(this.acc, false, emit);
          this.accLen = 0;
        } else if (this.accLen === 0 && avail > cs) {
          this.sealChunk(data.subarray(off, off + cs), false, emit);
          off += cs;
        } else {
          const n = Math.min(avail, cs - this.accLen);
          data.copy(this.acc, this.accLen, off, off + n);
          this.accLen += n;
          off += n;
        }
      } else {
        const target = chunkPlainLength(this.plainSize, cs, this.index);
        const final = this.index === this.lastIndex;
        if (this.accLen === 0 && avail >= target) {
          this.sealChunk(data.subarray(off, off + target), final, emit);
          off += target;
        } else {
          const n = Math.min(avail, target - this.accLen);
          data.copy(this.acc, this.accLen, off, off + n);
          this.accLen += n;
          off += n;
          if (this.accLen === target) {
            this.sealChunk(this.acc.subarray(0, target), final, emit);
            this.accLen = 0;
          }
        }
      }
    }
  }

  end(emit: Emit): void {
    if (this.plainSize === undefined) {
      this.sealChunk(this.acc.subarray(0, this.accLen), true, emit);
    } else {
      if (this.received !== this.plainSize) {
        throw new CryptoError('KURA_CRYPTO_SIZE_MISMATCH', 'less input than the declared plaintext size');
      }
      if (this.plainSize === 0) this.sealChunk(Buffer.alloc(0), true, emit);
    }
  }
}

export interface DecryptOptions {
  firstChunk?: number; // index of the first stored chunk fed to the decryptor (default 0)
  skip?: number; // plaintext bytes to drop after decrypting, counted from the start of firstChunk
  length?: number; // plaintext bytes to emit (default: through the end of the stream)
}

/**
 * Decrypts one stream (or the chunks of it covering a range) synchronously: write() stored bytes in any
 * slicing, end() once. A chunk's plaintext goes to `emit` only after its tag verified; tampering, stored
 * bytes past the last expected chunk and (at end()) missing ones throw CryptoError.
 */
export class StreamDecryptor {
  private readonly cipher: ChunkCipher;
  private readonly chunkSize: number;
  private readonly finalIndex: number;
  private readonly lastChunk: number; // last chunk this decryptor expects to read
  private readonly emitStart: number; // relative to the start of firstChunk
  private readonly emitEnd: number;
  private readonly acc: Buffer;
  private accLen = 0;
  private index: number;
  private pos = 0; // plaintext offset of the current chunk, relative to the start of firstChunk
  /** Stored bytes still expected (through the end of lastChunk). */
  remaining: number;

  constructor(
    p: StreamParams,
    private readonly plainSize: number,
    opts: DecryptOptions = {},
  ) {
    this.cipher = new ChunkCipher(p);
    checkSize(plainSize);
    const cs = p.chunkSize;
    this.chunkSize = cs;
    this.finalIndex = chunkCount(plainSize, cs) - 1;
    const firstChunk = opts.firstChunk ?? 0;
    const skip = opts.skip ?? 0;
    if (!Number.isSafeInteger(firstChunk) || firstChunk < 0 || firstChunk > this.finalIndex) throw badParams('firstChunk out of range');
    if (!Number.isSafeInteger(skip) || skip < 0) throw badParams('skip must be a non-negative integer');
    const start = firstChunk * cs + skip;
    if (start > plainSize) throw badParams('skip beyond the end of the stream');
    const length = opts.length ?? plainSize - start;
    if (!Number.isSafeInteger(length) || length < 0 || start + length > plainSize) throw badParams('length beyond the end of the stream');
    this.lastChunk = opts.length === undefined ? this.finalIndex : length === 0 ? firstChunk : Math.floor((start + length - 1) / cs);
    this.index = firstChunk;
    this.emitStart = skip;
    this.emitEnd = skip + length;
    this.remaining = (this.lastChunk - firstChunk) * (cs + TAG_SIZE) + chunkPlainLength(plainSize, cs, this.lastChunk) + TAG_SIZE;
    this.acc = Buffer.allocUnsafe(Math.min(cs, plainSize) + TAG_SIZE);
  }

  private openChunk(stored: Buffer, emit: Emit): void {
    const pt = this.cipher.open(this.index, this.index === this.finalIndex, stored);
    const a = Math.max(this.emitStart - this.pos, 0);
    const b = Math.min(this.emitEnd - this.pos, pt.length);
    this.pos += pt.length;
    this.index++;
    if (b > a) emit(a === 0 && b === pt.length ? pt : pt.subarray(a, b));
  }

  write(data: Buffer, emit: Emit): void {
    let off = 0;
    while (off < data.length) {
      if (this.index > this.lastChunk) {
        throw new CryptoError('KURA_CRYPTO_TRAILING_DATA', 'stored data continues past the last expected chunk');
      }
      const target = chunkPlainLength(this.plainSize, this.chunkSize, this.index) + TAG_SIZE;
      const avail = data.length - off;
      if (this.accLen === 0 && avail >= target) {
        this.remaining -= target;
        this.openChunk(data.subarray(off, off + target), emit);
        off += target;
      } else {
        const n = Math.min(avail, target - this.accLen);
        data.copy(this.acc, this.accLen, off, off + n);
        this.accLen += n;
        this.remaining -= n;
        off += n;
        if (this.accLen === target) {
          this.accLen = 0;
          this.openChunk(this.acc.subarray(0, target), emit);
        }
      }
    }
  }

  end(): void {
    if (this.index <= this.lastChunk) {
      throw new CryptoError('KURA_CRYPTO_TRUNCATED', 'stored data ended before the last expected chunk');
    }
  }
}

/** Anything that turns input into output synchronously, like StreamEncryptor and StreamDecryptor. */
export interface SyncCipher {
  write(data: Buffer, emit: Emit): void;
  end(emit: Emit): void;
  /** Called when the stream is destroyed before its end (e.g. to wipe keys). */
  dispose?(): void;
  /** Pending while a consumer of the input (e.g. a hash on another thread) is behind: input pauses until it settles. */
  backlog?(): Promise<void> | undefined;
}

/** A synchronous encryptor or decryptor as a Transform (one layer, no per-chunk promises). */
class CipherTransform extends Transform {
  private readonly out: Emit = (b) => void this.push(b);
  constructor(
    private readonly core: SyncCipher,
    opts?: TransformOptions,
  ) {
    super(opts);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.core.dispose?.();
    cb(err);
  }

  override _transform(data: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.core.write(data, this.out);
    } catch (err) {
      return cb(err as Error);
    }
    const wait = this.core.backlog?.();
    if (wait) wait.then(() => cb(), cb);
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.core.end(this.out);
    } catch (err) {
      return cb(err as Error);
    }
    cb();
  }
}

/** A SyncCipher as a Transform; `opts` e.g. for a larger readableHighWaterMark. */
export function cipherTransform(core: SyncCipher, opts?: TransformOptions): Transform {
  return new CipherTransform(core, opts);
}

/** Plaintext in, sealed chunks out. With `plainSize` the input must be exactly that long (else an error). */
export function createEncryptor(p: StreamParams, plainSize?: number): Transform {
  return new CipherTransform(new StreamEncryptor(p, plainSize));
}

/**
 * Stored bytes that start at chunk `firstChunk` in, plaintext out: only [skip, skip+length) of the
 * decrypted bytes (relative to the start of firstChunk). `plainSize` is the whole stream's size.
 * Errors on any tampering, missing or extra stored bytes; a chunk's plaintext is emitted only after its tag verified.
 */
export function createDecryptor(p: StreamParams, plainSize: number, opts?: DecryptOptions): Transform {
  return new CipherTransform(new StreamDecryptor(p, plainSize, opts));
}

/** One-shot encryption of a whole stream held in memory (small objects, metadata, tests). */
export function encryptBuffer(p: StreamParams, plaintext: Buffer): Buffer {
  const cipher = new ChunkCipher(p);
  const count = chunkCount(plaintext.length, p.chunkSize);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(...cipher.seal(i, i === count - 1, plaintext.subarray(i * p.chunkSize, (i + 1) * p.chunkSize)));
  }
  return Buffer.concat(parts);
}

/** One-shot decryption of a whole stored stream; throws CryptoError on any tampering. */
export function decryptBuffer(p: StreamParams, stored: Buffer, plainSize: number): Buffer {
  const cipher = new ChunkCipher(p);
  checkSize(plainSize);
  const count = chunkCount(plainSize, p.chunkSize);
  const parts: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const len = chunkPlainLength(plainSize, p.chunkSize, i) + TAG_SIZE;
    if (off + len > stored.length) throw new CryptoError('KURA_CRYPTO_TRUNCATED', 'stored data ended before the last expected chunk');
    parts.push(cipher.open(i, i === count - 1, stored.subarray(off, off + len)));
    off += len;
  }
  if (off !== stored.length) throw new CryptoError('KURA_CRYPTO_TRAILING_DATA', 'stored data continues past the last expected chunk');
  return Buffer.concat(parts);
}
