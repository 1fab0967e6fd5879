// HTTP front of the KMS: a POST to `/` with `X-Amz-Target: TrentService.<Operation>`, signed with SigV4
// for service `kms`, body and answer in AWS JSON 1.1. Used by the S3 router (same port) and by the
// optional separate KMS listener (`kura server --kms-address`). Authentication failures are answered
// the KMS way (JSON `__type`), not with S3's XML errors.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, type AuthResult, type SecretLookup } from '../sigv4/sigv4.ts';
import { createPayloadDecoder } from '../sigv4/payload.ts';
import { S3Error } from '../protocol/s3-errors.ts';
import { KmsError } from './errors.ts';
import type { KeyManagementService } from './service.ts';

export const KMS_TARGET_PREFIX = 'TrentService.';
const JSON_11 = 'application/x-amz-json-1.1';
/** Far above any valid KMS request (largest fields: 6144-byte blobs, 4096-byte plaintext, base64). */
const MAX_BODY = 1024 * 1024;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** True for requests the S3 router must hand to the KMS. */
export function isKmsRequest(method: string | undefined, rawPath: string, headers: IncomingHttpHeaders): boolean {
  return method === 'POST' && rawPath === '/' && (header(headers, 'x-amz-target') ?? '').startsWith(KMS_TARGET_PREFIX);
}

/** SigV4 failures (thrown by the shared verifier as S3Error) in KMS's terms. */
export function kmsAuthError(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  if (!(err instanceof S3Error))
    return new KmsError(
      'KMSInternalException',
      'The request was rejected because an internal exception occurred. The request can be retried.',
    );
  switch (err.code) {
    case 'InvalidAccessKeyId':
      return new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    case 'SignatureDoesNotMatch':
    case 'XAmzContentSHA256Mismatch':
      return new KmsError(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    case 'AuthorizationHeaderMalformed':
    case 'AuthorizationQueryParametersError':
      if (err.details.Region !== undefined)
        return new KmsError(
          'InvalidSignatureException',
          `Credential should be scoped to a valid region. This endpoint serves '${err.details.Region}'.`,
        );
      if (err.message.includes('incorrect service'))
        return new KmsError('InvalidSignatureException', "Credential should be scoped to correct service: 'kms'. ");
      return new KmsError('IncompleteSignatureException', err.message);
    case 'InvalidArgument':
      if (err.details.ArgumentName === 'x-amz-content-sha256')
        return new KmsError(
          'InvalidSignatureException',
          'The request signature must cover the request body: x-amz-content-sha256 must be the SHA-256 of the body.',
        );
      return new KmsError('IncompleteSignatureException', err.message);
    case 'RequestTimeTooSkewed':
      return new KmsError(
        'InvalidSignatureException',
        'Signature expired: the request time is more than 15 minutes away from the server time.',
      );
    case 'AccessDenied':
      if (err.details.HeadersNotSigned)
        return new KmsError(
          'InvalidSignatureException',
          `There were headers present in the request which were not signed: ${err.details.HeadersNotSigned}`,
        );
      if (/expired/i.test(err.message)) return new KmsError('InvalidSignatureException', 'Signature expired.');
      if (/Date/.test(err.message)) return new KmsError('IncompleteSignatureException', err.message);
      return new KmsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
    default:
      break;
  }
  return new KmsError('IncompleteSignatureException', err.message);
}

export interface KmsHttpOptions {
  kms: Pick<KeyManagementService, 'handle'>;
  lookupSecret: SecretLookup;
  /** The KMS region: requests must be signed for it, as AWS requires. */
  region: string;
  requestId: string;
  rawPath: string;
  rawQuery: string;
}

function send(res: ServerResponse, requestId: string, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body ?? {}), 'utf8');
  res.writeHead(status, { 'content-type': JSON_11, 'content-length': data.length, 'x-amzn-requestid': requestId });
  res.end(data);
}

async function readBody(req: IncomingMessage, auth: AuthResult): Promise<Buffer> {
  const decoder = createPayloadDecoder(auth, req.headers);
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const fail = (e: unknown) => {
      req.unpipe(decoder);
      req.resume();
      reject(e);
    };
    decoder.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) return fail(new KmsError('ValidationException', 'The request body is too large.'));
      chunks.push(c);
    });
    decoder.on('end', () => resolve(Buffer.concat(chunks)));
    decoder.on('error', fail);
    req.on('error', fail);
    req.pipe(decoder);
  });
}

/** Authenticates, reads and answers one KMS request. Never throws: every failure becomes a KMS JSON error. */
export async function serveKmsRequest(req: IncomingMessage, res: ServerResponse, opts: KmsHttpOptions): Promise<void> {
  try {
    const target = header(req.headers, 'x-amz-target') ?? '';
    let auth: AuthResult;
    try {
      auth = authenticate(
        { method: req.method ?? 'POST', rawPath: opts.rawPath, rawQuery: opts.rawQuery, headers: req.headers },
        opts.lookupSecret,
        { service: 'kms', region: opts.region },
      );
    } catch (e) {
      throw kmsAuthError(e);
    }
    let body: Buffer;
    try {
      // The whole (bounded) body is read and its hash checked — the signature itself too when it covers
      // the body's real hash — before the operation runs: nothing is done for an unverified request.
      body = await readBody(req, auth);
    } catch (e) {
      throw kmsAuthError(e);
    }
    const out = await opts.kms.handle(target, body, { accessKeyId: auth.accessKeyId });
    send(res, opts.requestId, out.status, out.body);
  } catch (e) {
    const err = kmsAuthError(e);
    if (!res.headersSent) send(res, opts.requestId, err.status, err.toBody());
    else res.destroy();
  }
}
