// Per-request state passed to operation handlers, and the services they use.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Transform } from 'node:stream';
import { finished, pipeline } from 'node:stream';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { StorageBackend } from '../storage/backend.ts';
import type { ServerConfig } from './config.ts';
import type { AuthResult, SecretLookup } from '../sigv4/sigv4.ts';
import { createPayloadDecoder } from '../sigv4/payload.ts';
import { S3Error } from './errors.ts';
import { toXml, type XmlObject } from '../protocol/xml.ts';
import { heldChunks } from '../protocol/held-body.ts';
import type { ObjectIo } from './object-io.ts';
import type { KmsService } from '../kms/service.ts';

export type { KmsService };

export interface Services {
  config: ServerConfig;
  backend: StorageBackend;
  lookupSecret: SecretLookup;
  /** Object data path (plaintext by default; the SSE part swaps in its implementation). */
  objectIo: ObjectIo;
  kms?: KmsService;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

export class RequestContext {
  auth?: AuthResult;
  /** S3 operation name, for logs. */
  operation = 'Unknown';
  bucket?: string;
  key?: string;
  private decoder?: Transform & { trailers: Record<string, string> };

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly services: Services,
    readonly log: Logger,
    readonly requestId: string,
    /** Request arrived over TLS. */
    readonly secure: boolean,
    readonly rawPath: string,
    readonly rawQuery: string,
    readonly query: URLSearchParams,
  ) {}

  get method(): string {
    return this.req.method ?? 'GET';
  }

  get backend(): StorageBackend {
    return this.services.backend;
  }

  /** First value of a request header (name in lower case). */
  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  param(name: string): string | undefined {
    return this.query.get(name) ?? undefined;
  }

  /** '/bucket/key' for error bodies. */
  get resource(): string {
    if (!this.bucket) return '/';
    return this.key !== undefined ? `/${this.bucket}/${this.key}` : `/${this.bucket}`;
  }

  get bucketName(): string {
    if (!this.bucket) throw new S3Error('MethodNotAllowed');
    return this.bucket;
  }

  get objectKey(): string {
    if (this.key === undefined) throw new S3Error('MethodNotAllowed');
    return this.key;
  }

  get bodyStarted(): boolean {
    return this.decoder !== undefined;
  }

  /** The request payload, decoded and verified by the auth layer (aws-chunked, x-amz-content-sha256). Once. */
  body(): Readable {
    if (this.decoder) throw new Error('request body already taken');
    if (!this.auth) throw new Error('body before authentication');
    const decoder = createPayloadDecoder(this.auth, this.req.headers);
    this.decoder = decoder;
    pipeline(this.req, decoder, () => {});
    return decoder;
  }

  /** Trailing headers of an aws-chunked body (after it ended). */
  trailers(): Record<string, string> {
    return this.decoder?.trailers ?? {};
  }

  /** Reads a small body (XML documents) fully; MaxMessageLengthExceeded past the limit. */
  async readBody(limit = 2 * 1024 * 1024): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of this.body() as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > limit) throw new S3Error('MaxMessageLengthExceeded');
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  setHeaders(headers: Record<string, string | number | undefined>): void {
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) this.res.setHeader(k, v);
  }

  send(status: number, headers: Record<string, string | number | undefined> = {}, body?: string | Buffer): void {
    this.setHeaders(headers);
    if (body !== undefined && this.method !== 'HEAD') {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      this.res.setHeader('content-length', buf.length);
      this.res.writeHead(status);
      this.res.end(buf);
    } else {
      if (!this.res.hasHeader('content-length') && status !== 304 && status !== 204) this.res.setHeader('content-length', 0);
      this.res.writeHead(status);
      this.res.end();
    }
  }

  sendXml(status: number, root: string, body: XmlObject | string, headers: Record<string, string | number | undefined> = {}): void {
    this.send(status, { 'content-type': 'application/xml', ...headers }, toXml(root, body));
  }

  /** Streams a body; resolves when sent (or the client went away). */
  sendStream(status: number, headers: Record<string, string | number | undefined>, stream: Readable): Promise<void> {
    this.setHeaders(headers);
    this.res.writeHead(status);
    const held = heldChunks(stream);
    if (held) {
      // A body already in memory (a small decrypted object) leaves in one end() call: no stream machinery.
      stream.destroy();
      return new Promise((resolve) => {
        finished(this.res, () => resolve());
        this.res.end(held.length === 1 ? held[0] : Buffer.concat(held));
      });
    }
    // Pieces the stream emits in one burst (e.g. the decrypted chunks of one disk read) leave in one
    // socket write (writev) instead of one syscall and one client wake-up each.
    let corked = false;
    const uncork = (): void => {
      corked = false;
      this.res.uncork();
    };
    stream.on('data', () => {
      if (corked) return;
      corked = true;
      this.res.cork();
      process.nextTick(uncork);
    });
    return new Promise((resolve) => {
      pipeline(stream, this.res, (err) => {
        if (err && !this.res.destroyed) {
          this.log.warn({ err: err.message }, 'response stream failed');
          this.res.destroy();
        }
        resolve();
      });
    });
  }

  /** Canonical-user-style owner of everything (single-tenant server). */
  get owner(): { ID: string; DisplayName: string } {
    const id = this.auth?.accessKeyId ?? this.services.config.credentials.accessKeyId;
    return { ID: createHash('sha256').update(`kura-owner:${id}`).digest('hex'), DisplayName: 'kura' };
  }
}
