// AWS Signature Version 4 verification, server side, with S3's rules: header auth, presigned URLs,
// payload modes (signed hash, unsigned, aws-chunked variants) and browser POST policies.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../protocol/s3-errors.ts';

export interface SignedRequest {
  method: string;
  rawPath: string; // path exactly as received on the wire (percent-encoded), no query
  rawQuery: string; // query string as received, without '?', '' if none
  headers: IncomingHttpHeaders;
}

export type PayloadMode = 'signed' | 'unsigned' | 'streaming-signed' | 'streaming-signed-trailer' | 'streaming-unsigned-trailer';

export interface AuthResult {
  accessKeyId: string;
  service: string; // from the credential scope: 's3' or 'kms'
  region: string;
  presigned: boolean;
  payload: PayloadMode;
  /** The hex SHA-256 the client declared for the body ('signed' mode only). */
  contentSha256?: string;
  /**
   * True when the client did not send x-amz-content-sha256 (non-S3 services such as KMS sign the body hash):
   * the signature is then checked by the payload decoder once the whole body is hashed.
   */
  signatureDeferred: boolean;
}

export type SecretLookup = (accessKeyId: string) => string | undefined;

/**
 * What a request must be signed for: the API's service name ('s3' for the S3 API, 'kms' for the KMS
 * JSON API) and the server's region. A signature for any other service or region is refused before the
 * signature itself is looked at, so a request signed for one API can never be replayed against another.
 */
export interface SigningScope {
  service: 's3' | 'kms';
  region: string;
}

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
export const MAX_SKEW_MS = 15 * 60 * 1000;
export const MAX_PRESIGN_EXPIRES = 604800;

const PAYLOAD_MODES: Record<string, PayloadMode> = {
  [UNSIGNED_PAYLOAD]: 'unsigned',
  [STREAMING_SIGNED]: 'streaming-signed',
  [STREAMING_SIGNED_TRAILER]: 'streaming-signed-trailer',
  [STREAMING_UNSIGNED_TRAILER]: 'streaming-unsigned-trailer',
};

/** What the payload decoder needs to verify chunk / trailer / deferred signatures. Never logged. */
export interface SigningState {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
  /** For deferred verification: the canonical request without its payload hash. */
  deferred?: CanonicalParts;
}

// Kept off the enumerable surface of AuthResult so loggers and JSON.stringify never see the signing key.
const SIGNING_STATE = Symbol('kura.sigv4.signingState');

export function signingStateOf(auth: AuthResult): SigningState | undefined {
  return (auth as unknown as Record<symbol, SigningState | undefined>)[SIGNING_STATE];
}

function attachState(auth: AuthResult, state: SigningState): AuthResult {
  Object.defineProperty(auth, SIGNING_STATE, { value: state, enumerable: false });
  return auth;
}

// ---------------------------------------------------------------------------------------------
// primitives

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac('AWS4' + secret, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/** Constant-time comparison of two hex signatures (lengths may differ: then false, still constant work). */
export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  const a = Buffer.from(expectedHex, 'utf8');
  const b = Buffer.from(providedHex, 'utf8');
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** AWS URI encoding: unreserved A-Za-z0-9-_.~ kept, every other byte as %XX (upper case). */
export function awsUriEncode(value: string | Buffer): string {
  let out = '';
  for (const byte of typeof value === 'string' ? Buffer.from(value, 'utf8') : value) {
    if (
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e
    ) {
      out += String.fromCharCode(byte);
    } else {
      out += '%' + (byte < 16 ? '0' : '') + byte.toString(16).toUpperCase();
    }
  }
  return out;
}

const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

// Percent-decoding to bytes (so that escapes of invalid UTF-8 survive re-encoding); a malformed escape
// is kept literally, as S3 does not reject it at this stage.
function percentDecodeBytes(s: string): Buffer {
  if (!s.includes('%')) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let literalStart = 0;
  const bytes: number[] = [];
  const flushLiteral = (to: number) => {
    if (to > literalStart) parts.push(Buffer.from(s.slice(literalStart, to), 'utf8'));
  };
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 0x25 && i + 2 < s.length && HEX_PAIR.test(s.slice(i + 1, i + 3))) {
      flushLiteral(i);
      bytes.length = 0;
      // Collect a run of escapes so that multi-byte sequences stay together.
      while (i + 2 < s.length && s.charCodeAt(i) === 0x25 && HEX_PAIR.test(s.slice(i + 1, i + 3))) {
        bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
        i += 3;
      }
      parts.push(Buffer.from(bytes));
      literalStart = i;
      i--;
    }
  }
  flushLiteral(s.length);
  return Buffer.concat(parts);
}

function percentDecode(s: string): string {
  return percentDecodeBytes(s).toString('utf8');
}

/**
 * The path as sent, each segment decoded once and re-encoded with AWS rules (no double encoding, no
 * '.'/'..' or '//' normalisation; an encoded '/' inside a segment stays %2F). For a client that encodes
 * its path the AWS way this is the raw path itself.
 */
export function canonicalUri(rawPath: string): string {
  if (rawPath === '') return '/';
  return rawPath
    .split('/')
    .map((seg) => awsUriEncode(percentDecodeBytes(seg)))
    .join('/');
}

/**
 * The canonical URIs a signature may have been computed over: S3 takes the path exactly as sent; some
 * signers encode the path the AWS way while sending it less encoded (or the reverse). Both forms decode to
 * the same path, so accepting either binds the signature to the same resource.
 */
function canonicalUriCandidates(rawPath: string): string[] {
  const raw = rawPath === '' ? '/' : rawPath;
  const normalised = canonicalUri(rawPath);
  return normalised === raw ? [raw] : [raw, normalised];
}

/** A canonical request split around its URI line: `${method}\n${uri}\n${tail}`. */
export interface CanonicalParts {
  method: string;
  rawPath: string;
  tail: string;
}

function splitQuery(rawQuery: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!rawQuery) return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    // '+' in a query string is a space.
    const name = (eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' ');
    const value = (eq < 0 ? '' : part.slice(eq + 1)).replace(/\+/g, ' ');
    out.push([name, value]);
  }
  return out;
}

/** Query parameters as sent, decoded. Order preserved; a name without '=' has value ''. */
export function parseQuery(rawQuery: string): Array<[string, string]> {
  return splitQuery(rawQuery).map(([n, v]) => [percentDecode(n), percentDecode(v)]);
}

/** The canonical query string: names and values decoded then AWS-encoded, sorted by name then value. */
export function canonicalQuery(rawQuery: string, exclude?: string): string {
  const enc: Array<[string, string]> = [];
  for (const [n, v] of splitQuery(rawQuery)) {
    const name = percentDecodeBytes(n);
    if (exclude !== undefined && name.toString('utf8') === exclude) continue;
    enc.push([awsUriEncode(name), awsUriEncode(percentDecodeBytes(v))]);
  }
  enc.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return enc.map(([n, v]) => `${n}=${v}`).join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

function canonicalHeaderValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ');
}

function canonicalHeaders(headers: IncomingHttpHeaders, signed: string[]): string {
  let out = '';
  for (const name of signed) {
    out += `${name}:${canonicalHeaderValue(headerValue(headers, name) ?? '')}\n`;
  }
  return out;
}

export function formatAmzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export function parseAmzDate(s: string): Date | undefined {
  const m = AMZ_DATE_RE.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  const date = new Date(t);
  // Reject rolled-over values such as month 13 or day 32.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return undefined;
  return date;
}

// ---------------------------------------------------------------------------------------------
// errors (AWS's codes and wording)

const CREDENTIAL_FORMAT = 'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".';

function headerMalformed(why: string): S3Error {
  return new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${why}`);
}

function queryError(message: string): S3Error {
  return new S3Error('AuthorizationQueryParametersError', message);
}

const UNSUPPORTED_MECHANISM = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';

// ---------------------------------------------------------------------------------------------
// authenticate

interface ParsedCredential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  scope: string;
}

function parseCredential(value: string, presigned: boolean, expected: SigningScope): ParsedCredential {
  const bad = (why: string) => (presigned ? queryError(`Error parsing the X-Amz-Credential parameter; ${why}`) : headerMalformed(why));
  // The access key id itself never contains '/', so the last four components are the scope.
  const parts = value.split('/');
  if (parts.length < 5) throw bad(`the Credential is mal-formed; ${CREDENTIAL_FORMAT}`);
  const terminal = parts[parts.length - 1]!;
  const service = parts[parts.length - 2]!;
  const region = parts[parts.length - 3]!;
  const date = parts[parts.length - 4]!;
  const accessKeyId = parts.slice(0, parts.length - 4).join('/');
  if (!accessKeyId || !/^\d{8}$/.test(date) || !region || !service) {
    throw bad(`the Credential is mal-formed; ${CREDENTIAL_FORMAT}`);
  }
  if (terminal !== 'aws4_request') throw bad(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  // AWS checks the region first, then the service; both answers name what this endpoint expects.
  if (region !== expected.region) {
    const err = bad(`the region '${region.slice(0, 64)}' is wrong; expecting '${expected.region}'`);
    err.details.Region = expected.region;
    throw err;
  }
  if (service !== expected.service) throw bad(`incorrect service "${service.slice(0, 64)}". This endpoint uses "${expected.service}".`);
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request` };
}

function parseSignedHeaders(value: string, presigned: boolean): string[] {
  const names = value.split(';');
  if (names.some((n) => n === '' || n !== n.toLowerCase() || /\s/.test(n))) {
    throw presigned ? queryError('Error parsing the X-Amz-SignedHeaders parameter.') : headerMalformed('the SignedHeaders are mal-formed.');
  }
  if (!names.includes('host')) {
    throw presigned
      ? queryError('Query-string authentication requires the host header to be signed.')
      : headerMalformed('the host header must be signed.');
  }
  return names;
}

/** Headers starting with x-amz- that were sent but not signed: AWS refuses them. */
function unsignedAmzHeaders(headers: IncomingHttpHeaders, signed: string[]): string[] {
  const set = new Set(signed);
  return Object.keys(headers)
    .filter((h) => h.startsWith('x-amz-') && !set.has(h))
    .sort();
}

function payloadModeOf(hash: string): PayloadMode | undefined {
  if (/^[0-9a-f]{64}$/.test(hash)) return 'signed';
  return PAYLOAD_MODES[hash];
}

function invalidContentSha256(): S3Error {
  return new S3Error(
    'InvalidArgument',
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, ' +
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, ' +
      'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
    { ArgumentName: 'x-amz-content-sha256' },
  );
}

function mismatch(accessKeyId: string, stringToSign: string, provided: string, canonicalRequest: string): S3Error {
  return new S3Error('SignatureDoesNotMatch', undefined, {
    AWSAccessKeyId: accessKeyId,
    StringToSign: stringToSign,
    SignatureProvided: provided,
    CanonicalRequest: canonicalRequest,
  });
}

export function stringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
}

/** True when the request carries no credentials at all (no Authorization header, no signature in the query). */
export function isAnonymous(req: SignedRequest): boolean {
  if (headerValue(req.headers, 'authorization') !== undefined) return false;
  return !parseQuery(req.rawQuery).some(
    ([n]) => n === 'X-Amz-Algorithm' || n === 'X-Amz-Credential' || n === 'X-Amz-Signature' || n === 'AWSAccessKeyId' || n === 'Signature',
  );
}

/**
 * Verifies a request's SigV4 signature (Authorization header or presigned query) and returns who signed it
 * and how the body is to be read. Throws S3Error with AWS's code otherwise.
 */
export function authenticate(req: SignedRequest, lookup: SecretLookup, expected: SigningScope, now: Date = new Date()): AuthResult {
  const authz = headerValue(req.headers, 'authorization');
  const q = new Map<string, string>();
  for (const [n, v] of parseQuery(req.rawQuery)) if (!q.has(n)) q.set(n, v);
  const queryAuth = q.has('X-Amz-Algorithm') || q.has('X-Amz-Credential') || q.has('X-Amz-Signature');
  const queryV2 = q.has('AWSAccessKeyId') || q.has('Signature');

  if (authz !== undefined && (queryAuth || queryV2)) {
    throw new S3Error(
      'InvalidArgument',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      { ArgumentName: 'Authorization', ArgumentValue: authz.slice(0, 32) },
    );
  }
  if (queryAuth) return authenticatePresigned(req, q, lookup, expected, now);
  if (authz !== undefined) return authenticateHeader(req, authz, lookup, expected, now);
  if (queryV2) throw new S3Error('InvalidRequest', UNSUPPORTED_MECHANISM);
  throw new S3Error('AccessDenied');
}

function authenticateHeader(req: SignedRequest, authz: string, lookup: SecretLookup, expected: SigningScope, now: Date): AuthResult {
  const sp = authz.indexOf(' ');
  const algorithm = sp < 0 ? authz : authz.slice(0, sp);
  if (algorithm !== ALGORITHM) {
    if (algorithm === 'AWS' || algorithm === 'AWS4-ECDSA-P256-SHA256') throw new S3Error('InvalidRequest', UNSUPPORTED_MECHANISM);
    throw new S3Error('InvalidArgument', 'Unsupported Authorization Type', {
      ArgumentName: 'Authorization',
      ArgumentValue: algorithm.slice(0, 64),
    });
  }
  const fields = new Map<string, string>();
  for (const item of authz.slice(sp + 1).split(',')) {
    const s = item.trim();
    if (!s) continue;
    const eq = s.indexOf('=');
    if (eq < 0) throw headerMalformed(`the authorization component "${s.slice(0, 64)}" is malformed.`);
    fields.set(s.slice(0, eq).trim(), s.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeadersValue = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeadersValue === undefined || signature === undefined) {
    throw headerMalformed('the authorization header requires three components: Credential, SignedHeaders, and Signature.');
  }
  const cred = parseCredential(credential, false, expected);
  const signedHeaders = parseSignedHeaders(signedHeadersValue, false);

  // x-amz-date wins over Date; the string to sign carries the ISO 8601 basic form either way.
  const xAmzDate = headerValue(req.headers, 'x-amz-date');
  const dateHeader = headerValue(req.headers, 'date');
  let when: Date | undefined;
  if (xAmzDate !== undefined) when = parseAmzDate(xAmzDate.trim());
  else if (dateHeader !== undefined) {
    const t = Date.parse(dateHeader);
    if (!Number.isNaN(t)) when = new Date(t);
  }
  if (!when) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  const amzDate = formatAmzDate(when);
  if (amzDate.slice(0, 8) !== cred.date) {
    throw headerMalformed('Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  checkSkew(when, now);

  const secret = lookup(cred.accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: cred.accessKeyId });

  const declared = headerValue(req.headers, 'x-amz-content-sha256')?.trim();
  let payload: PayloadMode;
  let signatureDeferred = false;
  if (declared === undefined) {
    // S3 insists on the header. The KMS signs the body's real hash instead: its (small, bounded) body is
    // read and hashed, and the signature checked, before any KMS operation runs (kms/http.ts).
    if (expected.service !== 'kms') {
      throw new S3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    }
    payload = 'signed';
    signatureDeferred = true;
  } else {
    const mode = payloadModeOf(declared);
    if (!mode) throw invalidContentSha256();
    // The KMS's body must be covered by the signature: no unsigned or streaming payloads.
    if (expected.service === 'kms' && mode !== 'signed') throw invalidContentSha256();
    payload = mode;
  }

  const unsigned = unsignedAmzHeaders(req.headers, signedHeaders);
  if (unsigned.length > 0) {
    throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.join(', '),
    });
  }

  const signingKey = deriveSigningKey(secret, cred.date, cred.region, cred.service);
  const tailWithoutHash = `${canonicalQuery(req.rawQuery)}\n${canonicalHeaders(req.headers, signedHeaders)}\n${signedHeaders.join(';')}\n`;

  const result: AuthResult = {
    accessKeyId: cred.accessKeyId,
    service: cred.service,
    region: cred.region,
    presigned: false,
    payload,
    signatureDeferred,
  };
  if (payload === 'signed' && declared !== undefined) result.contentSha256 = declared;
  const state: SigningState = { signingKey, amzDate, scope: cred.scope, seedSignature: signature };
  if (signatureDeferred) {
    state.deferred = { method: req.method, rawPath: req.rawPath, tail: tailWithoutHash };
    return attachState(result, state);
  }
  const parts = { method: req.method, rawPath: req.rawPath, tail: tailWithoutHash + declared };
  verifySignature(cred.accessKeyId, signingKey, amzDate, cred.scope, parts, signature);
  return attachState(result, state);
}

/** Checks `signature` against the canonical request; throws SignatureDoesNotMatch. */
export function verifySignature(
  accessKeyId: string,
  signingKey: Buffer,
  amzDate: string,
  scope: string,
  parts: CanonicalParts,
  signature: string,
): void {
  let first: { sts: string; canonicalRequest: string } | undefined;
  for (const uri of canonicalUriCandidates(parts.rawPath)) {
    const canonicalRequest = `${parts.method}\n${uri}\n${parts.tail}`;
    const sts = stringToSign(amzDate, scope, canonicalRequest);
    if (signaturesEqual(hmac(signingKey, sts).toString('hex'), signature)) return;
    first ??= { sts, canonicalRequest };
  }
  throw mismatch(accessKeyId, first!.sts, signature, first!.canonicalRequest);
}

function checkSkew(when: Date, now: Date): void {
  if (Math.abs(now.getTime() - when.getTime()) > MAX_SKEW_MS) {
    throw new S3Error('RequestTimeTooSkewed', undefined, {
      RequestTime: formatAmzDate(when),
      ServerTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }
}

function authenticatePresigned(
  req: SignedRequest,
  q: Map<string, string>,
  lookup: SecretLookup,
  expected: SigningScope,
  now: Date,
): AuthResult {
  const algorithm = q.get('X-Amz-Algorithm');
  const credential = q.get('X-Amz-Credential');
  const amzDateValue = q.get('X-Amz-Date');
  const expiresValue = q.get('X-Amz-Expires');
  const signedHeadersValue = q.get('X-Amz-SignedHeaders');
  const signature = q.get('X-Amz-Signature');
  if (
    algorithm === undefined ||
    credential === undefined ||
    amzDateValue === undefined ||
    expiresValue === undefined ||
    signedHeadersValue === undefined ||
    signature === undefined
  ) {
    throw queryError(
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== ALGORITHM) throw queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const cred = parseCredential(credential, true, expected);
  const when = parseAmzDate(amzDateValue);
  if (!when) throw queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  if (!/^-?\d+$/.test(expiresValue)) throw queryError('X-Amz-Expires should be a number');
  const expires = Number(expiresValue);
  if (expires < 0) throw queryError('X-Amz-Expires must be non-negative');
  if (expires > MAX_PRESIGN_EXPIRES) {
    throw queryError("X-Amz-Expires must be less than a week (in seconds) that's 7 days or 604800 seconds");
  }
  if (amzDateValue.slice(0, 8) !== cred.date) {
    throw queryError('Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  const signedHeaders = parseSignedHeaders(signedHeadersValue, true);

  const expiresAt = when.getTime() + expires * 1000;
  // A URL signed "in the future" (beyond the clock-skew allowance) is not valid yet; AWS reports the
  // signing time in epoch milliseconds here.
  if (when.getTime() - now.getTime() > MAX_SKEW_MS) {
    throw new S3Error('AccessDenied', 'Request is not yet valid', {
      'X-Amz-Date': String(when.getTime()),
      Expires: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ServerTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
  }
  if (now.getTime() > expiresAt) {
    throw new S3Error('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': expiresValue,
      Expires: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ServerTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
  }

  const secret = lookup(cred.accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: cred.accessKeyId });

  // The payload hash is UNSIGNED-PAYLOAD unless the signer put one in the query (or signed the header).
  let declared = q.get('X-Amz-Content-Sha256');
  if (declared === undefined && signedHeaders.includes('x-amz-content-sha256')) {
    declared = headerValue(req.headers, 'x-amz-content-sha256')?.trim();
  }
  declared ??= UNSIGNED_PAYLOAD;
  const payload = payloadModeOf(declared);
  if (!payload) throw invalidContentSha256();
  if (expected.service === 'kms' && payload !== 'signed') throw invalidContentSha256();

  const unsigned = unsignedAmzHeaders(req.headers, signedHeaders);
  if (unsigned.length > 0) {
    throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.join(', '),
    });
  }

  const signingKey = deriveSigningKey(secret, cred.date, cred.region, cred.service);
  const tail = `${canonicalQuery(req.rawQuery, 'X-Amz-Signature')}\n${canonicalHeaders(req.headers, signedHeaders)}\n${signedHeaders.join(';')}\n${declared}`;
  verifySignature(cred.accessKeyId, signingKey, amzDateValue, cred.scope, { method: req.method, rawPath: req.rawPath, tail }, signature);

  const result: AuthResult = {
    accessKeyId: cred.accessKeyId,
    service: cred.service,
    region: cred.region,
    presigned: true,
    payload,
    signatureDeferred: false,
  };
  if (payload === 'signed') result.contentSha256 = declared;
  return attachState(result, { signingKey, amzDate: amzDateValue, scope: cred.scope, seedSignature: signature });
}
