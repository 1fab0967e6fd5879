// POST object: the browser-form upload (multipart/form-data). The form carries the key, a SigV4-signed
// policy (verifyPostPolicy), metadata and SSE fields; the file part comes last (later fields are ignored, as
// AWS does). The body streams straight from the form into the object data path (encryption included).
import busboy from 'busboy';
import type { Readable } from 'node:stream';
import type { ObjectMeta } from '../../storage/backend.ts';
import type { RequestContext } from '../context.ts';
import { S3Error } from '../errors.ts';
import { verifyPostPolicy } from '../../sigv4/post-policy.ts';
import { MAX_PUT_SIZE, STORED_HEADERS, checkKey, quoteEtag } from '../http-util.ts';
import { toXml } from '../../protocol/xml.ts';

/** A POST to a bucket carrying a form: served without header authentication (the policy is the auth). */
export function isPostObjectForm(method: string | undefined, contentType: string | undefined): boolean {
  return method === 'POST' && /^multipart\/form-data\s*;/i.test(contentType ?? '');
}

const MAX_USER_METADATA = 2 * 1024;

interface FormFile {
  stream: Readable;
  filename: string;
}

/** Reads the form up to the file part: the fields before it, and the file stream. */
function readForm(ctx: RequestContext): Promise<{ fields: Record<string, string>; file?: FormFile; done: Promise<void> }> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({ headers: ctx.req.headers, limits: { fieldSize: 1024 * 1024, fields: 200, files: 1, parts: 250 } });
  } catch {
    throw new S3Error('MalformedPOSTRequest');
  }
  const fields: Record<string, string> = {};
  let settled = false;
  const done = new Promise<void>((resolve) => bb.once('close', () => resolve()));
  return new Promise((resolve, reject) => {
    bb.on('field', (name: string, value: string) => {
      const n = name.toLowerCase();
      if (!settled && !(n in fields)) fields[n] = value;
    });
    bb.on('file', (name: string, stream: Readable, info: { filename?: string }) => {
      // A truncated form fails the file stream ("Unexpected end of form"): whoever reads it sees the
      // error; unread (a refused policy, an ignored part), it must not become an uncaught exception.
      stream.on('error', () => {});
      if (settled || name.toLowerCase() !== 'file') {
        stream.resume();
        return;
      }
      settled = true;
      resolve({ fields, file: { stream, filename: info.filename ?? '' }, done });
    });
    bb.once('error', () => {
      if (!settled) reject(new S3Error('MalformedPOSTRequest'));
      settled = true;
    });
    bb.once('close', () => {
      if (!settled) resolve({ fields, done });
      settled = true;
    });
    ctx.req.pipe(bb);
  });
}

export async function postObject(ctx: RequestContext): Promise<void> {
  ctx.operation = 'PostObject';
  const bucket = ctx.bucketName;
  await ctx.backend.getBucket(bucket);
  const { fields, file, done } = await readForm(ctx);
  if (!file) {
    throw new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', {
      ArgumentName: 'file',
      ArgumentValue: '0',
    });
  }
  let ingested = false;
  try {
    if (fields['key'] === undefined) {
      throw new S3Error(
        'InvalidArgument',
        "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        { ArgumentName: 'key', ArgumentValue: '' },
      );
    }
    const key = fields['key'].replaceAll('${filename}', file.filename);
    checkKey(key);
    ctx.key = key;
    const policy = verifyPostPolicy({ ...fields, key, bucket }, ctx.services.lookupSecret, ctx.services.config.region);
    for (const f of ['x-amz-tagging', 'tagging', 'x-amz-website-redirect-location']) {
      if (fields[f] !== undefined) throw new S3Error('NotImplemented', `${f} is not implemented`);
    }
    const acl = fields['acl'];
    if (acl !== undefined && acl !== 'private' && acl !== 'bucket-owner-full-control')
      throw new S3Error('NotImplemented', 'ACLs other than private are not implemented');

    const userMetadata: Record<string, string> = {};
    let metaSize = 0;
    for (const [name, value] of Object.entries(fields)) {
      if (!name.startsWith('x-amz-meta-')) continue;
      userMetadata[name.slice('x-amz-meta-'.length)] = value;
      metaSize += Buffer.byteLength(name) - 'x-amz-meta-'.length + Buffer.byteLength(value);
    }
    if (metaSize > MAX_USER_METADATA)
      throw new S3Error('MetadataTooLarge', undefined, { Size: String(metaSize), MaxSizeAllowed: String(MAX_USER_METADATA) });
    const headers: Record<string, string> = {};
    for (const h of STORED_HEADERS) if (fields[h] !== undefined) headers[h] = fields[h];

    ingested = true;
    const got = await ctx.services.objectIo.ingest(ctx, file.stream, { bucket, key, formFields: fields }).catch((e: unknown) => {
      throw file.stream.errored ? new S3Error('MalformedPOSTRequest') : e;
    });
    const [min, max] = policy.contentLengthRange ?? [0, MAX_PUT_SIZE];
    if (got.size < min || got.size > Math.min(max, MAX_PUT_SIZE)) {
      await ctx.backend.discardBlob(bucket, got.blob);
      throw got.size < min
        ? new S3Error('EntityTooSmall', undefined, { ProposedSize: String(got.size), MinSizeAllowed: String(min) })
        : new S3Error('EntityTooLarge', undefined, { ProposedSize: String(got.size), MaxSizeAllowed: String(max) });
    }
    const meta: ObjectMeta = {
      size: got.size,
      etag: got.etag ?? got.md5,
      contentType: fields['content-type'] ?? 'binary/octet-stream',
      userMetadata,
      headers,
    };
    if (got.encryption !== undefined) meta.encryption = got.encryption;
    const part: { etag: string; encryption?: unknown } = { etag: meta.etag };
    if (got.partEncryption !== undefined) part.encryption = got.partEncryption;
    const rec = await ctx.backend.putObject(bucket, key, got.blob, meta, part);
    await done;

    const proto = ctx.secure ? 'https' : 'http';
    const location = `${proto}://${ctx.header('host') ?? 'localhost'}/${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
    const out: Record<string, string> = {
      etag: quoteEtag(rec.etag),
      location,
      ...ctx.services.objectIo.responseHeaders(ctx, rec, fields),
    };
    if (rec.versionId !== 'null') out['x-amz-version-id'] = rec.versionId;
    const redirect = fields['success_action_redirect'];
    if (redirect) {
      let target: URL | undefined;
      try {
        target = new URL(redirect);
      } catch {
        target = undefined;
      }
      if (target) {
        target.searchParams.set('bucket', bucket);
        target.searchParams.set('key', key);
        target.searchParams.set('etag', quoteEtag(rec.etag));
        ctx.send(303, { ...out, location: target.toString() });
        return;
      }
    }
    const status = fields['success_action_status'];
    if (status === '201') {
      ctx.send(
        201,
        { ...out, 'content-type': 'application/xml' },
        toXml('PostResponse', { Location: location, Bucket: bucket, Key: key, ETag: quoteEtag(rec.etag) }),
      );
    } else {
      ctx.send(status === '200' ? 200 : 204, out);
    }
  } finally {
    if (!ingested) file.stream.resume();
  }
}
