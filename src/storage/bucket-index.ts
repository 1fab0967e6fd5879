// In-memory index of one bucket: keys in S3 order plus each key's versions (newest first).
// Built from the metadata files when the bucket is first used, updated on every commit.
import type { ObjectRecord, ListOptions, ListResult, ListVersionsOptions, ListVersionsResult } from './backend.ts';
import { compareKeys, lowerBound, upperBound, endOfPrefix } from './key-order.ts';
import { NULL_VERSION } from './version-id.ts';

/**
 * Where a version listing continues within the marker's key: after the marker's version; when that
 * version is gone meanwhile, at the first older one (non-null ids sort newest first); no marker = key done.
 */
function resumeAfter(versions: readonly ObjectRecord[], marker: string | undefined): number {
  if (!marker) return versions.length;
  const at = versions.findIndex((v) => v.versionId === marker);
  if (at >= 0) return at + 1;
  if (marker === NULL_VERSION) return versions.length;
  const next = versions.findIndex((v) => v.versionId !== NULL_VERSION && v.versionId > marker);
  return next >= 0 ? next : versions.length;
}

export class BucketIndex {
  private keys: string[] = [];
  private versions = new Map<string, ObjectRecord[]>();

  get size(): number {
    return this.keys.length;
  }

  /** Loads many entries at once (start-up); sorts once. */
  load(entries: Iterable<[string, ObjectRecord[]]>): void {
    for (const [key, v] of entries) if (v.length) this.versions.set(key, v);
    this.keys = [...this.versions.keys()].sort(compareKeys);
  }

  getVersions(key: string): ObjectRecord[] | undefined {
    return this.versions.get(key);
  }

  /** Latest live version: undefined when missing or the latest is a delete marker. */
  latest(key: string): ObjectRecord | undefined {
    const v = this.versions.get(key)?.[0];
    return v && !v.deleteMarker ? v : undefined;
  }

  setVersions(key: string, versions: ObjectRecord[]): void {
    const had = this.versions.has(key);
    if (versions.length === 0) {
      if (!had) return;
      this.versions.delete(key);
      const i = lowerBound(this.keys, key);
      if (this.keys[i] === key) this.keys.splice(i, 1);
      return;
    }
    this.versions.set(key, versions);
    if (!had) this.keys.splice(lowerBound(this.keys, key), 0, key);
  }

  *allVersions(): Iterable<ObjectRecord> {
    for (const v of this.versions.values()) yield* v;
  }

  list(opts: ListOptions): ListResult {
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter ?? '';
    const startAfter = opts.startAfter ?? '';
    const keys = this.keys;
    const out: ListResult = { objects: [], commonPrefixes: [], isTruncated: false };
    if (opts.maxKeys <= 0) return out;
    let i = startAfter && compareKeys(startAfter, prefix) >= 0 ? upperBound(keys, startAfter) : lowerBound(keys, prefix);
    let count = 0;
    while (i < keys.length) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      const rec = this.latest(key);
      if (!rec) {
        i++;
        continue;
      }
      const d = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (d >= 0) {
        const cp = key.slice(0, d + delimiter.length);
        const next = endOfPrefix(keys, cp, i);
        // A prefix that sorts at or before startAfter was already returned by an earlier page.
        if (startAfter && compareKeys(cp, startAfter) <= 0) {
          i = next;
          continue;
        }
        if (count === opts.maxKeys) {
          out.isTruncated = true;
          break;
        }
        // Only a prefix with at least one live key is listed.
        let live = false;
        for (let j = i; j < next; j++) if (this.latest(keys[j]!)) { live = true; break; }
        if (live) {
          out.commonPrefixes.push(cp);
          out.lastEntry = cp;
          count++;
        }
        i = next;
        continue;
      }
      if (count === opts.maxKeys) {
        out.isTruncated = true;
        break;
      }
      out.objects.push(rec);
      out.lastEntry = key;
      count++;
      i++;
    }
    return out;
  }

  listVersions(opts: ListVersionsOptions): ListVersionsResult {
    const prefix = opts.prefix ?? '';
    const delimiter = opts.delimiter ?? '';
    const keyMarker = opts.keyMarker ?? '';
    const keys = this.keys;
    const out: ListVersionsResult = { versions: [], commonPrefixes: [], isTruncated: false };
    if (opts.maxKeys <= 0) return out;
    let i = keyMarker && compareKeys(keyMarker, prefix) >= 0 ? lowerBound(keys, keyMarker) : lowerBound(keys, prefix);
    let count = 0;
    let lastKey: string | undefined;
    let lastVersion: string | undefined;
    const full = (): boolean => {
      if (count < opts.maxKeys) return false;
      out.isTruncated = true;
      out.nextKeyMarker = lastKey;
      out.nextVersionIdMarker = lastVersion;
      return true;
    };
    outer: while (i < keys.length) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      const d = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (d >= 0) {
        const cp = key.slice(0, d + delimiter.length);
        const next = endOfPrefix(keys, cp, i);
        if (keyMarker && compareKeys(cp, keyMarker) <= 0) {
          i = next;
          continue;
        }
        if (full()) break;
        out.commonPrefixes.push(cp);
        lastKey = cp;
        lastVersion = undefined;
        count++;
        i = next;
        continue;
      }
      const versions = this.versions.get(key) ?? [];
      let from = 0;
      if (key === keyMarker) {
        from = resumeAfter(versions, opts.versionIdMarker);
      }
      for (let j = from; j < versions.length; j++) {
        const v = versions[j]!;
        if (full()) break outer;
        out.versions.push({ ...v, isLatest: j === 0 });
        lastKey = key;
        lastVersion = v.versionId;
        count++;
      }
      i++;
    }
    return out;
  }
}
