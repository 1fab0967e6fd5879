// Request-body decoding for SigV4 payload modes: plain bodies (optionally verified against the declared
// SHA-256) and aws-chunked bodies (chunk signatures, trailers). Streaming with bounded memory: chunk data
// flows through as it arrives and is hashed incrementally; only header and trailer lines are buffered.
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../protocol/s3-errors.ts';
import { EMPTY_SHA256, hmac, signaturesEqual, signingStateOf, verifySignature, type AuthResult, type SigningState } from './sigv4.ts';

export type PayloadDecoder = Transform & { trailers: Record<string, string> };

const MAX_LINE = 4096; // a chunk header line: hex size + ";chunk-signature=" + 64 hex, with room to spare
const MAX_TRAILER_BYTES = 16384; // all trailer lines together
const CR = 0x0d;
const LF = 0x0a;

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Raw request body in, object bytes out. Throws S3Error synchronously when the headers already rule the body
 * out (aws-chunked without x-amz-decoded-content-length); body errors are emitted as S3Error.
 */
export function createPayloadDecoder(auth: AuthResult, headers: IncomingHttpHeaders): PayloadDecoder {
  const state = signingStateOf(auth);
  if (auth.payload === 'signed' || auth.payload === 'unsigned') {
    return new PlainDecoder(auth, state);
  }
  if (!state) throw new Error('createPayloadDecoder: AuthResult did not come from authenticate()');
  const declared = firstHeader(headers, 'x-amz-decoded-content-length');
  if (declared === undefined) throw new S3Error('MissingContentLength');
  if (!/^\d{1,16}$/.test(declared.trim())) {
    throw new S3Error('InvalidArgument', 'x-amz-decoded-content-length must be a non-negative integer', {
      ArgumentName: 'x-amz-decoded-content-length',
      ArgumentValue: declared.slice(0, 32),
    });
  }
  const trailerNames = (firstHeader(headers, 'x-amz-trailer') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  return new ChunkedDecoder(auth, state, Number(declared.trim()), trailerNames);
}

class PlainDecoder extends Transform {
  trailers: Record<string, string> = {};
  private readonly hash: Hash | undefined;

  constructor(
    private readonly auth: AuthResult,
    private readonly state: SigningState | undefined,
  ) {
    super();
    // Hash only when something is to be checked against it.
    this.hash = auth.payload === 'signed' ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (!this.hash) return cb();
    const computed = this.hash.digest('hex');
    try {
      if (this.auth.signatureDeferred) {
        const st = this.state;
        if (!st?.deferred) throw new Error('deferred signature without signing state');
        const parts = { ...st.deferred, tail: st.deferred.tail + computed };
        verifySignature(this.auth.accessKeyId, st.signingKey, st.amzDate, st.scope, parts, st.seedSignature);
      } else if (computed !== this.auth.contentSha256) {
        throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
          ClientComputedContentSHA256: this.auth.contentSha256 ?? '',
          S3ComputedContentSHA256: computed,
        });
      }
    } catch (e) {
      return cb(e as Error);
    }
    cb();
  }
}

type Phase = 'header' | 'data' | 'data-crlf' | 'trailer' | 'done';

class ChunkedDecoder extends Transform {
  trailers: Record<string, string> = {};
  private phase: Phase = 'header';
  private line: Buffer[] = [];
  private lineLength = 0;
  private remaining = 0; // data bytes left in the current chunk
  private crlfSeen = 0; // bytes of the CRLF after chunk data consumed so far
  private chunkHash: Hash | undefined;
  private chunkSignature = '';
  private previousSignature: string;
  private decoded = 0;
  private trailerBytes = 0;
  private trailerLines: string[] = [];
  private readonly signed: boolean;
  private readonly withTrailer: boolean;

  constructor(
    private readonly auth: AuthResult,
    private readonly state: SigningState,
    private readonly declaredLength: number,
    private readonly expectedTrailers: string[],
  ) {
    super();
    this.signed = auth.payload === 'streaming-signed' || auth.payload === 'streaming-signed-trailer';
    this.withTrailer = auth.payload === 'streaming-signed-trailer' || auth.payload === 'streaming-unsigned-trailer';
    this.previousSignature = state.seedSignature;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(chunk);
    } catch (e) {
      return cb(e as Error);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.finish();
    } catch (e) {
      return cb(e as Error);
    }
    cb();
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.phase) {
        case 'header':
        case 'trailer': {
          const nl = buf.indexOf(LF, i);
          const end = nl < 0 ? buf.length : nl + 1;
          this.appendLine(buf.subarray(i, end));
          i = end;
          if (nl >= 0) this.lineComplete();
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - i);
          const piece = buf.subarray(i, i + n);
          this.chunkHash?.update(piece);
          this.decoded += n;
          if (this.decoded > this.declaredLength) throw incompleteBody('more data than x-amz-decoded-content-length');
          this.push(piece);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) {
            this.phase = 'data-crlf';
            this.crlfSeen = 0;
          }
          break;
        }
        case 'data-crlf': {
          const want = this.crlfSeen === 0 ? CR : LF;
          if (buf[i] !== want) throw incompleteBody('chunk data not followed by CRLF');
          i++;
          if (++this.crlfSeen === 2) this.endChunk();
          break;
        }
        case 'done': {
          // Some senders add a stray CRLF after the end; anything else is not aws-chunked.
          if (buf[i] !== CR && buf[i] !== LF) throw incompleteBody('data after the final chunk');
          i++;
          break;
        }
      }
    }
  }

  private appendLine(piece: Buffer): void {
    this.lineLength += piece.length;
    if (this.phase === 'trailer') {
      this.trailerBytes += piece.length;
      if (this.trailerBytes > MAX_TRAILER_BYTES) throw malformedTrailer();
    } else if (this.lineLength > MAX_LINE) {
      throw incompleteBody('chunk header too long');
    }
    this.line.push(piece);
  }

  private takeLine(): string {
    const raw = Buffer.concat(this.line, this.lineLength);
    this.line = [];
    this.lineLength = 0;
    // Lines end in CRLF; a bare LF is tolerated (and a missing one at the very end of the body).
    let end = raw.length;
    if (end > 0 && raw[end - 1] === LF) end--;
    if (end > 0 && raw[end - 1] === CR) end--;
    return raw.subarray(0, end).toString('latin1');
  }

  private lineComplete(): void {
    const line = this.takeLine();
    if (this.phase === 'header') this.chunkHeader(line);
    else this.trailerLine(line);
  }

  private chunkHeader(line: string): void {
    const semi = line.indexOf(';');
    const sizeText = (semi < 0 ? line : line.slice(0, semi)).trim();
    if (!/^[0-9a-fA-F]{1,15}$/.test(sizeText)) throw incompleteBody('invalid chunk size');
    const size = parseInt(sizeText, 16);
    let signature: string | undefined;
    if (semi >= 0) {
      for (const ext of line.slice(semi + 1).split(';')) {
        const eq = ext.indexOf('=');
        if (eq >= 0 && ext.slice(0, eq).trim() === 'chunk-signature') signature = ext.slice(eq + 1).trim();
      }
    }
    if (this.signed) {
      if (signature === undefined) throw incompleteBody('chunk signature missing');
      this.chunkSignature = signature;
      this.chunkHash = createHash('sha256');
    }
    if (size === 0) {
      if (this.signed) this.verifyChunk();
      this.phase = this.withTrailer ? 'trailer' : 'data-crlf';
      this.crlfSeen = 0;
      if (!this.withTrailer) this.finalChunkSeen = true;
      return;
    }
    if (this.decoded + size > this.declaredLength) throw incompleteBody('more data than x-amz-decoded-content-length');
    this.remaining = size;
    this.phase = 'data';
  }

  private finalChunkSeen = false;

  private endChunk(): void {
    if (this.finalChunkSeen) {
      this.phase = 'done';
      return;
    }
    if (this.signed) this.verifyChunk();
    this.phase = 'header';
  }

  private verifyChunk(): void {
    const st = this.state;
    const dataHash = this.chunkHash ? this.chunkHash.digest('hex') : EMPTY_SHA256;
    this.chunkHash = undefined;
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${st.amzDate}\n${st.scope}\n${this.previousSignature}\n${EMPTY_SHA256}\n${dataHash}`;
    const expected = hmac(st.signingKey, sts).toString('hex');
    if (!signaturesEqual(expected, this.chunkSignature)) {
      throw new S3Error('SignatureDoesNotMatch', undefined, {
        AWSAccessKeyId: this.auth.accessKeyId,
        StringToSign: sts,
        SignatureProvided: this.chunkSignature,
      });
    }
    this.previousSignature = this.chunkSignature;
  }

  private trailerLine(line: string): void {
    if (line === '') {
      this.endTrailers();
      return;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformedTrailer();
    this.trailerLines.push(line);
  }

  private endTrailers(): void {
    const trailers: Record<string, string> = {};
    let signature: string | undefined;
    let canonical = '';
    for (const line of this.trailerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'x-amz-trailer-signature') {
        signature = value;
        continue;
      }
      trailers[name] = value;
      canonical += `${name}:${value}\n`;
    }
    for (const name of this.expectedTrailers) {
      if (!(name in trailers)) throw malformedTrailer();
    }
    if (this.signed) {
      if (signature === undefined) throw malformedTrailer();
      const st = this.state;
      const sts = `AWS4-HMAC-SHA256-TRAILER\n${st.amzDate}\n${st.scope}\n${this.previousSignature}\n${createHash('sha256').update(canonical).digest('hex')}`;
      const expected = hmac(st.signingKey, sts).toString('hex');
      if (!signaturesEqual(expected, signature)) {
        throw new S3Error('SignatureDoesNotMatch', undefined, {
          AWSAccessKeyId: this.auth.accessKeyId,
          StringToSign: sts,
          SignatureProvided: signature,
        });
      }
    }
    this.trailers = trailers;
    this.phase = 'done';
  }

  private finish(): void {
    if (this.phase === 'trailer') {
      // The SDK ends an unsigned-trailer body right after "0\r\n" when it has no checksum to send,
      // and some senders omit the blank line (or even the last CRLF) after the trailers.
      if (this.lineLength > 0) this.trailerLine(this.takeLine());
      if (this.phase === 'trailer') this.endTrailers();
    } else if (this.phase === 'data-crlf' && this.finalChunkSeen) {
      // "0;chunk-signature=…\r\n" without the closing CRLF: accepted.
      this.phase = 'done';
    }
    if (this.phase !== 'done') throw incompleteBody('body ended before the final chunk');
    if (this.decoded !== this.declaredLength) throw incompleteBody('decoded length mismatch');
  }
}

function incompleteBody(_why: string): S3Error {
  // AWS gives the stock message; the reason stays internal.
  return new S3Error('IncompleteBody');
}

function malformedTrailer(): S3Error {
  return new S3Error('MalformedTrailerError');
}
