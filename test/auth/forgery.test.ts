// An attacker who knows only an access key id (every presigned URL carries one) gets nothing: every S3
// route, every payload mode, presigned URLs and the KMS API refuse a forged or altered signature before
// any handler runs, and leave no trace. Run against a real `kura server` on loopback.
//
// The S3 routes are enumerated from the router's own table (ROUTES), so a route added later is covered
// by construction: the test fails if it cannot build a request that reaches a route.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { XMLParser } from 'fast-xml-parser';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketEncryptionCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { KMSClient, ListKeysCommand, ListAliasesCommand } from '@aws-sdk/client-kms';
import { ROUTES, matchRoute, type Route, type RouteProbe, type Scope } from '../../src/server/router.ts';
import { startKura, type KuraServer } from '../helpers/server.ts';
import { presign, signHeader, type RequestSpec } from './helpers.ts';

const BUCKET = 'victim';
const KEY = 'obj';
const MP_KEY = 'mp';
const REGION = 'us-east-1';

let srv: KuraServer;
let s3: S3Client;
let uploadId: string;
let host: string;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Reply> {
  const url = new URL(srv.endpoint);
  // A body always goes framed (a GET has no chunked default: unframed bytes would be a second, garbage request).
  if (body !== undefined && headers['content-length'] === undefined)
    headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    // A connection per request: a refused body left unread must not bleed into the next request.
    const req = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const xml = new XMLParser();

/** A refusal: the status, and for non-HEAD requests a well-formed S3 XML error with that code. */
function assertS3Refusal(r: Reply, method: string, codes: string[], statuses: number[], what: string): string | undefined {
  assert.ok(statuses.includes(r.status), `${what}: status ${r.status}, expected ${statuses.join('/')}: ${r.body.slice(0, 300)}`);
  if (method === 'HEAD') return undefined;
  assert.match(String(r.headers['content-type']), /application\/xml/, `${what}: content-type`);
  const doc = xml.parse(r.body) as { Error?: { Code?: string; Message?: string; RequestId?: string } };
  assert.ok(doc.Error, `${what}: no <Error> in ${r.body.slice(0, 200)}`);
  assert.ok(doc.Error.Code && codes.includes(doc.Error.Code), `${what}: code ${doc.Error.Code}, expected one of ${codes.join(', ')}`);
  assert.ok(doc.Error.Message, `${what}: no message`);
  assert.ok(doc.Error.RequestId, `${what}: no request id`);
  return doc.Error.Code;
}

function amzDate(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Everything a forged request could have changed, read with valid credentials. */
async function snapshot(): Promise<unknown> {
  const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name).sort();
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET }));
  const obj = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
  const body = sha256(Buffer.from(await obj.Body!.transformToByteArray()));
  const enc = (await s3.send(new GetBucketEncryptionCommand({ Bucket: BUCKET }))).ServerSideEncryptionConfiguration;
  const versioning = (await s3.send(new GetBucketVersioningCommand({ Bucket: BUCKET }))).Status ?? 'unset';
  const uploads = (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads?.map((u) => `${u.Key}:${u.UploadId}`).sort();
  const parts = (await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: MP_KEY, UploadId: uploadId }))).Parts?.map(
    (p) => `${p.PartNumber}:${p.ETag}`,
  );
  return {
    buckets,
    versions: versions.Versions?.map((v) => `${v.Key}:${v.VersionId}:${v.ETag}:${v.IsLatest}`),
    markers: versions.DeleteMarkers?.map((v) => `${v.Key}:${v.VersionId}`),
    body,
    etag: obj.ETag,
    sse: obj.ServerSideEncryption,
    enc: JSON.stringify(enc),
    versioning,
    uploads,
    parts,
  };
}

before(async () => {
  srv = await startKura();
  s3 = srv.client();
  host = new URL(srv.endpoint).host;
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: BUCKET,
      ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    }),
  );
  await s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'the plaintext an attacker wants', ServerSideEncryption: 'AES256' }),
  );
  uploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: MP_KEY }))).UploadId!;
  await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: MP_KEY, UploadId: uploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }));
});

after(async () => {
  await srv?.stop();
});

// ---------------------------------------------------------------------------------------------
// Every route of the table, forged under every scope

interface RouteRequest {
  route: Route;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
}

const PATHS: Record<Scope, string> = { service: '/', bucket: `/${BUCKET}`, object: `/${BUCKET}/${KEY}` };

/** The request shapes the router distinguishes: subresource, list-type, copy source, authenticated or not. */
function routeRequests(): RouteRequest[] {
  const out: RouteRequest[] = [];
  for (const route of ROUTES) {
    let found: RouteRequest | undefined;
    const extras: Record<string, string>[] = [{}, { 'list-type': '2' }];
    const headerSets: Record<string, string>[] = [{}, { 'x-amz-copy-source': `/${BUCKET}/${KEY}` }];
    for (const extra of extras) {
      for (const hdrs of headerSets) {
        for (const authenticated of [true, false]) {
          const query = new URLSearchParams(extra);
          if (route.sub) query.set(route.sub, route.sub === 'uploadId' ? uploadId : '');
          const probe: RouteProbe = {
            method: route.method,
            query,
            param: (n) => query.get(n) ?? undefined,
            header: (n) => hdrs[n],
            auth: authenticated ? ({} as RouteProbe['auth']) : undefined,
          };
          if (!found && matchRoute(ROUTES, probe, route.scope) === route) {
            const path = route.scope === 'object' && route.sub === 'uploadId' ? `/${BUCKET}/${MP_KEY}` : PATHS[route.scope];
            found = { route, method: route.method, path, query: query.toString().replace(/=(&|$)/g, '$1'), headers: hdrs };
          }
        }
      }
    }
    assert.ok(found, `no request shape reaches route ${route.method} ${route.scope} ${route.sub ?? ''}: extend routeRequests()`);
    out.push(found);
  }
  return out;
}

interface ForgedScope {
  name: string;
  service: string;
  region: string;
  /** The S3 error codes and statuses AWS answers with. */
  codes: string[];
  statuses: number[];
}

const SCOPES: ForgedScope[] = [
  { name: 's3', service: 's3', region: REGION, codes: ['SignatureDoesNotMatch'], statuses: [403] },
  ...['kms', 'sts', 'iam', 'frobnicate'].map((service) => ({
    name: service,
    service,
    region: REGION,
    codes: ['AuthorizationHeaderMalformed'],
    statuses: [400],
  })),
  { name: 'other region', service: 's3', region: 'eu-west-1', codes: ['AuthorizationHeaderMalformed'], statuses: [400] },
];

function forge(r: RouteRequest, scope: ForgedScope, body: Buffer | undefined, withContentSha: boolean): Record<string, string> {
  const date = amzDate();
  const headers: Record<string, string> = { host, 'x-amz-date': date, ...r.headers };
  if (withContentSha) headers['x-amz-content-sha256'] = sha256(body ?? '');
  if (body) headers['content-length'] = String(body.length);
  const signed = Object.keys(headers)
    .filter((h) => h === 'host' || h.startsWith('x-amz-'))
    .sort()
    .join(';');
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${srv.credentials.accessKeyId}/${date.slice(0, 8)}/${scope.region}/${scope.service}/aws4_request, ` +
    `SignedHeaders=${signed}, Signature=${randomBytes(32).toString('hex')}`;
  return headers;
}

describe('forged signatures on every S3 route', () => {
  test('every route, with and without a body and x-amz-content-sha256, under every scope: refused, no side effect', async () => {
    const requests = routeRequests();
    assert.equal(requests.length, ROUTES.length);
    const before = await snapshot();
    let sent = 0;
    for (const r of requests) {
      for (const scope of SCOPES) {
        for (const body of [undefined, Buffer.from('<Delete><Object><Key>obj</Key></Object></Delete>')]) {
          for (const withContentSha of [true, false]) {
            const what = `${r.method} ${r.path}?${r.query} (${scope.name}, body ${!!body}, sha ${withContentSha})`;
            const res = await send(r.method, r.query ? `${r.path}?${r.query}` : r.path, forge(r, scope, body, withContentSha), body);
            // S3 insists on x-amz-content-sha256 before looking at the signature (400 InvalidRequest).
            const ok =
              withContentSha || scope.codes[0] !== 'SignatureDoesNotMatch'
                ? scope
                : { ...scope, codes: ['InvalidRequest'], statuses: [400] };
            assertS3Refusal(res, r.method, ok.codes, ok.statuses, what);
            sent++;
          }
        }
      }
    }
    assert.equal(sent, ROUTES.length * SCOPES.length * 4);
    assert.deepEqual(await snapshot(), before);
  });

  test("the issue's reproduction: ListBuckets signed for 'kms' with a made-up signature", async () => {
    const date = amzDate();
    const res = await send('GET', '/', {
      host,
      'x-amz-date': date,
      authorization: `AWS4-HMAC-SHA256 Credential=${srv.credentials.accessKeyId}/${date.slice(0, 8)}/${REGION}/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`,
    });
    assertS3Refusal(res, 'GET', ['AuthorizationHeaderMalformed'], [400], 'kms-scoped ListBuckets');
    assert.doesNotMatch(res.body, new RegExp(BUCKET));
    const doc = xml.parse(res.body) as { Error: { Message: string } };
    assert.equal(doc.Error.Message, 'The authorization header is malformed; incorrect service "kms". This endpoint uses "s3".');
  });

  test('another region: AuthorizationHeaderMalformed naming the expected region', async () => {
    const date = amzDate();
    const res = await send('GET', `/${BUCKET}/${KEY}`, {
      host,
      'x-amz-date': date,
      'x-amz-content-sha256': sha256(''),
      authorization: `AWS4-HMAC-SHA256 Credential=${srv.credentials.accessKeyId}/${date.slice(0, 8)}/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00`,
    });
    assertS3Refusal(res, 'GET', ['AuthorizationHeaderMalformed'], [400], 'other region');
    const doc = xml.parse(res.body) as { Error: { Message: string; Region: string } };
    assert.equal(doc.Error.Message, "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'");
    assert.equal(doc.Error.Region, 'us-east-1');
  });
});

// ---------------------------------------------------------------------------------------------
// A correctly signed request, then one change to a signed part

interface WireRequest {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Operation {
  name: string;
  spec: (key: string) => RequestSpec;
  /** The status of the unaltered request. */
  okStatus: number;
}

const DELETE_BODY = (key: string) => Buffer.from(`<Delete><Object><Key>${key}</Key></Object></Delete>`);

const OPERATIONS: Operation[] = [
  { name: 'GetObject', spec: (key) => ({ method: 'GET', path: `/${BUCKET}/${key}` }), okStatus: 200 },
  { name: 'HeadObject', spec: (key) => ({ method: 'HEAD', path: `/${BUCKET}/${key}` }), okStatus: 200 },
  { name: 'PutObject', spec: (key) => ({ method: 'PUT', path: `/${BUCKET}/${key}-new`, body: 'written by a forger' }), okStatus: 200 },
  { name: 'DeleteObject', spec: (key) => ({ method: 'DELETE', path: `/${BUCKET}/${key}` }), okStatus: 204 },
  {
    name: 'DeleteObjects',
    spec: (key) => ({
      method: 'POST',
      path: `/${BUCKET}`,
      query: { delete: '' },
      body: DELETE_BODY(key),
      headers: { 'content-md5': createHash('md5').update(DELETE_BODY(key)).digest('base64') },
    }),
    okStatus: 200,
  },
];

async function signed(op: Operation, key: string, presigned: boolean): Promise<WireRequest> {
  const spec = op.spec(key);
  spec.host = host;
  spec.headers = { ...spec.headers, 'x-amz-meta-note': 'signed value' };
  if (op.name === 'GetObject' || op.name === 'HeadObject' || op.name === 'DeleteObject') delete spec.headers['x-amz-meta-note'];
  const creds = { accessKeyId: srv.credentials.accessKeyId, secret: srv.credentials.secretAccessKey };
  const req = presigned ? await presign(spec, new Date(), 600, creds) : await signHeader(spec, new Date(), creds);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
  return { method: req.method, rawPath: req.rawPath, rawQuery: req.rawQuery, headers, body };
}

function sendWire(w: WireRequest): Promise<Reply> {
  return send(w.method, w.rawQuery ? `${w.rawPath}?${w.rawQuery}` : w.rawPath, w.headers, w.body);
}

type Mutation = (w: WireRequest, rnd: number) => WireRequest | undefined;

function flipHex(s: string, rnd: number): string {
  const i = rnd % s.length;
  return s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);
}

function replaceQueryParam(rawQuery: string, name: string, f: (v: string) => string): string {
  return rawQuery
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      return (eq < 0 ? p : p.slice(0, eq)) === name ? `${name}=${f(eq < 0 ? '' : p.slice(eq + 1))}` : p;
    })
    .join('&');
}

function editCredential(w: WireRequest, f: (parts: string[]) => void): WireRequest {
  if (w.headers.authorization) {
    const m = /Credential=([^,]+)/.exec(w.headers.authorization)!;
    const parts = m[1]!.split('/');
    f(parts);
    return { ...w, headers: { ...w.headers, authorization: w.headers.authorization.replace(m[1]!, parts.join('/')) } };
  }
  return {
    ...w,
    rawQuery: replaceQueryParam(w.rawQuery, 'X-Amz-Credential', (v) => {
      const parts = decodeURIComponent(v).split('/');
      f(parts);
      return encodeURIComponent(parts.join('/'));
    }),
  };
}

const MUTATIONS: Record<string, Mutation> = {
  method: (w, rnd) => {
    const others = ['GET', 'HEAD', 'PUT', 'DELETE', 'POST'].filter((m) => m !== w.method);
    return { ...w, method: others[rnd % others.length]! };
  },
  path: (w, rnd) => ({ ...w, rawPath: rnd % 2 ? `${w.rawPath}x` : w.rawPath.replace(`/${BUCKET}`, `/${BUCKET}2`) }),
  'query parameter': (w, rnd) => {
    if (rnd % 2 && w.rawQuery) {
      const [first] = w.rawQuery.split('&');
      const name = first!.split('=')[0]!;
      if (name !== 'X-Amz-Signature') return { ...w, rawQuery: replaceQueryParam(w.rawQuery, name, (v) => `${v}0`) };
    }
    return { ...w, rawQuery: w.rawQuery ? `${w.rawQuery}&versionId=null` : 'versionId=null' };
  },
  'signed header': (w, rnd) => {
    if (w.headers['x-amz-meta-note'] !== undefined) return { ...w, headers: { ...w.headers, 'x-amz-meta-note': `altered ${rnd}` } };
    if (w.headers.authorization) return { ...w, headers: { ...w.headers, 'x-amz-content-sha256': sha256(`x${rnd}`) } };
    return { ...w, headers: { ...w.headers, host: `localhost:${host.split(':')[1]}` } };
  },
  date: (w, rnd) => {
    const shift = 1 + (rnd % 600);
    if (w.headers['x-amz-date']) {
      const t = new Date(
        Date.parse(w.headers['x-amz-date'].replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - shift * 1000,
      );
      return { ...w, headers: { ...w.headers, 'x-amz-date': amzDate(t) } };
    }
    return {
      ...w,
      rawQuery: replaceQueryParam(w.rawQuery, 'X-Amz-Date', (v) => {
        const t = new Date(Date.parse(v.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - shift * 1000);
        return amzDate(t);
      }),
    };
  },
  scope: (w, rnd) =>
    editCredential(w, (parts) => {
      const n = parts.length;
      const which = rnd % 3;
      if (which === 0) {
        const others = ['s3', 'kms', 'sts', 'iam', 'S3'].filter((x) => x !== parts[n - 2]);
        parts[n - 2] = others[rnd % others.length]!;
      } else if (which === 1) parts[n - 3] = 'us-west-2';
      else parts[n - 1] = 'aws4_requests';
    }),
  signature: (w, rnd) => {
    if (w.headers.authorization) {
      return {
        ...w,
        headers: {
          ...w.headers,
          authorization: w.headers.authorization.replace(/Signature=([0-9a-f]+)/, (_m, s: string) => `Signature=${flipHex(s, rnd)}`),
        },
      };
    }
    return { ...w, rawQuery: replaceQueryParam(w.rawQuery, 'X-Amz-Signature', (s) => flipHex(s, rnd)) };
  },
  body: (w, rnd) => {
    if (!w.body || w.body.length === 0 || !w.headers.authorization) return undefined;
    const body = Buffer.from(w.body);
    const i = rnd % body.length;
    body[i] = body[i]! ^ (1 + (rnd % 255));
    return { ...w, body };
  },
};

describe('one change to a signed request', () => {
  test('control: the unaltered requests succeed (header-signed and presigned)', async () => {
    for (const presigned of [false, true]) {
      for (const op of OPERATIONS) {
        const key = `control-${op.name}-${presigned}`;
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'control' }));
        // Presigned URLs carry no body hash: DeleteObjects needs a signed body, so its presigned form is skipped.
        if (presigned && op.name === 'DeleteObjects') continue;
        const res = await sendWire(await signed(op, key, presigned));
        assert.equal(res.status, op.okStatus, `${op.name} presigned=${presigned}: ${res.body.slice(0, 300)}`);
      }
    }
  });

  test('property: any one change to method, path, query, signed header, date, scope, signature or body is refused', async () => {
    const before = await snapshot();
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...OPERATIONS),
        fc.constantFrom(...Object.keys(MUTATIONS)),
        fc.boolean(),
        fc.nat(),
        async (op, mutation, presigned, rnd) => {
          if (presigned && op.name === 'DeleteObjects') return;
          const w = await signed(op, KEY, presigned);
          const altered = MUTATIONS[mutation]!(w, rnd);
          if (!altered) return;
          tried++;
          const what = `${op.name} presigned=${presigned} ${mutation}: ${altered.method} ${altered.rawPath}?${altered.rawQuery}`;
          const res = await sendWire(altered).catch((e: Error) => assert.fail(`${what}: ${e.message} ${JSON.stringify(altered.headers)}`));
          assert.ok(
            res.status === 400 || res.status === 403 || res.status === 405,
            `${what}: expected a refusal, got ${res.status} ${res.body.slice(0, 300)}`,
          );
          if (altered.method !== 'HEAD' && res.status !== 405) {
            assert.match(res.body, /^<\?xml[^>]*>\s*<Error><Code>[A-Za-z0-9]+<\/Code><Message>/, `${what}: ${res.body.slice(0, 200)}`);
          }
        },
      ),
      {
        numRuns: 160,
        reporter: (out) => {
          if (out.failed) console.error(out.errorInstance);
        },
      },
    );
    assert.ok(tried > 100, `only ${tried} altered requests were sent`);
    // Nothing was written, deleted or read into existence: objects, versions, uploads as before.
    const after = (await snapshot()) as { versions: string[] };
    const was = before as { versions: string[] };
    assert.deepEqual({ ...after, versions: undefined }, { ...was, versions: undefined });
    assert.deepEqual(
      after.versions.filter((v) => !v.startsWith('control-')),
      was.versions.filter((v) => !v.startsWith('control-')),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Presigned URLs under a foreign scope

describe('presigned URLs', () => {
  for (const scope of SCOPES.slice(1)) {
    test(`signed for ${scope.name}: AuthorizationQueryParametersError, nothing served`, async () => {
      const w = await signed(OPERATIONS[0]!, KEY, true);
      const altered = editCredential(w, (parts) => {
        parts[parts.length - 2] = scope.service;
        parts[parts.length - 3] = scope.region;
      });
      const res = await sendWire(altered);
      assertS3Refusal(res, 'GET', ['AuthorizationQueryParametersError'], [400], `presigned ${scope.name}`);
      assert.doesNotMatch(res.body, /plaintext an attacker wants/);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The KMS API: only 'kms' in the scope, the body always covered by the signature

describe('KMS API', () => {
  let kms: KMSClient;
  const kmsSpec = (target: string, body: string): RequestSpec => ({
    method: 'POST',
    path: '/',
    host,
    headers: { 'x-amz-target': `TrentService.${target}`, 'content-type': 'application/x-amz-json-1.1' },
    body,
  });

  before(() => {
    kms = new KMSClient({ endpoint: srv.endpoint, region: REGION, credentials: srv.credentials });
  });

  async function keyCount(): Promise<number> {
    return (await kms.send(new ListKeysCommand({}))).Keys?.length ?? 0;
  }

  async function kmsSigned(
    target: string,
    body: string,
    opts: { service?: string; region?: string; checksum?: boolean } = {},
  ): Promise<WireRequest> {
    const req = await signHeader(kmsSpec(target, body), new Date(), {
      accessKeyId: srv.credentials.accessKeyId,
      secret: srv.credentials.secretAccessKey,
      service: opts.service ?? 'kms',
      region: opts.region ?? REGION,
      applyChecksum: opts.checksum ?? false,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
    return { method: 'POST', rawPath: '/', rawQuery: '', headers, body: Buffer.from(body) };
  }

  function kmsType(r: Reply): string {
    return String((JSON.parse(r.body) as { __type?: string }).__type);
  }

  test('control: correctly signed requests work, with and without x-amz-content-sha256', async () => {
    const before = await keyCount();
    for (const checksum of [false, true]) {
      const res = await sendWire(await kmsSigned('CreateKey', '{"Description":"control"}', { checksum }));
      assert.equal(res.status, 200, res.body);
    }
    assert.equal(await keyCount(), before + 2);
  });

  test('a request signed for another service or region, or forged, is refused and creates nothing', async () => {
    const before = await keyCount();
    const aliases = (await kms.send(new ListAliasesCommand({}))).Aliases?.length;
    for (const [service, region] of [
      ['s3', REGION],
      ['sts', REGION],
      ['iam', REGION],
      ['frobnicate', REGION],
      ['kms', 'eu-west-1'],
    ] as const) {
      const res = await sendWire(await kmsSigned('CreateKey', '{}', { service, region }));
      assert.equal(res.status, 400, res.body);
      assert.equal(kmsType(res), 'InvalidSignatureException', `${service}/${region}: ${res.body}`);
      assert.match(res.body, service === 'kms' ? /valid region/ : /correct service: 'kms'/);
    }
    const forged = await kmsSigned('CreateKey', '{}');
    forged.headers.authorization = forged.headers.authorization!.replace(
      /Signature=[0-9a-f]+/,
      `Signature=${randomBytes(32).toString('hex')}`,
    );
    const res = await sendWire(forged);
    assert.equal(res.status, 400);
    assert.equal(kmsType(res), 'InvalidSignatureException');
    assert.equal(await keyCount(), before);
    assert.equal((await kms.send(new ListAliasesCommand({}))).Aliases?.length, aliases);
  });

  test('UNSIGNED-PAYLOAD and streaming payloads are refused: the body must be signed', async () => {
    const before = await keyCount();
    for (const declared of ['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']) {
      const spec = kmsSpec('CreateKey', '{}');
      spec.headers = { ...spec.headers, 'x-amz-content-sha256': declared };
      const req = await signHeader(spec, new Date(), {
        accessKeyId: srv.credentials.accessKeyId,
        secret: srv.credentials.secretAccessKey,
        service: 'kms',
        applyChecksum: false,
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = String(v);
      const res = await send('POST', '/', headers, '{}');
      assert.equal(res.status, 400, `${declared}: ${res.body}`);
      assert.equal(kmsType(res), 'InvalidSignatureException', `${declared}: ${res.body}`);
    }
    assert.equal(await keyCount(), before);
  });

  test('property: any one change to a signed KMS request is refused and creates no key', async () => {
    const before = await keyCount();
    const kmsMutations: Record<string, Mutation> = {
      target: (w) => ({ ...w, headers: { ...w.headers, 'x-amz-target': 'TrentService.CreateAlias' } }),
      path: (w) => ({ ...w, rawPath: '/x' }),
      'query parameter': (w) => ({ ...w, rawQuery: 'a=b' }),
      date: MUTATIONS.date!,
      scope: MUTATIONS.scope!,
      signature: MUTATIONS.signature!,
      body: (w, rnd) => {
        const body = Buffer.from(w.body!);
        const i = rnd % body.length;
        body[i] = body[i] === 0x20 ? 0x09 : 0x20;
        return { ...w, body, headers: { ...w.headers, 'content-length': String(body.length) } };
      },
    };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(kmsMutations)), fc.boolean(), fc.nat(), async (mutation, checksum, rnd) => {
        const w = await kmsSigned('CreateKey', '{"Description": "made by a forger"}', { checksum });
        const res = await sendWire(kmsMutations[mutation]!(w, rnd)!);
        assert.ok(res.status >= 400 && res.status < 500, `${mutation} checksum=${checksum}: ${res.status} ${res.body}`);
      }),
      {
        numRuns: 60,
        reporter: (out) => {
          if (out.failed) console.error(out.errorInstance);
        },
      },
    );
    assert.equal(await keyCount(), before);
  });
});
