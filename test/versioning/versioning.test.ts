// Bucket versioning against a real `kura server`, with @aws-sdk/client-s3 and raw signed requests:
// Put/GetBucketVersioning, versions from PUT / Copy / multipart, delete markers, version ids on
// GET/HEAD/DELETE/copy sources, suspended-mode null versions, ListObjectVersions paging, DeleteObjects.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectsCommand,
  ListObjectVersionsCommand,
  GetBucketVersioningCommand,
  PutBucketVersioningCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  DeleteBucketCommand,
  type ListObjectVersionsCommandOutput,
} from '@aws-sdk/client-s3';
import { startKura, s3Error, rawRequest, xmlValue, type KuraServer } from '../helpers/server.ts';

const VERSION_ID = /^[0-9a-f]{32}$/;

const versioningXml = (body: string): string =>
  `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</VersioningConfiguration>`;

describe('kura server: bucket versioning', () => {
  let srv: KuraServer;
  let s3: S3Client;
  /** Data dir of a restarted server (startKura({ dataDir }) leaves it to the caller). */
  let restartedDir: string | undefined;

  async function bucketWith(name: string, status?: 'Enabled' | 'Suspended'): Promise<string> {
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    if (status) await s3.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: status } }));
    return name;
  }

  async function put(bucket: string, key: string, body: string): Promise<string | undefined> {
    return (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))).VersionId;
  }

  async function read(bucket: string, key: string, versionId?: string): Promise<string> {
    return (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).Body!.transformToString();
  }

  async function versionsOf(bucket: string, prefix?: string): Promise<[string, string, boolean, 'V' | 'M'][]> {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
    const all = [
      ...(r.Versions ?? []).map((v) => [v.Key!, v.VersionId!, v.IsLatest!, 'V', v.LastModified!] as const),
      ...(r.DeleteMarkers ?? []).map((v) => [v.Key!, v.VersionId!, v.IsLatest!, 'M', v.LastModified!] as const),
    ];
    // The SDK splits versions and markers; put them back in listing order (key, then newest first).
    const order = await rawRequest(srv, 'GET', `/${bucket}`, { query: { versions: '', ...(prefix ? { prefix } : {}) } });
    const ids = [...order.text.matchAll(/<VersionId>([^<]*)<\/VersionId>/g)].map((m) => m[1]);
    return ids.map((id) => {
      const e = all.find((a) => a[1] === id)!;
      return [e[0], e[1], e[2], e[3]];
    });
  }

  before(async () => {
    srv = await startKura();
    s3 = srv.client();
  });
  after(async () => {
    s3?.destroy();
    await srv?.stop();
    if (restartedDir) await rm(restartedDir, { recursive: true, force: true });
  });

  test('Put/GetBucketVersioning: Enabled, Suspended, never back to unversioned; AWS errors', async () => {
    const b = await bucketWith('vconf');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, undefined);
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended', MFADelete: 'Disabled' } }));
    const got = await s3.send(new GetBucketVersioningCommand({ Bucket: b }));
    assert.equal(got.Status, 'Suspended');
    assert.equal(got.MFADelete, 'Disabled');
    const raw = await rawRequest(srv, 'GET', `/${b}`, { query: { versioning: '' } });
    assert.equal(raw.status, 200);
    assert.equal(xmlValue(raw.text, 'Status'), 'Suspended');

    const put = (body: string, headers: Record<string, string> = {}): ReturnType<typeof rawRequest> =>
      rawRequest(srv, 'PUT', `/${b}`, { query: { versioning: '' }, body, headers });
    // There is no way back to "unversioned": other Status values are not in the schema.
    for (const status of ['Disabled', 'Off', 'enabled', '']) {
      const r = await put(versioningXml(`<Status>${status}</Status>`));
      assert.equal(r.status, 400, status);
      assert.equal(xmlValue(r.text, 'Code'), 'MalformedXML', status);
    }
    const empty = await put(versioningXml(''));
    assert.equal(empty.status, 400);
    assert.equal(xmlValue(empty.text, 'Code'), 'IllegalVersioningConfigurationException');
    const notXml = await put('<VersioningConfiguration><Status>Enabled</Status>');
    assert.equal(xmlValue(notXml.text, 'Code'), 'MalformedXML');
    const badMfa = await put(versioningXml('<Status>Enabled</Status><MfaDelete>Maybe</MfaDelete>'));
    assert.equal(xmlValue(badMfa.text, 'Code'), 'MalformedXML');
    const mfa = await put(versioningXml('<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>'));
    assert.equal(mfa.status, 501);
    assert.equal(xmlValue(mfa.text, 'Code'), 'NotImplemented');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Suspended', 'failed requests change nothing');

    const missing = await s3Error(
      s3.send(new PutBucketVersioningCommand({ Bucket: 'no-such-bucket-v', VersioningConfiguration: { Status: 'Enabled' } })),
    );
    assert.equal(missing.name, 'NoSuchBucket');
    // A never-versioned bucket may go straight to Suspended.
    const fresh = await bucketWith('vconf-fresh', 'Suspended');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: fresh }))).Status, 'Suspended');
  });

  test('Enabled: every PUT is a new version; GET/HEAD by version id; newest first, IsLatest', async () => {
    const b = await bucketWith('ven', 'Enabled');
    const v1 = await put(b, 'k', 'one');
    const v2 = await put(b, 'k', 'two');
    const v3 = await put(b, 'k', 'three');
    for (const v of [v1, v2, v3]) assert.match(v ?? '', VERSION_ID);
    assert.equal(new Set([v1, v2, v3]).size, 3);
    const latest = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
    assert.equal(latest.VersionId, v3);
    assert.equal(await latest.Body!.transformToString(), 'three');
    assert.equal(await read(b, 'k', v1), 'one');
    const h2 = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'k', VersionId: v2 }));
    assert.equal(h2.VersionId, v2);
    assert.equal(h2.ContentLength, 3);
    assert.deepEqual(await versionsOf(b), [
      ['k', v3, true, 'V'],
      ['k', v2, false, 'V'],
      ['k', v1, false, 'V'],
    ]);
    const list = await s3.send(new ListObjectVersionsCommand({ Bucket: b }));
    const md5 = (s: string): string => `"${createHash('md5').update(s).digest('hex')}"`;
    assert.deepEqual(
      list.Versions?.map((v) => [v.Size, v.ETag, v.StorageClass]),
      [
        [5, md5('three'), 'STANDARD'],
        [3, md5('two'), 'STANDARD'],
        [3, md5('one'), 'STANDARD'],
      ],
    );
    // Deleting a specific version removes only it; the next one becomes current.
    const del = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k', VersionId: v3 }));
    assert.equal(del.VersionId, v3);
    assert.equal(del.DeleteMarker, undefined);
    assert.equal(await read(b, 'k'), 'two');
    assert.deepEqual(await versionsOf(b), [
      ['k', v2, true, 'V'],
      ['k', v1, false, 'V'],
    ]);
    // Deleting it again (no longer there) is still a success.
    const again = await rawRequest(srv, 'DELETE', `/${b}/k`, { query: { versionId: v3! } });
    assert.equal(again.status, 204);
    assert.equal(again.headers['x-amz-version-id'], v3);
  });

  test('version ids: NoSuchVersion for unknown ones, InvalidArgument for malformed or empty ones', async () => {
    const b = await bucketWith('vids', 'Enabled');
    const v1 = await put(b, 'k', 'x');
    const unknown = 'f'.repeat(32);
    const r = await rawRequest(srv, 'GET', `/${b}/k`, { query: { versionId: unknown } });
    assert.equal(r.status, 404);
    assert.equal(xmlValue(r.text, 'Code'), 'NoSuchVersion');
    assert.equal(xmlValue(r.text, 'Key'), 'k');
    assert.equal(xmlValue(r.text, 'VersionId'), unknown);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'other', VersionId: v1 })))).name, 'NoSuchVersion');
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k', VersionId: 'null' })))).name, 'NoSuchVersion');
    assert.equal((await rawRequest(srv, 'HEAD', `/${b}/k`, { query: { versionId: unknown } })).status, 404);
    for (const bad of ['invalid_version_id', v1!.toUpperCase(), `${v1}0`, '']) {
      for (const method of ['GET', 'DELETE']) {
        const e = await rawRequest(srv, method, `/${b}/k`, { query: { versionId: bad } });
        assert.equal(e.status, 400, `${method} ${bad}`);
        assert.equal(xmlValue(e.text, 'Code'), 'InvalidArgument');
        assert.equal(xmlValue(e.text, 'ArgumentName'), 'versionId');
        assert.match(xmlValue(e.text, 'Message') ?? '', bad ? /Invalid version id specified/ : /Version id cannot be the empty string/);
      }
      assert.equal((await rawRequest(srv, 'HEAD', `/${b}/k`, { query: { versionId: bad } })).status, 400);
    }
    assert.equal(await read(b, 'k'), 'x', 'nothing was deleted');
  });

  test('delete markers: DELETE adds one; GET/HEAD 404 with x-amz-delete-marker; by version id 405; removing it restores', async () => {
    const b = await bucketWith('vdm', 'Enabled');
    const v1 = await put(b, 'doc', 'v1 body');
    const del = await rawRequest(srv, 'DELETE', `/${b}/doc`);
    assert.equal(del.status, 204);
    assert.equal(del.headers['x-amz-delete-marker'], 'true');
    const marker = del.headers['x-amz-version-id']!;
    assert.match(marker, VERSION_ID);

    const get = await rawRequest(srv, 'GET', `/${b}/doc`);
    assert.equal(get.status, 404);
    assert.equal(xmlValue(get.text, 'Code'), 'NoSuchKey');
    assert.equal(get.headers['x-amz-delete-marker'], 'true');
    assert.equal(get.headers['x-amz-version-id'], marker);
    const head = await rawRequest(srv, 'HEAD', `/${b}/doc`);
    assert.equal(head.status, 404);
    assert.equal(head.headers['x-amz-delete-marker'], 'true');

    for (const method of ['GET', 'HEAD']) {
      const byId = await rawRequest(srv, method, `/${b}/doc`, { query: { versionId: marker } });
      assert.equal(byId.status, 405, method);
      assert.equal(byId.headers['x-amz-delete-marker'], 'true');
      assert.equal(byId.headers['x-amz-version-id'], marker);
      assert.equal(byId.headers['allow'], 'DELETE');
      assert.ok(!Number.isNaN(Date.parse(byId.headers['last-modified'] ?? '')), 'Last-Modified of the marker');
      if (method === 'GET') {
        assert.equal(xmlValue(byId.text, 'Code'), 'MethodNotAllowed');
        assert.equal(xmlValue(byId.text, 'Method'), 'GET');
        assert.equal(xmlValue(byId.text, 'ResourceType'), 'DeleteMarker');
      }
    }
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc' })))).name, 'NoSuchKey');
    // The old version is still there, by id.
    assert.equal(await read(b, 'doc', v1), 'v1 body');
    // Listings hide the key; the versions listing shows the marker as latest.
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount, 0);
    assert.deepEqual(await versionsOf(b), [
      ['doc', marker, true, 'M'],
      ['doc', v1, false, 'V'],
    ]);
    // A second DELETE stacks another marker.
    const m2 = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'doc' }));
    assert.equal(m2.DeleteMarker, true);
    assert.notEqual(m2.VersionId, marker);
    assert.deepEqual(await versionsOf(b), [
      ['doc', m2.VersionId, true, 'M'],
      ['doc', marker, false, 'M'],
      ['doc', v1, false, 'V'],
    ]);
    // Removing markers by id: echoed with x-amz-delete-marker; the object is back.
    for (const m of [m2.VersionId!, marker]) {
      const undo = await rawRequest(srv, 'DELETE', `/${b}/doc`, { query: { versionId: m } });
      assert.equal(undo.status, 204);
      assert.equal(undo.headers['x-amz-delete-marker'], 'true');
      assert.equal(undo.headers['x-amz-version-id'], m);
    }
    const back = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'doc' }));
    assert.equal(back.VersionId, v1);
    assert.equal(await back.Body!.transformToString(), 'v1 body');
    // DELETE of a key that never existed still writes a marker.
    const ghost = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'ghost' }));
    assert.equal(ghost.DeleteMarker, true);
    assert.deepEqual(
      (await versionsOf(b, 'ghost')).map((v) => v.slice(1)),
      [[ghost.VersionId, true, 'M']],
    );
    // A bucket with versions or markers is not empty.
    assert.equal((await s3Error(s3.send(new DeleteBucketCommand({ Bucket: b })))).name, 'BucketNotEmpty');
  });

  test('CopyObject: source ?versionId=, x-amz-copy-source-version-id, a new version; delete-marker sources refused', async () => {
    const b = await bucketWith('vcopy', 'Enabled');
    const v1 = await put(b, 'src', 'first');
    const v2 = await put(b, 'src', 'second');
    const c = await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'dst', CopySource: `${b}/src?versionId=${v1}` }));
    assert.equal(c.CopySourceVersionId, v1);
    assert.match(c.VersionId ?? '', VERSION_ID);
    assert.equal(await read(b, 'dst', c.VersionId), 'first');
    const latest = await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'dst', CopySource: `${b}/src` }));
    assert.equal(latest.CopySourceVersionId, v2);
    assert.notEqual(latest.VersionId, c.VersionId);
    assert.equal(await read(b, 'dst'), 'second');
    // Restoring an old version onto itself is a legal copy and creates a new version.
    const restore = await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'src', CopySource: `${b}/src?versionId=${v1}` }));
    assert.equal(await read(b, 'src'), 'first');
    assert.deepEqual(
      (await versionsOf(b, 'src')).map((v) => v[1]),
      [restore.VersionId, v2, v1],
    );

    const marker = (await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'src' }))).VersionId!;
    assert.equal((await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src` })))).name, 'NoSuchKey');
    const fromMarker = await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src?versionId=${marker}` })));
    assert.equal(fromMarker.name, 'InvalidRequest');
    assert.equal(fromMarker.$metadata.httpStatusCode, 400);
    assert.equal(
      (await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src?versionId=${'0'.repeat(32)}` })))).name,
      'NoSuchVersion',
    );
    const invalid = await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src?versionId=invalid_versionId` })),
    );
    assert.equal(invalid.name, 'InvalidArgument');
    assert.equal(invalid.message, 'Invalid version id specified');
  });

  test('multipart: completion creates a version; UploadPartCopy from a version', async () => {
    const b = await bucketWith('vmp', 'Enabled');
    const v1 = await put(b, 'src', 'A'.repeat(1000));
    await put(b, 'src', 'B'.repeat(10));
    const before = await put(b, 'big', 'old');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'big' }));
    const p1 = await s3.send(
      new UploadPartCommand({ Bucket: b, Key: 'big', UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024, 7) }),
    );
    const p2 = await s3.send(
      new UploadPartCopyCommand({ Bucket: b, Key: 'big', UploadId, PartNumber: 2, CopySource: `${b}/src?versionId=${v1}` }),
    );
    assert.equal(p2.CopySourceVersionId, v1);
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: b,
        Key: 'big',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: p1.ETag },
            { PartNumber: 2, ETag: p2.CopyPartResult!.ETag },
          ],
        },
      }),
    );
    assert.match(done.VersionId ?? '', VERSION_ID);
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'big', VersionId: done.VersionId }));
    assert.equal(head.ContentLength, 5 * 1024 * 1024 + 1000);
    assert.equal(head.VersionId, done.VersionId);
    const tail = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'big', Range: 'bytes=-1000' }));
    assert.equal(await tail.Body!.transformToString(), 'A'.repeat(1000));
    assert.deepEqual(
      (await versionsOf(b, 'big')).map((v) => [v[1], v[2]]),
      [
        [done.VersionId, true],
        [before, false],
      ],
    );
    assert.equal(await read(b, 'big', before), 'old');
  });

  test('Suspended: writes replace only the null version; DELETE adds a null marker; the null version is named', async () => {
    const b = await bucketWith('vsus');
    const unversioned = await rawRequest(srv, 'PUT', `/${b}/k`, { body: 'a0' });
    assert.equal(unversioned.headers['x-amz-version-id'], undefined);
    assert.equal(
      (await rawRequest(srv, 'GET', `/${b}/k`)).headers['x-amz-version-id'],
      undefined,
      'never-versioned bucket: no version header',
    );
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    // The pre-versioning object is the null version, kept when new versions arrive.
    const nullGet = await rawRequest(srv, 'GET', `/${b}/k`);
    assert.equal(nullGet.headers['x-amz-version-id'], 'null');
    const v1 = await put(b, 'k', 'a1');
    assert.deepEqual(await versionsOf(b), [
      ['k', v1, true, 'V'],
      ['k', 'null', false, 'V'],
    ]);
    assert.equal(await read(b, 'k', 'null'), 'a0');

    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
    const p2 = await rawRequest(srv, 'PUT', `/${b}/k`, { body: 'a2' });
    assert.equal(p2.status, 200);
    assert.equal(p2.headers['x-amz-version-id'], undefined, 'PUT in a suspended bucket names no version');
    assert.deepEqual(await versionsOf(b), [
      ['k', 'null', true, 'V'],
      ['k', v1, false, 'V'],
    ]);
    const g2 = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' }));
    assert.equal(g2.VersionId, 'null');
    assert.equal(await g2.Body!.transformToString(), 'a2');
    await put(b, 'k', 'a3');
    assert.deepEqual(await versionsOf(b), [
      ['k', 'null', true, 'V'],
      ['k', v1, false, 'V'],
    ]);
    assert.equal(await read(b, 'k', 'null'), 'a3');
    assert.equal(await read(b, 'k', v1), 'a1');

    const del = await rawRequest(srv, 'DELETE', `/${b}/k`);
    assert.equal(del.status, 204);
    assert.equal(del.headers['x-amz-delete-marker'], 'true');
    assert.equal(del.headers['x-amz-version-id'], 'null');
    assert.deepEqual(await versionsOf(b), [
      ['k', 'null', true, 'M'],
      ['k', v1, false, 'V'],
    ]);
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).name, 'NoSuchKey');
    assert.equal((await rawRequest(srv, 'GET', `/${b}/k`, { query: { versionId: 'null' } })).status, 405);
    // Repeated suspended DELETEs keep a single null marker.
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }));
    assert.deepEqual(await versionsOf(b), [
      ['k', 'null', true, 'M'],
      ['k', v1, false, 'V'],
    ]);
    // A null write replaces the null marker.
    await put(b, 'k', 'a4');
    assert.deepEqual(await versionsOf(b), [
      ['k', 'null', true, 'V'],
      ['k', v1, false, 'V'],
    ]);

    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Enabled' } }));
    const v5 = await put(b, 'k', 'a5');
    assert.deepEqual(await versionsOf(b), [
      ['k', v5, true, 'V'],
      ['k', 'null', false, 'V'],
      ['k', v1, false, 'V'],
    ]);
    // Deleting the null version by id.
    const dn = await rawRequest(srv, 'DELETE', `/${b}/k`, { query: { versionId: 'null' } });
    assert.equal(dn.status, 204);
    assert.equal(dn.headers['x-amz-version-id'], 'null');
    assert.deepEqual(await versionsOf(b), [
      ['k', v5, true, 'V'],
      ['k', v1, false, 'V'],
    ]);
  });

  test('ListObjectVersions: prefix, delimiter, max-keys paging with key/version-id markers, encoding-type=url', async () => {
    const b = await bucketWith('vlist', 'Enabled');
    const keys = ['a', 'b/1', 'b/2', 'c d&é', 'e'];
    for (const k of keys) for (let i = 0; i < 3; i++) await put(b, k, `${k}:${i}`);
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'b/2' }));
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'e' }));
    const full = await versionsOf(b);
    assert.equal(full.length, 17);
    assert.deepEqual(
      full.filter((v) => v[2]).map((v) => [v[0], v[3]]),
      [
        ['a', 'V'],
        ['b/1', 'V'],
        ['b/2', 'M'],
        ['c d&é', 'V'],
        ['e', 'M'],
      ],
    );
    // The raw document interleaves <Version> and <DeleteMarker> in listing order.
    const raw = await rawRequest(srv, 'GET', `/${b}`, { query: { versions: '', prefix: 'b/2' } });
    assert.deepEqual(
      [...raw.text.matchAll(/<(Version|DeleteMarker)>/g)].map((m) => m[1]),
      ['DeleteMarker', 'Version', 'Version', 'Version'],
    );

    for (const maxKeys of [1, 2, 4, 7]) {
      const seen: string[] = [];
      let keyMarker: string | undefined;
      let versionIdMarker: string | undefined;
      let pages = 0;
      for (;;) {
        const page: ListObjectVersionsCommandOutput = await s3.send(
          new ListObjectVersionsCommand({ Bucket: b, MaxKeys: maxKeys, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
        );
        const n = (page.Versions?.length ?? 0) + (page.DeleteMarkers?.length ?? 0);
        assert.ok(n <= maxKeys);
        for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) seen.push(v.VersionId!);
        pages++;
        if (!page.IsTruncated) break;
        assert.ok(page.NextKeyMarker && page.NextVersionIdMarker, 'truncated pages carry both markers');
        keyMarker = page.NextKeyMarker;
        versionIdMarker = page.NextVersionIdMarker;
      }
      assert.deepEqual(seen.sort(), full.map((v) => v[1]).sort(), `max-keys ${maxKeys}`);
      assert.equal(pages, Math.ceil(17 / maxKeys));
    }
    // Continuing after a version deleted between pages still makes progress (ids order versions).
    const first = await s3.send(new ListObjectVersionsCommand({ Bucket: b, MaxKeys: 1 }));
    const gone = first.Versions![0]!;
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: gone.Key!, VersionId: gone.VersionId! }));
    const next = await s3.send(
      new ListObjectVersionsCommand({ Bucket: b, MaxKeys: 1, KeyMarker: first.NextKeyMarker, VersionIdMarker: first.NextVersionIdMarker }),
    );
    assert.equal(next.Versions?.[0]?.VersionId, full[1]![1]);
    // key-marker alone skips all versions of that key.
    const after = await s3.send(new ListObjectVersionsCommand({ Bucket: b, KeyMarker: 'b/2' }));
    assert.deepEqual([...new Set(after.Versions?.map((v) => v.Key))], ['c d&é', 'e']);

    const delim = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Delimiter: '/' }));
    assert.deepEqual(
      delim.CommonPrefixes?.map((p) => p.Prefix),
      ['b/'],
    );
    assert.deepEqual([...new Set(delim.Versions?.map((v) => v.Key))], ['a', 'c d&é', 'e']);
    const pre = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'b/', Delimiter: '/' }));
    assert.equal(pre.Versions?.length, 6);
    assert.equal(pre.DeleteMarkers?.length, 1);
    const cpPage = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Delimiter: '/', MaxKeys: 3 }));
    assert.equal(cpPage.IsTruncated, true);
    assert.equal(cpPage.NextKeyMarker, 'b/');
    const cpRest = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Delimiter: '/', KeyMarker: 'b/' }));
    assert.deepEqual([...new Set(cpRest.Versions?.map((v) => v.Key))], ['c d&é', 'e']);

    const enc = await rawRequest(srv, 'GET', `/${b}`, { query: { versions: '', 'encoding-type': 'url', prefix: 'c', 'max-keys': '1' } });
    assert.equal(xmlValue(enc.text, 'EncodingType'), 'url');
    assert.equal(xmlValue(enc.text, 'Key'), 'c+d%26%C3%A9');
    assert.equal(xmlValue(enc.text, 'NextKeyMarker'), 'c+d%26%C3%A9');
    const sdkEnc = await s3.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: 'c', EncodingType: 'url' }));
    assert.equal(sdkEnc.Versions?.[0]?.Key, 'c+d%26%C3%A9');

    const badMarker = await rawRequest(srv, 'GET', `/${b}`, { query: { versions: '', 'key-marker': 'a', 'version-id-marker': 'nope' } });
    assert.equal(badMarker.status, 400);
    assert.equal(xmlValue(badMarker.text, 'Code'), 'InvalidArgument');
    const noKey = await rawRequest(srv, 'GET', `/${b}`, { query: { versions: '', 'version-id-marker': full[0]![1] } });
    assert.equal(noKey.status, 400);
  });

  test('ListObjects v1/v2 show only current versions that are not delete markers', async () => {
    const b = await bucketWith('vlatest', 'Enabled');
    for (const k of ['d/x', 'd/y', 'keep', 'gone']) {
      await put(b, k, `${k}1`);
      await put(b, k, `${k}2`);
    }
    for (const k of ['d/x', 'd/y', 'gone']) await s3.send(new DeleteObjectCommand({ Bucket: b, Key: k }));
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: b }));
    assert.deepEqual(
      v2.Contents?.map((o) => [o.Key, o.Size]),
      [['keep', 5]],
    );
    const delim = await s3.send(new ListObjectsV2Command({ Bucket: b, Delimiter: '/' }));
    assert.equal(delim.CommonPrefixes, undefined, 'a prefix holding only deleted keys is not listed');
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: b }));
    assert.deepEqual(
      v1.Contents?.map((o) => o.Key),
      ['keep'],
    );
    // Keys hidden by markers neither fill a page nor make it truncated.
    const one = await s3.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 1 }));
    assert.deepEqual([one.Contents?.map((o) => o.Key), one.IsTruncated], [['keep'], false]);
  });

  test('DeleteObjects with version ids: Deleted entries with VersionId, DeleteMarker, DeleteMarkerVersionId', async () => {
    const b = await bucketWith('vmulti', 'Enabled');
    const a1 = await put(b, 'a', 'a1');
    await put(b, 'a', 'a2');
    await put(b, 'm', 'm1');
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket: b,
        Delete: { Objects: [{ Key: 'a', VersionId: a1 }, { Key: 'm' }, { Key: 'never' }, { Key: 'a', VersionId: 'bad-id' }] },
      }),
    );
    const byKey = new Map(r.Deleted?.map((d) => [`${d.Key}:${d.VersionId ?? ''}`, d]));
    assert.deepEqual({ ...byKey.get(`a:${a1}`) }, { Key: 'a', VersionId: a1 });
    const m = byKey.get('m:')!;
    assert.equal(m.DeleteMarker, true);
    assert.match(m.DeleteMarkerVersionId ?? '', VERSION_ID);
    assert.equal(byKey.get('never:')?.DeleteMarker, true);
    assert.deepEqual(
      r.Errors?.map((e) => [e.Key, e.VersionId, e.Code]),
      [['a', 'bad-id', 'InvalidArgument']],
    );
    assert.deepEqual(
      (await versionsOf(b, 'a')).map((v) => v[3]),
      ['V'],
    );
    assert.deepEqual(
      (await versionsOf(b, 'm')).map((v) => [v[1] === m.DeleteMarkerVersionId, v[3]]),
      [
        [true, 'M'],
        [false, 'V'],
      ],
    );
    // Removing the marker by id: DeleteMarker true and DeleteMarkerVersionId = the removed marker.
    const undo = await s3.send(
      new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'm', VersionId: m.DeleteMarkerVersionId }] } }),
    );
    assert.deepEqual(
      { ...undo.Deleted?.[0] },
      { Key: 'm', VersionId: m.DeleteMarkerVersionId, DeleteMarker: true, DeleteMarkerVersionId: m.DeleteMarkerVersionId },
    );
    assert.equal(await read(b, 'm'), 'm1');
    // Suspended: the marker is the null version.
    await s3.send(new PutBucketVersioningCommand({ Bucket: b, VersioningConfiguration: { Status: 'Suspended' } }));
    const sus = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'm' }] } }));
    assert.deepEqual({ ...sus.Deleted?.[0] }, { Key: 'm', DeleteMarker: true, DeleteMarkerVersionId: 'null' });
  });

  test('delete markers and versions survive a restart', async () => {
    const dataDir = srv.dataDir;
    const b = await bucketWith('vpersist', 'Enabled');
    const v1 = await put(b, 'k', 'kept');
    const marker = (await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))).VersionId;
    const expected = await versionsOf(b);
    s3.destroy();
    await srv.stop({ keepData: true });
    restartedDir = dataDir;
    srv = await startKura({ dataDir });
    s3 = srv.client();
    assert.deepEqual(await versionsOf(b), expected);
    assert.deepEqual(
      expected.map((v) => v[1]),
      [marker, v1],
    );
    assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'k' })))).name, 'NoSuchKey');
    assert.equal(await read(b, 'k', v1), 'kept');
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: b }))).Status, 'Enabled');
  });
});
