// Versioning rules: the version id a write gets under the bucket's versioning state, and conditional-write checks. Pure functions.
import { S3Error } from '../protocol/s3-errors.ts';
import type { BucketInfo, ObjectRecord, WriteOptions } from './backend.ts';
import { NULL_VERSION, newVersionId } from './version-id.ts';

export function checkPreconditions(current: ObjectRecord | undefined, opts?: WriteOptions): void {
  if (!opts) return;
  if (opts.ifNoneMatch !== undefined && current && (opts.ifNoneMatch === '*' || opts.ifNoneMatch === current.etag)) {
    throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-None-Match' });
  }
  if (opts.ifMatch !== undefined) {
    if (!current) throw new S3Error('NoSuchKey');
    if (opts.ifMatch !== '*' && opts.ifMatch !== current.etag)
      throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' });
  }
}

/** The id a new version (or delete marker) gets: a fresh one when versioning is Enabled, else 'null'. */
export function versionIdFor(info: BucketInfo): string {
  return info.config.versioning === 'Enabled' ? newVersionId() : NULL_VERSION;
}
