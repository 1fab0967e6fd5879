// The KMS inside `kura server`: opened on the data dir's root key, served on the S3 port (router hook)
// and, with --kms-address, on a listener of its own.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatAddress, type ListenAddress } from '../protocol/address.ts';
import type { SecretLookup } from '../sigv4/sigv4.ts';
import { KmsError } from './errors.ts';
import { isKmsRequest, serveKmsRequest } from './http.ts';
import { KeyManagementService } from './service.ts';
import type { MetaStore } from '../storage/meta/meta-store.ts';

/** Account id in key and alias ARNs (a single-tenant server has no AWS account). */
export const KURA_ACCOUNT_ID = '000000000000';

/**
 * Opens the KMS of a server: keys in `meta`, the server's metadata store (shared by every node of one
 * PostgreSQL database), the audit log local to this node in <data>/.kura/audit.log. A key store of an
 * earlier release (<data>/.kura/kms) is imported into `meta` at the first start.
 * KURA_KMS_CACHE_TTL_MS: the bound on how stale this node's key cache may be (default 5000).
 * The caller owns `rootKey` (and zeroes it); the key store keeps only its derived key-encryption key.
 */
export async function openServerKms(
  config: { stateDir: string; region: string },
  meta: MetaStore,
  rootKey: Buffer,
): Promise<KeyManagementService> {
  const ttl = process.env.KURA_KMS_CACHE_TTL_MS;
  if (ttl !== undefined && !/^\d+$/.test(ttl)) throw new Error(`KURA_KMS_CACHE_TTL_MS must be a number of milliseconds, not '${ttl}'`);
  return KeyManagementService.open({
    meta,
    dir: join(config.stateDir, 'kms'),
    ...(ttl !== undefined ? { cacheTtlMs: Number(ttl) } : {}),
    rootKey,
    auditLogPath: join(config.stateDir, 'audit.log'),
    region: config.region,
    accountId: KURA_ACCOUNT_ID,
  });
}

export interface KmsListener {
  /** 'host:port' actually bound. */
  address: string;
  close(): Promise<void>;
}

/** A listener that serves only the KMS (AWS clients pointed at it with --endpoint-url). */
export async function startKmsListener(
  kms: KeyManagementService,
  opts: { address: ListenAddress; lookupSecret: SecretLookup; region: string; logger: Logger },
): Promise<KmsListener> {
  const server: Server = createServer((req, res) => {
    const requestId = randomUUID();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q >= 0 ? url.slice(0, q) : url;
    const rawQuery = q >= 0 ? url.slice(q + 1) : '';
    const started = Date.now();
    res.once('close', () =>
      opts.logger.info(
        {
          reqId: requestId,
          op: `KMS.${String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '')}`,
          status: res.statusCode,
          ms: Date.now() - started,
        },
        'request',
      ),
    );
    if (!isKmsRequest(req.method, rawPath, req.headers)) {
      req.resume();
      const body = Buffer.from(JSON.stringify(new KmsError('UnknownOperationException', '').toBody()));
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'content-length': body.length, 'x-amzn-requestid': requestId });
      res.end(body);
      return;
    }
    void serveKmsRequest(req, res, { kms, lookupSecret: opts.lookupSecret, region: opts.region, requestId, rawPath, rawQuery });
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  const address = await new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.address.port, opts.address.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(formatAddress({ host: a.address, port: a.port }));
    });
  });
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 5_000).unref();
      }),
  };
}
