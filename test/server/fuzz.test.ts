// "No 500 for a client mistake": a few hundred malformed requests (bad XML bodies for every XML-taking
// operation, bad query parameters, ranges, dates, copy sources, subresources, bucket names, keys, version
// and upload ids, huge headers, broken aws-chunked bodies, broken signatures). Every answer must be a
// client error (4xx) or 501 with a well-formed S3 XML error body, or a success where S3 ignores the
// malformed input (e.g. an unparsable Range or If-Modified-Since); never a 5xx. The server stays up and
// logs no internal error.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { XMLValidator } from 'fast-xml-parser';
import { startKura, rawRequest, xmlValue, type KuraServer, type RawResponse } from '../helpers/server.ts';

interface Case {
  what: string;
  method: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  sign?: boolean;
}

const md5b64 = (b: string | Buffer): string => createHash('md5').update(b).digest('base64');

/** Requests with an XML body: each with Content-MD5 so the document itself is what gets judged. */
function xmlCases(uploadId: string): Case[] {
  const targets: Array<[string, string, string, Record<string, string>]> = [
    ['CreateBucket', 'PUT', '/fuzz-new-bucket', {}],
    ['DeleteObjects', 'POST', '/fuzz', { delete: '' }],
    ['CompleteMultipartUpload', 'POST', '/fuzz/mpu', { uploadId }],
    ['PutBucketVersioning', 'PUT', '/fuzz', { versioning: '' }],
    ['PutBucketEncryption', 'PUT', '/fuzz', { encryption: '' }],
  ];
  const deep = '<a>'.repeat(5000) + '</a>'.repeat(5000);
  const laughs =
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><Delete><Object><Key>&d;</Key></Object></Delete>';
  const bodies: Array<[string, string | Buffer]> = [
    ['not XML', 'this is not xml'],
    ['truncated', '<?xml version="1.0"?><Delete><Object><Key>a'],
    ['lone <', '<'],
    ['wrong root', '<Wrong><Thing/></Wrong>'],
    ['deeply nested', deep],
    ['entity expansion', laughs],
    [
      'external entity',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&e;</Key></Object></Delete>',
    ],
    [
      'invalid UTF-8',
      Buffer.from([
        0x3c, 0x44, 0x65, 0x6c, 0x65, 0x74, 0x65, 0x3e, 0xff, 0xfe, 0xc3, 0x28, 0x3c, 0x2f, 0x44, 0x65, 0x6c, 0x65, 0x74, 0x65, 0x3e,
      ]),
    ],
    ['empty Delete', '<Delete></Delete>'],
    ['Object without Key', '<Delete><Object><VersionId>x</VersionId></Object></Delete>'],
    ['Object with nested Key', '<Delete><Object><Key><Key>a</Key></Key></Object></Delete>'],
    ['bad version id', '<Delete><Object><Key>obj</Key><VersionId>../../etc</VersionId></Object></Delete>'],
    ['Quiet maybe', '<Delete><Quiet>maybe</Quiet><Object><Key>nothing</Key></Object></Delete>'],
    ['1001 objects', `<Delete>${'<Object><Key>k</Key></Object>'.repeat(1001)}</Delete>`],
    ['Part number abc', '<CompleteMultipartUpload><Part><PartNumber>abc</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>'],
    [
      'Part number huge',
      '<CompleteMultipartUpload><Part><PartNumber>99999999999999999999999</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>',
    ],
    ['Part number 0', '<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>'],
    ['Part without ETag', '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>'],
    [
      'Part with nested ETag',
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag><a>b</a></ETag></Part></CompleteMultipartUpload>',
    ],
    ['no Part', '<CompleteMultipartUpload></CompleteMultipartUpload>'],
    [
      'Part checksum garbage',
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag><ChecksumCRC32>!!</ChecksumCRC32></Part></CompleteMultipartUpload>',
    ],
    ['Status Bogus', '<VersioningConfiguration><Status>Bogus</Status></VersioningConfiguration>'],
    ['Status nested', '<VersioningConfiguration><Status><x/></Status><MfaDelete>Maybe</MfaDelete></VersioningConfiguration>'],
    ['empty VersioningConfiguration', '<VersioningConfiguration/>'],
    [
      'encryption algorithm bogus',
      '<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>ROT13</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>',
    ],
    ['encryption no rule', '<ServerSideEncryptionConfiguration></ServerSideEncryptionConfiguration>'],
    ['encryption nested rule', '<ServerSideEncryptionConfiguration><Rule><Rule/></Rule><Rule>x</Rule></ServerSideEncryptionConfiguration>'],
    [
      'LocationConstraint nested',
      '<CreateBucketConfiguration><LocationConstraint><a>b</a></LocationConstraint></CreateBucketConfiguration>',
    ],
    [
      'LocationConstraint us-east-1',
      '<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>',
    ],
    [
      'LocationConstraint repeated',
      '<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>',
    ],
    ['NUL bytes', '<Delete>\u0000\u0000</Delete>'],
  ];
  const out: Case[] = [];
  for (const [op, method, path, query] of targets) {
    for (const [what, body] of bodies)
      out.push({ what: `${op}: ${what}`, method, path, query, body, headers: { 'content-md5': md5b64(body) } });
    // The document's Content-MD5 wrong, or not base64.
    out.push({ what: `${op}: bad Content-MD5`, method, path, query, body: '<x/>', headers: { 'content-md5': md5b64('other') } });
    out.push({ what: `${op}: garbage Content-MD5`, method, path, query, body: '<x/>', headers: { 'content-md5': '@@@' } });
  }
  return out;
}

function queryCases(uploadId: string): Case[] {
  const out: Case[] = [];
  const ints = ['-1', 'abc', '1.5', '', '99999999999999999999', '2147483648', '-2147483649', '0x10', '1e3', ' 5'];
  for (const v of ints) {
    out.push({ what: `ListObjectsV2 max-keys=${v}`, method: 'GET', path: '/fuzz', query: { 'list-type': '2', 'max-keys': v } });
    out.push({ what: `ListObjects max-keys=${v}`, method: 'GET', path: '/fuzz', query: { 'max-keys': v } });
    out.push({ what: `ListObjectVersions max-keys=${v}`, method: 'GET', path: '/fuzz', query: { versions: '', 'max-keys': v } });
    out.push({ what: `ListMultipartUploads max-uploads=${v}`, method: 'GET', path: '/fuzz', query: { uploads: '', 'max-uploads': v } });
    out.push({ what: `ListParts max-parts=${v}`, method: 'GET', path: '/fuzz/mpu', query: { uploadId, 'max-parts': v } });
    out.push({ what: `ListParts part-number-marker=${v}`, method: 'GET', path: '/fuzz/mpu', query: { uploadId, 'part-number-marker': v } });
    out.push({ what: `ListBuckets max-buckets=${v}`, method: 'GET', path: '/', query: { 'max-buckets': v } });
  }
  for (const v of ['0', '10001', 'abc', '-1', '1.5', '', '99999999999999999999']) {
    out.push({ what: `UploadPart partNumber=${v}`, method: 'PUT', path: '/fuzz/mpu', query: { uploadId, partNumber: v }, body: 'part' });
    out.push({ what: `GetObject partNumber=${v}`, method: 'GET', path: '/fuzz/obj', query: { partNumber: v } });
    out.push({ what: `HeadObject partNumber=${v}`, method: 'HEAD', path: '/fuzz/obj', query: { partNumber: v } });
    out.push({
      what: `UploadPartCopy partNumber=${v}`,
      method: 'PUT',
      path: '/fuzz/mpu',
      query: { uploadId, partNumber: v },
      headers: { 'x-amz-copy-source': '/fuzz/obj' },
    });
  }
  for (const v of ['!!!', 'AAAA', Buffer.from('\u0000\u0001garbage').toString('base64'), 'x'.repeat(5000), '%ZZ']) {
    out.push({
      what: `ListObjectsV2 continuation-token=${v.slice(0, 20)}`,
      method: 'GET',
      path: '/fuzz',
      query: { 'list-type': '2', 'continuation-token': v },
    });
    out.push({ what: `ListBuckets continuation-token=${v.slice(0, 20)}`, method: 'GET', path: '/', query: { 'continuation-token': v } });
  }
  for (const [k, v] of [
    ['encoding-type', 'bogus'],
    ['encoding-type', ''],
    ['delimiter', 'x'.repeat(2000)],
    ['prefix', 'x'.repeat(3000)],
    ['start-after', '\u0000'],
    ['fetch-owner', 'maybe'],
    ['marker', 'x'.repeat(3000)],
  ] as const) {
    out.push({ what: `ListObjectsV2 ${k}`, method: 'GET', path: '/fuzz', query: { 'list-type': '2', [k]: v } });
    out.push({ what: `ListObjects ${k}`, method: 'GET', path: '/fuzz', query: { [k]: v } });
  }
  for (const v of ['3', 'abc', '']) out.push({ what: `list-type=${v}`, method: 'GET', path: '/fuzz', query: { 'list-type': v } });
  for (const [k, v] of [
    ['key-marker', '\u0000'],
    ['version-id-marker', 'garbage'],
    ['version-id-marker', '../../x'],
    ['upload-id-marker', '../../x'],
  ] as const) {
    out.push({ what: `ListObjectVersions ${k}=${v}`, method: 'GET', path: '/fuzz', query: { versions: '', 'key-marker': 'obj', [k]: v } });
    out.push({ what: `ListMultipartUploads ${k}=${v}`, method: 'GET', path: '/fuzz', query: { uploads: '', 'key-marker': 'mpu', [k]: v } });
  }
  for (const id of ['', 'garbage', '../../../etc/passwd', '..%2F..%2Fx', 'x'.repeat(2000), '\u0000', uploadId + 'x']) {
    out.push({
      what: `UploadPart uploadId=${id.slice(0, 20)}`,
      method: 'PUT',
      path: '/fuzz/mpu',
      query: { uploadId: id, partNumber: '1' },
      body: 'part',
    });
    out.push({ what: `ListParts uploadId=${id.slice(0, 20)}`, method: 'GET', path: '/fuzz/mpu', query: { uploadId: id } });
    out.push({
      what: `Complete uploadId=${id.slice(0, 20)}`,
      method: 'POST',
      path: '/fuzz/mpu',
      query: { uploadId: id },
      body: '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>',
    });
    out.push({ what: `Abort uploadId=${id.slice(0, 20)}`, method: 'DELETE', path: '/fuzz/other', query: { uploadId: id } });
  }
  for (const v of ['', 'garbage', '../../etc', 'x'.repeat(3000), '\u0000', 'null ', 'NULL']) {
    for (const method of ['GET', 'HEAD', 'DELETE'])
      out.push({ what: `${method} versionId=${v.slice(0, 20)}`, method, path: '/fuzz/obj', query: { versionId: v } });
    out.push({
      what: `CopyObject source versionId=${v.slice(0, 20)}`,
      method: 'PUT',
      path: '/fuzz/copy',
      headers: { 'x-amz-copy-source': `/fuzz/obj?versionId=${encodeURIComponent(v)}` },
    });
  }
  for (const [k, v] of [
    ['response-expires', 'garbage'],
    ['response-content-type', 'x'.repeat(5000)],
    ['response-cache-control', '\u0000'],
  ] as const) {
    out.push({ what: `GetObject ${k}`, method: 'GET', path: '/fuzz/obj', query: { [k]: v } });
  }
  return out;
}

function subresourceCases(): Case[] {
  const out: Case[] = [];
  const subs = [
    'acl',
    'torrent',
    'select',
    'restore',
    'tagging',
    'website',
    'cors',
    'policy',
    'lifecycle',
    'replication',
    'logging',
    'notification',
    'object-lock',
    'legal-hold',
    'retention',
    'attributes',
    'accelerate',
    'inventory',
    'metrics',
    'analytics',
    'ownershipControls',
    'publicAccessBlock',
    'requestPayment',
    'intelligent-tiering',
    'session',
    'renameObject',
    'bogus',
    'uploads&uploadId',
  ];
  for (const sub of subs) {
    const query = Object.fromEntries(sub.split('&').map((s) => [s, '']));
    for (const method of ['GET', 'PUT', 'POST', 'DELETE']) {
      out.push({
        what: `${method} bucket ?${sub}`,
        method,
        path: '/fuzz',
        query,
        body: method === 'PUT' || method === 'POST' ? '<x/>' : undefined,
      });
      out.push({
        what: `${method} object ?${sub}`,
        method,
        path: '/fuzz/sub',
        query,
        body: method === 'PUT' || method === 'POST' ? '<x/>' : undefined,
      });
    }
  }
  for (const method of ['PATCH', 'OPTIONS', 'MKCOL', 'PROPFIND']) {
    out.push({ what: `${method} object`, method, path: '/fuzz/obj' });
    out.push({ what: `${method} bucket`, method, path: '/fuzz' });
    out.push({ what: `${method} service`, method, path: '/' });
  }
  out.push({ what: 'PUT service', method: 'PUT', path: '/' });
  out.push({ what: 'DELETE service', method: 'DELETE', path: '/' });
  out.push({ what: 'POST service', method: 'POST', path: '/', body: 'x' });
  return out;
}

function headerCases(): Case[] {
  const out: Case[] = [];
  for (const r of [
    'bytes=abc',
    'bytes=5-1',
    'bytes=999999-',
    'bytes=-0',
    'bytes=0-0,5-6',
    'bytes=--1',
    'items=0-1',
    'bytes=1e3-2e3',
    'bytes=99999999999999999999-',
    'bytes=',
    'bytes=-99999999999999999999',
    'bytes= 1-2',
  ]) {
    out.push({ what: `GET Range ${r}`, method: 'GET', path: '/fuzz/obj', headers: { range: r } });
    out.push({
      what: `UploadPartCopy range ${r}`,
      method: 'PUT',
      path: '/fuzz/mpu',
      query: { uploadId: '%UPLOAD%', partNumber: '2' },
      headers: { 'x-amz-copy-source': '/fuzz/obj', 'x-amz-copy-source-range': r },
    });
  }
  for (const d of ['garbage', 'Mon, 99 Foo 9999 99:99:99 GMT', '', '0', '-1', '9'.repeat(40), 'Thu, 01 Jan 1970 00:00:00 GMT']) {
    for (const h of ['if-modified-since', 'if-unmodified-since']) {
      out.push({ what: `GET ${h}: ${d}`, method: 'GET', path: '/fuzz/obj', headers: { [h]: d } });
      out.push({ what: `HEAD ${h}: ${d}`, method: 'HEAD', path: '/fuzz/obj', headers: { [h]: d } });
      out.push({
        what: `copy x-amz-copy-source-${h}: ${d}`,
        method: 'PUT',
        path: '/fuzz/copy',
        headers: { 'x-amz-copy-source': '/fuzz/obj', [`x-amz-copy-source-${h}`]: d },
      });
    }
    out.push({ what: `PUT expires ${d}`, method: 'PUT', path: '/fuzz/exp', headers: { expires: d }, body: 'x' });
    out.push({ what: `x-amz-date ${d}`, method: 'GET', path: '/fuzz/obj', headers: { 'x-amz-date': d }, sign: false });
  }
  for (const v of ['', '***', '"', 'W/', ','.repeat(1000)]) {
    out.push({ what: `If-Match ${v.slice(0, 10)}`, method: 'GET', path: '/fuzz/obj', headers: { 'if-match': v } });
    out.push({ what: `If-None-Match ${v.slice(0, 10)}`, method: 'PUT', path: '/fuzz/inm', headers: { 'if-none-match': v }, body: 'x' });
  }
  for (const src of [
    '',
    '/',
    'nobucket',
    '/fuzz',
    '/fuzz/',
    '/fuzz/missing',
    '/no-such-bucket/obj',
    '%ZZ',
    `/fuzz/${'k'.repeat(2000)}`,
    '/fuzz/obj?versionId=',
    '/fuzz/obj?partNumber=1',
    'arn:aws:s3:::fuzz/obj',
    '/A_B/obj',
  ]) {
    out.push({ what: `CopyObject source ${src.slice(0, 20)}`, method: 'PUT', path: '/fuzz/copy', headers: { 'x-amz-copy-source': src } });
  }
  for (const [h, v] of [
    ['x-amz-metadata-directive', 'BOGUS'],
    ['x-amz-tagging-directive', 'BOGUS'],
    ['x-amz-storage-class', 'BOGUS'],
    ['x-amz-checksum-algorithm', 'MD4'],
    ['x-amz-checksum-type', 'PARTIAL'],
  ] as const) {
    out.push({ what: `CopyObject ${h}=${v}`, method: 'PUT', path: '/fuzz/copy', headers: { 'x-amz-copy-source': '/fuzz/obj', [h]: v } });
    out.push({ what: `CreateMultipartUpload ${h}=${v}`, method: 'POST', path: '/fuzz/mp2', query: { uploads: '' }, headers: { [h]: v } });
  }
  for (const [h, v] of [
    ['content-md5', '@@@'],
    ['content-md5', md5b64('other')],
    ['content-md5', ''],
    ['x-amz-checksum-crc32', '!!'],
    ['x-amz-checksum-crc32', 'AAAAAAA='],
    ['x-amz-checksum-crc64nvme', 'AAAA'],
    ['x-amz-checksum-sha256', 'x'.repeat(100)],
    ['x-amz-sdk-checksum-algorithm', 'MD4'],
    ['x-amz-trailer', 'x-amz-checksum-md4'],
    ['x-amz-trailer', 'x-amz-checksum-crc32'],
    ['x-amz-storage-class', 'BOGUS'],
    ['x-amz-acl', 'public-read-write-delete'],
    ['x-amz-server-side-encryption', 'ROT13'],
    ['x-amz-server-side-encryption', 'aws:kms'],
    ['x-amz-server-side-encryption-aws-kms-key-id', 'x'],
    ['x-amz-server-side-encryption-customer-algorithm', 'AES256'],
    ['x-amz-server-side-encryption-customer-key', '@@@'],
    ['x-amz-decoded-content-length', 'abc'],
    ['x-amz-decoded-content-length', '-1'],
    ['content-encoding', 'aws-chunked'],
    ['x-amz-object-lock-mode', 'GOVERNANCE'],
    ['x-amz-tagging', 'a=b'],
    ['x-amz-meta-big', 'v'.repeat(3000)],
    ['x-amz-website-redirect-location', '/x'],
    ['x-amz-expected-bucket-owner', 'garbage'],
    ['if-none-match', 'etag-not-star'],
  ] as const) {
    out.push({ what: `PutObject ${h}=${v.slice(0, 20)}`, method: 'PUT', path: '/fuzz/put', headers: { [h]: v }, body: 'some body' });
  }
  // Many metadata headers, each small: the total exceeds S3's 2 KiB.
  out.push({
    what: 'PutObject 200 metadata headers',
    method: 'PUT',
    path: '/fuzz/put',
    headers: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-amz-meta-m${i}`, 'value-value'])),
    body: 'x',
  });
  // aws-chunked bodies that do not parse.
  for (const [what, body] of [
    ['no size', 'zz\r\nabc\r\n0\r\n\r\n'],
    ['size too big', 'ffffffffffffffff\r\nabc'],
    ['truncated', '5\r\nab'],
    ['no final chunk', '3\r\nabc\r\n'],
    ['bad trailer', '3\r\nabc\r\n0\r\nx-amz-checksum-crc32:!!\r\n\r\n'],
    ['negative', '-3\r\nabc\r\n0\r\n\r\n'],
  ] as const) {
    out.push({
      what: `aws-chunked ${what}`,
      method: 'PUT',
      path: '/fuzz/chunked',
      body,
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '3',
        'x-amz-trailer': 'x-amz-checksum-crc32',
      },
    });
    out.push({
      what: `signed aws-chunked ${what}`,
      method: 'PUT',
      path: '/fuzz/chunked',
      body,
      headers: {
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '3',
      },
    });
  }
  out.push({
    what: 'x-amz-content-sha256 garbage',
    method: 'PUT',
    path: '/fuzz/put',
    headers: { 'x-amz-content-sha256': 'garbage' },
    body: 'x',
  });
  out.push({
    what: 'x-amz-content-sha256 unknown streaming',
    method: 'PUT',
    path: '/fuzz/put',
    headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' },
    body: 'x',
  });
  return out;
}

function nameCases(): Case[] {
  const out: Case[] = [];
  for (const b of [
    'A',
    'ab',
    'a'.repeat(64),
    'bad_bucket',
    '-abc',
    'abc-',
    '192.168.1.1',
    'xn--abc',
    'a..b',
    '%00abc',
    '%C3%A9t%C3%A9',
    'UPPER',
    'a%2Fb',
  ]) {
    out.push({ what: `CreateBucket ${b}`, method: 'PUT', path: `/${b}` });
    out.push({ what: `HeadBucket ${b}`, method: 'HEAD', path: `/${b}` });
    out.push({ what: `ListObjects ${b}`, method: 'GET', path: `/${b}` });
    out.push({ what: `DeleteBucket ${b}`, method: 'DELETE', path: `/${b}` });
    out.push({ what: `PutObject in ${b}`, method: 'PUT', path: `/${b}/k`, body: 'x' });
    out.push({ what: `GetObject in ${b}`, method: 'GET', path: `/${b}/k` });
  }
  for (const k of [
    'k'.repeat(1025),
    '%ZZ',
    '%00',
    '..%2F..%2Fetc%2Fpasswd',
    '%2E%2E%2F%2E%2E%2Fx',
    '%2E',
    '%2E%2E',
    'a%2F%2F%2Fb',
    '%EF%BF%BF',
    '%ED%A0%80',
    '%C0%AF',
  ]) {
    out.push({ what: `PutObject key ${k.slice(0, 24)}`, method: 'PUT', path: `/fuzz/${k}`, body: 'x' });
    out.push({ what: `GetObject key ${k.slice(0, 24)}`, method: 'GET', path: `/fuzz/${k}` });
    out.push({ what: `DeleteObject key ${k.slice(0, 24)}`, method: 'DELETE', path: `/fuzz/${k}` });
    out.push({ what: `CreateMultipartUpload key ${k.slice(0, 24)}`, method: 'POST', path: `/fuzz/${k}`, query: { uploads: '' } });
  }
  return out;
}

function authCases(): Case[] {
  const out: Case[] = [];
  for (const a of [
    'garbage',
    'AWS4-HMAC-SHA256',
    'AWS4-HMAC-SHA256 Credential=',
    'AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz',
    'AWS abc:def',
    'Bearer x',
    'AWS4-HMAC-SHA256 Credential=AKIA/20990101/us-east-1/s3/aws4_request, SignedHeaders=, Signature=' + '0'.repeat(64),
  ]) {
    out.push({
      what: `Authorization ${a.slice(0, 30)}`,
      method: 'GET',
      path: '/fuzz/obj',
      headers: { authorization: a, 'x-amz-date': '20250101T000000Z', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      sign: false,
    });
  }
  const presigned: Array<Record<string, string>> = [
    { 'X-Amz-Algorithm': 'MD5' },
    {
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'garbage',
      'X-Amz-Date': 'garbage',
      'X-Amz-Expires': 'abc',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': 'zz',
    },
    {
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'a/20250101/us-east-1/s3/aws4_request',
      'X-Amz-Date': '20250101T000000Z',
      'X-Amz-Expires': '-1',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': '0'.repeat(64),
    },
    {
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'a/20250101/us-east-1/s3/aws4_request',
      'X-Amz-Date': '20250101T000000Z',
      'X-Amz-Expires': '99999999999',
      'X-Amz-SignedHeaders': '',
      'X-Amz-Signature': '0'.repeat(64),
    },
    { 'X-Amz-Signature': 'only' },
    { AWSAccessKeyId: 'a', Signature: 'b', Expires: 'c' },
  ];
  for (const q of presigned)
    out.push({ what: `presigned ${JSON.stringify(q).slice(0, 40)}`, method: 'GET', path: '/fuzz/obj', query: q, sign: false });
  out.push({
    what: 'unsigned POST form with a bad body',
    method: 'POST',
    path: '/fuzz',
    headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    body: '--xyz\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--xyz--',
    sign: false,
  });
  out.push({
    what: 'unsigned POST form without boundary',
    method: 'POST',
    path: '/fuzz',
    headers: { 'content-type': 'multipart/form-data' },
    body: 'garbage',
    sign: false,
  });
  out.push({
    what: 'unsigned POST form truncated',
    method: 'POST',
    path: '/fuzz',
    headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
    sign: false,
  });
  return out;
}

/** A well-formed S3 error document: <Error> with Code, Message, RequestId. */
function assertS3Error(r: RawResponse, c: Case): void {
  const where = `${c.what}: ${r.status} ${r.text.slice(0, 300)}`;
  assert.ok(r.headers['content-type']?.includes('xml'), `content-type ${where}`);
  assert.equal(XMLValidator.validate(r.text), true, `XML ${where}`);
  assert.match(r.text, /^<\?xml[^>]*>\s*<Error>/, where);
  assert.match(xmlValue(r.text, 'Code') ?? '', /^[A-Za-z.]+$/, where);
  assert.ok(xmlValue(r.text, 'Message') !== undefined, where);
  assert.ok(xmlValue(r.text, 'RequestId'), where);
}

describe('no 500 for a client mistake', () => {
  let srv: KuraServer;
  let uploadId = '';

  before(async () => {
    srv = await startKura();
    assert.equal((await rawRequest(srv, 'PUT', '/fuzz')).status, 200);
    assert.equal((await rawRequest(srv, 'PUT', '/fuzz/obj', { body: 'hello world' })).status, 200);
    assert.equal((await rawRequest(srv, 'PUT', '/fuzz/keep', { body: 'untouched' })).status, 200);
    const created = await rawRequest(srv, 'POST', '/fuzz/mpu', { query: { uploads: '' } });
    uploadId = xmlValue(created.text, 'UploadId') ?? '';
    assert.ok(uploadId);
  });
  after(async () => {
    await srv.stop();
  });

  test('hundreds of malformed requests: 4xx/501 with an S3 XML error (or a success S3 also gives), never 5xx', async () => {
    const cases = [
      ...xmlCases(uploadId),
      ...queryCases(uploadId),
      ...subresourceCases(),
      ...headerCases(),
      ...nameCases(),
      ...authCases(),
    ].map((c) => (c.query?.uploadId === '%UPLOAD%' ? { ...c, query: { ...c.query, uploadId } } : c));
    assert.ok(cases.length >= 300, `${cases.length} cases`);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    // A few at a time: fast, and concurrent requests are part of the exercise.
    for (let i = 0; i < cases.length; i += 8) {
      await Promise.all(
        cases.slice(i, i + 8).map(async (c) => {
          let r: RawResponse;
          try {
            r = await rawRequest(srv, c.method, c.path, { query: c.query ?? {}, headers: c.headers ?? {}, body: c.body, sign: c.sign });
          } catch (e) {
            failures.push(`${c.what}: no answer (${String(e)}) ${srv.stderr().slice(-2000)}`);
            return;
          }
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          try {
            assert.ok(r.status < 500 || r.status === 501, `${c.what}: ${r.status} ${r.text.slice(0, 300)}`);
            if (r.status >= 400 && c.method !== 'HEAD') assertS3Error(r, c);
          } catch (e) {
            failures.push((e as Error).message.split('\n')[0]!);
          }
        }),
      );
    }
    // Every failing case at once, not just the first.
    assert.deepEqual(failures, []);
    // The exercise is mostly refusals (a lenient server that answers 200 to everything would fail here).
    const clientErrors = [...statuses].filter(([s]) => s >= 400).reduce((n, [, k]) => n + k, 0);
    assert.ok(clientErrors > cases.length * 0.8, JSON.stringify([...statuses]));
    // Still up, still right, and no internal error was logged along the way.
    const ok = await rawRequest(srv, 'GET', '/fuzz/keep').catch((e: unknown) =>
      assert.fail(`server gone (${String(e)}): ${srv.stderr().slice(-3000)}`),
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.text, 'untouched');
    const internal = srv.stdout.filter((l) => l.includes('"internal error"') || l.includes('unhandled request failure'));
    assert.deepEqual(internal, []);
  });

  test('specific answers: DTDs, absurd nesting, out-of-range integers, unrepresentable header overrides', async () => {
    const expect = async (c: Case, status: number, code: string): Promise<void> => {
      const r = await rawRequest(srv, c.method, c.path, { query: c.query ?? {}, headers: c.headers ?? {}, body: c.body });
      assert.equal(r.status, status, `${c.what}: ${r.text}`);
      assert.equal(xmlValue(r.text, 'Code'), code, c.what);
    };
    const xml = (body: string): Case => ({
      what: body.slice(0, 40),
      method: 'POST',
      path: '/fuzz',
      query: { delete: '' },
      body,
      headers: { 'content-md5': md5b64(body) },
    });
    await expect(
      xml('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "x">]><Delete><Object><Key>&a;</Key></Object></Delete>'),
      400,
      'MalformedXML',
    );
    await expect(xml('<Delete>' + '<a>'.repeat(20000) + '</a>'.repeat(20000) + '</Delete>'), 400, 'MalformedXML');
    await expect(
      { what: 'max-keys 2^31', method: 'GET', path: '/fuzz', query: { 'list-type': '2', 'max-keys': '2147483648' } },
      400,
      'InvalidArgument',
    );
    await expect(
      { what: 'max-uploads huge', method: 'GET', path: '/fuzz', query: { uploads: '', 'max-uploads': '99999999999999999999' } },
      400,
      'InvalidArgument',
    );
    await expect(
      {
        what: 'response-content-disposition with a control character',
        method: 'GET',
        path: '/fuzz/keep',
        query: { 'response-content-disposition': 'a\u0001b' },
      },
      400,
      'InvalidArgument',
    );
    await expect(
      {
        what: 'nested LocationConstraint',
        method: 'PUT',
        path: '/fuzz-nested-lc',
        body: '<CreateBucketConfiguration><LocationConstraint><a/></LocationConstraint></CreateBucketConfiguration>',
      },
      400,
      'MalformedXML',
    );
  });

  test('headers over the size limit: 400 RequestHeaderSectionTooLarge as XML, connection closed, server up', async () => {
    const url = new URL(srv.endpoint);
    const r = await new Promise<{ status: number; body: string; type?: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: '/fuzz/obj', method: 'GET', headers: { 'x-amz-meta-huge': 'h'.repeat(64 * 1024) } },
        (res) => {
          let body = '';
          res
            .setEncoding('utf8')
            .on('data', (d: string) => (body += d))
            .on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(r.status, 400);
    assert.equal(xmlValue(r.body, 'Code'), 'RequestHeaderSectionTooLarge');
    assert.equal(XMLValidator.validate(r.body), true);
    assert.equal((await fetch(`${srv.endpoint}/health`)).status, 200);
  });

  test('bytes that are not HTTP: 400 with an S3 XML error, server up', async () => {
    const url = new URL(srv.endpoint);
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(url.port), url.hostname, () => sock.end('GARBAGE / NOT-HTTP\r\n\u0001\u0002\r\n\r\n'));
      let got = '';
      sock
        .setEncoding('utf8')
        .on('data', (d: string) => (got += d))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    assert.equal(XMLValidator.validate(body), true, answer);
    assert.equal(xmlValue(body, 'Code'), 'BadRequest');
    assert.equal((await fetch(`${srv.endpoint}/health`)).status, 200);
  });
});
