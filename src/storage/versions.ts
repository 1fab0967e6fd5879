// Versioning rules shared by the backends: what a write or a delete does to a key's version list
// (newest first) under the bucket's versioning state, and conditional-write checks. Pure functions.
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
    if (opts.ifMatch !== '*' && opts.ifMatch !== current.etag) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' });
  }
}

/** The id a new version (or delete marker) gets: a fresh one when versioning is Enabled, else 'null'. */
export function versionIdFor(info: BucketInfo): string {
  return info.config.versioning === 'Enabled' ? newVersionId() : NULL_VERSION;
}

/** Adds a new version under the bucket's versioning state; returns the new list and the replaced versions (whose data can go). */
export function addVersion(info: BucketInfo, old: ObjectRecord[], rec: ObjectRecord): { list: ObjectRecord[]; removed: ObjectRecord[] } {
  if (info.config.versioning === 'Enabled') return { list: [rec, ...old], removed: [] };
  return {
    list: [rec, ...old.filter((v) => v.versionId !== NULL_VERSION)],
    removed: old.filter((v) => v.versionId === NULL_VERSION),
  };
}

export interface DeletePlan {
  list: ObjectRecord[];
  removed: ObjectRecord[];
  /** Whether the version list changed (needs writing). */
  changed: boolean;
  result: { versionId?: string; deleteMarker?: boolean };
}

/** DeleteObject on a key: a version by id, a delete marker (versioned bucket), or the object itself. */
export function planDelete(info: BucketInfo, key: string, old: ObjectRecord[], versionId?: string): DeletePlan {
  if (versionId !== undefined) {
    const removed = old.filter((v) => v.versionId === versionId);
    const result: DeletePlan['result'] = { versionId };
    if (removed[0]?.deleteMarker) result.deleteMarker = true;
    return { list: old.filter((v) => v.versionId !== versionId), removed, changed: removed.length > 0, result };
  }
  if (info.config.versioning) {
    const markerId = versionIdFor(info);
    const marker: ObjectRecord = {
      key, versionId: markerId, deleteMarker: true, lastModified: new Date().toISOString(), size: 0, storedSize: 0, etag: '',
      contentType: '', userMetadata: {}, headers: {}, parts: [],
    };
    const { list, removed } = addVersion(info, old, marker);
    return { list, removed, changed: true, result: { versionId: markerId, deleteMarker: true } };
  }
  return { list: [], removed: old, changed: old.length > 0, result: {} };
}

/** HeadObject/GetObject's choice among a key's versions (newest first): by id, else the latest, which must not be a delete marker. */
export function pickVersion(key: string, versions: readonly ObjectRecord[] | undefined, versionId?: string): ObjectRecord {
  if (versionId !== undefined) {
    const v = versions?.find((r) => r.versionId === versionId);
    if (!v) throw new S3Error('NoSuchVersion', undefined, { Key: key, VersionId: versionId });
    return v;
  }
  const v = versions?.[0];
  if (!v) throw new S3Error('NoSuchKey', undefined, { Key: key });
  if (v.deleteMarker) throw new S3Error('NoSuchKey', undefined, { Key: key }, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': v.versionId });
  return v;
}
