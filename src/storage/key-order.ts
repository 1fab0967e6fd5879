// S3 orders keys by their UTF-8 bytes, i.e. by code point. JavaScript compares UTF-16 code units,
// which differs only between surrogates (U+D800–DFFF, i.e. code points above U+FFFF) and U+E000–FFFF.
import type { UploadRecord } from './backend.ts';

export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800 && cb >= 0xd800) {
      ca = ca >= 0xe000 ? ca - 0x800 : ca + 0x2000;
      cb = cb >= 0xe000 ? cb - 0x800 : cb + 0x2000;
    }
    return ca - cb;
  }
  return a.length - b.length;
}

/** First index i with keys[i] >= key. */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with keys[i] > key. */
export function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i, from `from`, whose key does not start with prefix (keys sharing a prefix are contiguous). */
export function endOfPrefix(keys: readonly string[], prefix: string, from = 0): number {
  let lo = from;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid]!;
    if (k.startsWith(prefix) || compareKeys(k, prefix) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ListMultipartUploads order, the same in both backends: by key, then initiation time, then upload id. */
export function compareUploads(a: UploadRecord, b: UploadRecord): number {
  return compareKeys(a.key, b.key) || a.initiated.localeCompare(b.initiated) || a.uploadId.localeCompare(b.uploadId);
}
