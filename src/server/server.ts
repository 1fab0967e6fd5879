// The Kura server: HTTP and HTTPS listeners in front of one Router, pino JSON logs on stdout,
// graceful shutdown (stop accepting, finish in-flight requests).
import {
  createServer as createHttpServer,
  maxHeaderSize,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { pino, type Logger } from 'pino';
import type { StorageBackend } from '../storage/backend.ts';
import type { MetaStore } from '../storage/meta/meta-store.ts';
import { openBackend } from '../storage/open-backend.ts';
import { formatAddress, loadRootKey, type ListenAddress, type ServerConfig } from './config.ts';
import type { KmsService, Services } from './context.ts';
import { PlainObjectIo, type ObjectIo } from './object-io.ts';
import { SseObjectIo } from '../sse/sse-object-io.ts';
import { Router, newRequestIds, type Route } from './router.ts';
import { S3Error } from './errors.ts';
import { toXml } from '../protocol/xml.ts';

export interface StartOptions {
  logger?: Logger;
  /** Defaults to the configured storage (LMDB metadata + blob files in config.dataDir unless configured otherwise). */
  backend?: StorageBackend;
  objectIo?: ObjectIo;
  kms?: KmsService;
  /** The metadata store to open the backend on (the one the KMS uses); closed with the backend. */
  meta?: MetaStore;
  extraRoutes?: Route[];
  /**
   * Benchmark baseline only (`npm run bench`, see the CLI's hidden flag): store objects UNENCRYPTED, to
   * measure what encryption at rest costs. Never set otherwise.
   */
  plaintextBaseline?: boolean;
}

export interface RunningServer {
  config: ServerConfig;
  services: Services;
  logger: Logger;
  /** 'host:port' actually bound. */
  http?: string;
  https?: string;
  /** Stops accepting, waits for in-flight requests (at most graceMs, then cuts connections), closes the store. */
  close(graceMs?: number): Promise<void>;
}

export function createLogger(): Logger {
  return pino({ level: process.env.KURA_LOG_LEVEL ?? 'info', base: { pid: process.pid } });
}

function listen(server: HttpServer, addr: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(formatAddress({ host: a.address, port: a.port }));
    });
  });
}

/** Secret lookup for the single configured credential pair (constant-time id comparison). */
export function singleUserLookup(config: ServerConfig): (accessKeyId: string) => string | undefined {
  const id = Buffer.from(config.credentials.accessKeyId);
  return (accessKeyId) => {
    const given = Buffer.from(accessKeyId);
    return given.length === id.length && timingSafeEqual(given, id) ? config.credentials.secretAccessKey : undefined;
  };
}

/**
 * Requests Node's HTTP parser refuses before any handler runs (headers too large, malformed HTTP,
 * header timeout) still get an S3 XML error instead of Node's bare 431/400/408.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const e =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new S3Error('RequestHeaderSectionTooLarge', undefined, { MaxSizeAllowed: String(maxHeaderSize) })
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new S3Error('RequestTimeout')
        : new S3Error('BadRequest', 'An error occurred when parsing the HTTP request.');
  const { requestId, hostId } = newRequestIds();
  const body = toXml('Error', { Code: e.code, Message: e.message, ...e.details, RequestId: requestId, HostId: hostId }, false);
  // Read what the client still sends: closing with unread input would reset the connection before
  // the client sees the answer.
  socket.on('data', () => {});
  socket.on('error', () => socket.destroy());
  setTimeout(() => socket.destroy(), 5_000).unref();
  socket.end(
    `HTTP/1.1 ${e.status} Bad Request\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-amz-request-id: ${requestId}\r\nx-amz-id-2: ${hostId}\r\nserver: Kura\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Bytes a connection's socket buffers before backpressure (default 16 KiB). A response body that
 * arrives as many 64 KiB pieces (decrypted chunks) then leaves in batched writes instead of pausing
 * after every piece and waiting for 'drain'; request bodies are read in larger batches too.
 */
const SOCKET_BUFFER = 1024 * 1024;

/** The encrypting data path on the data dir's root key (zeroed here once the key providers hold what they derive). */
async function openSseObjectIo(config: ServerConfig, kms?: KmsService): Promise<ObjectIo> {
  const rootKey = await loadRootKey(config.dataDir);
  try {
    return SseObjectIo.open(
      rootKey,
      { allowInsecureSsec: config.allowInsecureSsec, ownerAccessKeyId: config.credentials.accessKeyId },
      kms,
    );
  } finally {
    rootKey.fill(0);
  }
}

export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger();
  const backend = opts.backend ?? (await openBackend(config, await loadRootKey(config.dataDir), { log: logger }, opts.meta));
  const services: Services = {
    config,
    backend,
    lookupSecret: singleUserLookup(config),
    // Every object at rest is encrypted (SSE-S3 when a request names no encryption).
    objectIo: opts.objectIo ?? (opts.plaintextBaseline ? new PlainObjectIo() : await openSseObjectIo(config, opts.kms)),
  };
  if (opts.plaintextBaseline) {
    logger.warn('BENCHMARK PLAINTEXT BASELINE: objects are stored UNENCRYPTED; never use this server for data');
    process.stderr.write('kura server: WARNING: benchmark plaintext baseline, objects are stored UNENCRYPTED\n');
  }
  if (opts.kms) services.kms = opts.kms;
  const router = new Router(services, logger, opts.extraRoutes);
  let closing = false;
  const handler =
    (secure: boolean) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      if (closing) res.setHeader('connection', 'close');
      void router.handle(req, res, secure).catch((e: unknown) => {
        logger.error({ err: String(e) }, 'unhandled request failure');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    };
  const servers: HttpServer[] = [];
  const running: RunningServer = {
    config,
    services,
    logger,
    close: async (graceMs = 30_000) => {
      closing = true;
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const s of servers) s.closeIdleConnections();
      const idleTimer = setInterval(() => servers.forEach((s) => s.closeIdleConnections()), 100);
      const cut = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), graceMs);
      await Promise.all(closed);
      clearInterval(idleTimer);
      clearTimeout(cut);
      await backend.close();
    },
  };
  const tune = (s: HttpServer): HttpServer => {
    // Large objects take long: no overall request deadline, but headers must arrive promptly.
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
    s.keepAliveTimeout = 5_000;
    s.on('clientError', answerClientError);
    servers.push(s);
    return s;
  };
  try {
    if (config.http) running.http = await listen(tune(createHttpServer({ highWaterMark: SOCKET_BUFFER }, handler(false))), config.http);
    if (config.https && config.tls) {
      running.https = await listen(
        tune(
          createHttpsServer(
            { cert: config.tls.cert, key: config.tls.key, highWaterMark: SOCKET_BUFFER },
            handler(true),
          ) as unknown as HttpServer,
        ),
        config.https,
      );
    }
  } catch (e) {
    for (const s of servers) s.close();
    await backend.close();
    throw e;
  }
  return running;
}
