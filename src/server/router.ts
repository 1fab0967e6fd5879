// Addressing (path-style and virtual-host-style), authentication, and dispatch of a request to
// one operation handler by method + scope (service / bucket / object) + query subresource.
// Anything Kura does not implement answers 501 NotImplemented, never a wrong success.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { authenticate } from '../sigv4/sigv4.ts';
import { RequestContext, type Handler, type Services } from './context.ts';
import { S3Error, isS3Error } from './errors.ts';
import { toXml } from '../protocol/xml.ts';
import { isKmsRequest, serveKmsRequest, KMS_TARGET_PREFIX } from '../kms/http.ts';
import * as buckets from './operations/buckets.ts';
import { putObject } from './operations/put-object.ts';
import { getObject, headObject } from './operations/get-object.ts';
import { deleteObject, deleteObjects } from './operations/delete-object.ts';
import { copyObject } from './operations/copy-object.ts';
import { listObjectsV1, listObjectsV2, listObjectVersions } from './operations/list-objects.ts';
import * as multipart from './operations/multipart.ts';
import * as bucketConfig from './operations/bucket-config.ts';
import { isPostObjectForm, postObject } from './operations/post-object.ts';
import * as bucketEncryption from './operations/bucket-encryption.ts';
import * as versioning from './operations/versioning.ts';

export type Scope = 'service' | 'bucket' | 'object';

/** What route matching looks at: method, query, headers, and whether the request was authenticated. */
export type RouteProbe = Pick<RequestContext, 'method' | 'query' | 'param' | 'header' | 'auth'>;

export interface Route {
  method: string;
  scope: Scope;
  /** Query subresource this route requires (e.g. 'uploads'); none = the request must carry no subresource. */
  sub?: string;
  when?: (ctx: RouteProbe) => boolean;
  handler: Handler;
}

/** Query names that select an S3 subresource (an operation), as opposed to parameters. */
export const SUBRESOURCES = new Set([
  'accelerate',
  'acl',
  'analytics',
  'attributes',
  'cors',
  'delete',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'location',
  'logging',
  'metadataConfiguration',
  'metadataTable',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'renameObject',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'session',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versioning',
  'versions',
  'website',
]);

const hasCopySource = (ctx: RouteProbe): boolean => ctx.header('x-amz-copy-source') !== undefined;

/** Kura's S3 operations. Other parts add theirs with `extraRoutes` (checked first). */
export const ROUTES: Route[] = [
  { method: 'GET', scope: 'service', handler: buckets.listBuckets },

  { method: 'GET', scope: 'bucket', sub: 'location', handler: buckets.getBucketLocation },
  { method: 'GET', scope: 'bucket', sub: 'versioning', handler: versioning.getBucketVersioning },
  { method: 'PUT', scope: 'bucket', sub: 'versioning', handler: versioning.putBucketVersioning },
  { method: 'GET', scope: 'bucket', sub: 'versions', handler: listObjectVersions },
  { method: 'GET', scope: 'bucket', sub: 'uploads', handler: multipart.listMultipartUploads },
  { method: 'GET', scope: 'bucket', sub: 'acl', handler: bucketConfig.getBucketAcl },
  { method: 'GET', scope: 'bucket', sub: 'policy', handler: bucketConfig.notConfigured('GetBucketPolicy', 'NoSuchBucketPolicy') },
  { method: 'GET', scope: 'bucket', sub: 'cors', handler: bucketConfig.notConfigured('GetBucketCors', 'NoSuchCORSConfiguration') },
  {
    method: 'GET',
    scope: 'bucket',
    sub: 'lifecycle',
    handler: bucketConfig.notConfigured('GetBucketLifecycleConfiguration', 'NoSuchLifecycleConfiguration'),
  },
  { method: 'GET', scope: 'bucket', sub: 'website', handler: bucketConfig.notConfigured('GetBucketWebsite', 'NoSuchWebsiteConfiguration') },
  { method: 'GET', scope: 'bucket', sub: 'tagging', handler: bucketConfig.notConfigured('GetBucketTagging', 'NoSuchTagSet') },
  { method: 'GET', scope: 'bucket', sub: 'encryption', handler: bucketEncryption.getBucketEncryption },
  { method: 'PUT', scope: 'bucket', sub: 'encryption', handler: bucketEncryption.putBucketEncryption },
  { method: 'DELETE', scope: 'bucket', sub: 'encryption', handler: bucketEncryption.deleteBucketEncryption },
  { method: 'GET', scope: 'bucket', when: (ctx) => ctx.param('list-type') === '2', handler: listObjectsV2 },
  { method: 'GET', scope: 'bucket', when: (ctx) => ctx.param('list-type') !== '2', handler: listObjectsV1 },
  { method: 'HEAD', scope: 'bucket', handler: buckets.headBucket },
  { method: 'PUT', scope: 'bucket', handler: buckets.createBucket },
  { method: 'DELETE', scope: 'bucket', handler: buckets.deleteBucket },
  { method: 'POST', scope: 'bucket', sub: 'delete', handler: deleteObjects },
  // Browser-form upload: authenticated by its signed policy, not by headers (see Router.handle).
  { method: 'POST', scope: 'bucket', when: (ctx) => ctx.auth === undefined, handler: postObject },

  { method: 'GET', scope: 'object', sub: 'uploadId', handler: multipart.listParts },
  { method: 'GET', scope: 'object', sub: 'acl', handler: bucketConfig.getObjectAcl },
  { method: 'GET', scope: 'object', sub: 'tagging', handler: bucketConfig.getObjectTagging },
  { method: 'GET', scope: 'object', handler: getObject },
  { method: 'HEAD', scope: 'object', handler: headObject },
  { method: 'PUT', scope: 'object', sub: 'uploadId', when: hasCopySource, handler: multipart.uploadPartCopy },
  { method: 'PUT', scope: 'object', sub: 'uploadId', handler: multipart.uploadPart },
  { method: 'PUT', scope: 'object', when: hasCopySource, handler: copyObject },
  { method: 'PUT', scope: 'object', handler: putObject },
  { method: 'DELETE', scope: 'object', sub: 'uploadId', handler: multipart.abortMultipartUpload },
  { method: 'DELETE', scope: 'object', handler: deleteObject },
  { method: 'POST', scope: 'object', sub: 'uploads', handler: multipart.createMultipartUpload },
  { method: 'POST', scope: 'object', sub: 'uploadId', handler: multipart.completeMultipartUpload },
];

const HEALTH_PATHS = new Set(['/health', '/minio/health/live', '/minio/health/ready']);

/** AWS-style request id (16 upper-case hex) and extended id. */
export function newRequestIds(): { requestId: string; hostId: string } {
  return { requestId: randomBytes(8).toString('hex').toUpperCase(), hostId: randomBytes(32).toString('base64') };
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error('InvalidURI');
  }
}

/** Bucket and key from Host (virtual-host style `<bucket>.<domain>`) or from the path. */
export function resolveAddress(host: string | undefined, rawPath: string, domain: string): { bucket?: string; key?: string } {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (domain && hostname.endsWith(`.${domain}`) && hostname.length > domain.length + 1) {
    const bucket = hostname.slice(0, -(domain.length + 1));
    const key = decodePath(rawPath.slice(1));
    return key === '' ? { bucket } : { bucket, key };
  }
  const path = rawPath.slice(1);
  if (path === '') return {};
  const slash = path.indexOf('/');
  if (slash < 0) return { bucket: decodePath(path) };
  const bucket = decodePath(path.slice(0, slash));
  const key = decodePath(path.slice(slash + 1));
  return key === '' ? { bucket } : { bucket, key };
}

/** The first route that serves this request (exported so tests can enumerate every route's request shape). */
export function matchRoute(routes: Route[], ctx: RouteProbe, scope: Scope): Route | undefined {
  const subs = [...ctx.query.keys()].filter((k) => SUBRESOURCES.has(k));
  for (const r of routes) {
    if (r.method !== ctx.method || r.scope !== scope) continue;
    if (r.sub ? !(subs.length === 1 && subs[0] === r.sub) : subs.length > 0) continue;
    if (r.when && !r.when(ctx)) continue;
    return r;
  }
  return undefined;
}

export class Router {
  private readonly routes: Route[];

  constructor(
    private readonly services: Services,
    private readonly log: Logger,
    extraRoutes: Route[] = [],
  ) {
    this.routes = [...extraRoutes, ...ROUTES];
  }

  async handle(req: IncomingMessage, res: ServerResponse, secure: boolean): Promise<void> {
    const started = process.hrtime.bigint();
    const { requestId, hostId } = newRequestIds();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', hostId);
    res.setHeader('server', 'Kura');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q >= 0 ? url.slice(0, q) : url;
    const rawQuery = q >= 0 ? url.slice(q + 1) : '';
    const log = this.log.child({ reqId: requestId });
    const ctx = new RequestContext(req, res, this.services, log, requestId, secure, rawPath, rawQuery, new URLSearchParams(rawQuery));
    res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        {
          op: ctx.operation,
          method: req.method,
          bucket: ctx.bucket,
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
          aborted: !res.writableFinished || undefined,
        },
        'request',
      );
    });
    try {
      if ((req.method === 'GET' || req.method === 'HEAD') && HEALTH_PATHS.has(rawPath)) {
        ctx.operation = 'Health';
        ctx.send(200, { 'content-type': 'text/plain' }, 'OK\n');
        return;
      }
      if (!rawPath.startsWith('/')) throw new S3Error('InvalidURI');
      if (isKmsRequest(req.method, rawPath, req.headers)) {
        // The KMS authenticates (service 'kms') and answers in its own JSON dialect.
        ctx.operation = `KMS.${(ctx.header('x-amz-target') ?? '').slice(KMS_TARGET_PREFIX.length)}`;
        const kms = this.services.kms;
        if (!kms) throw new S3Error('NotImplemented', 'The KMS is not enabled on this server');
        const { config, lookupSecret } = this.services;
        await serveKmsRequest(req, res, { kms, lookupSecret, region: config.region, requestId, rawPath, rawQuery });
        return;
      }
      const formPost =
        isPostObjectForm(req.method, ctx.header('content-type')) &&
        ctx.header('authorization') === undefined &&
        !rawQuery.includes('X-Amz-');
      if (!formPost) {
        const scope = { service: 's3', region: this.services.config.region } as const;
        ctx.auth = authenticate(
          { method: req.method ?? 'GET', rawPath, rawQuery, headers: req.headers },
          this.services.lookupSecret,
          scope,
        );
        // Every S3 request's signature is verified here, before any handler runs; only the body's own hash
        // or chunk signatures are checked as the body is read. Fail closed should that ever change.
        if (ctx.auth.signatureDeferred) throw new S3Error('AccessDenied');
      }
      const addr = resolveAddress(ctx.header('host'), rawPath, this.services.config.domain);
      if (addr.bucket !== undefined) ctx.bucket = addr.bucket;
      if (addr.key !== undefined) ctx.key = addr.key;
      const scope: Scope = ctx.key !== undefined ? 'object' : ctx.bucket !== undefined ? 'bucket' : 'service';
      const route = matchRoute(this.routes, ctx, scope);
      // Only the form upload itself goes without header authentication.
      if (ctx.auth === undefined && route?.handler !== postObject) throw new S3Error('AccessDenied');
      if (!route) {
        const subs = [...ctx.query.keys()].filter((k) => SUBRESOURCES.has(k));
        const known = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'].includes(ctx.method);
        throw subs.length > 0 || (known && scope !== 'service')
          ? new S3Error('NotImplemented', subs.length ? `The ${subs.join(', ')} operation is not implemented` : undefined)
          : new S3Error('MethodNotAllowed', undefined, {
              Method: ctx.method,
              ResourceType: scope === 'service' ? 'SERVICE' : scope.toUpperCase(),
            });
      }
      await route.handler(ctx);
    } catch (e) {
      this.sendError(ctx, e);
    } finally {
      // Unread or half-read bodies (errors) are drained so the connection stays usable.
      if (!req.complete) req.resume();
    }
  }

  private sendError(ctx: RequestContext, e: unknown): void {
    const res = ctx.res;
    let err: S3Error;
    if (isS3Error(e)) {
      err = e;
    } else {
      ctx.log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'internal error');
      err = new S3Error('InternalError');
    }
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a failure, not a short body.
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
    if (err.status >= 500 || err.code !== 'NoSuchKey') ctx.log.debug({ code: err.code }, 'error');
    if (err.status === 304) {
      ctx.send(304);
      return;
    }
    if (ctx.method === 'HEAD') {
      ctx.send(err.status);
      return;
    }
    const body: Record<string, string> = { Code: err.code, Message: err.message };
    for (const [k, v] of Object.entries(err.details)) body[k] = v;
    if (
      ctx.bucket !== undefined &&
      body['BucketName'] === undefined &&
      (err.code === 'NoSuchBucket' ||
        err.code === 'BucketNotEmpty' ||
        err.code === 'BucketAlreadyOwnedByYou' ||
        err.code === 'InvalidBucketName')
    )
      body['BucketName'] = ctx.bucket;
    if (ctx.key !== undefined && err.code === 'NoSuchKey' && body['Key'] === undefined) body['Key'] = ctx.key;
    body['Resource'] = ctx.resource;
    body['RequestId'] = ctx.requestId;
    body['HostId'] = String(res.getHeader('x-amz-id-2') ?? '');
    ctx.send(err.status, { 'content-type': 'application/xml' }, toXml('Error', body, false));
  }
}
