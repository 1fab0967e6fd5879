// The listing model shared by the property tests: S3 order, the expected listing of a key set, key
// arbitraries, and the core backend's listing property (ListObjects and ListObjectVersions pages with
// versions and delete markers, against a model) for any engine under CoreBackend.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import type { CoreBackend } from '../../src/storage/core-backend.ts';

/** S3 order: UTF-8 bytes. */
export function s3Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export interface ModelListing {
  keys: string[];
  prefixes: string[];
  /** Keys and prefixes in listing order. */
  entries: string[];
}

/** What a full listing must return: keys under prefix, rolled up at the delimiter, after startAfter. */
export function modelList(all: string[], prefix: string, delimiter: string, startAfter = ''): ModelListing {
  const entries = new Map<string, boolean>();
  for (const k of all) {
    if (!k.startsWith(prefix)) continue;
    const d = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    if (d >= 0) entries.set(k.slice(0, d + delimiter.length), true);
    else entries.set(k, false);
  }
  const sorted = [...entries.keys()].filter((e) => !startAfter || s3Order(e, startAfter) > 0).sort(s3Order);
  return { entries: sorted, keys: sorted.filter((e) => !entries.get(e)), prefixes: sorted.filter((e) => entries.get(e)) };
}

// Small alphabet so that prefixes and delimiters collide often; includes code points whose UTF-16
// order differs from UTF-8 order (U+FF5E vs U+1F600).
export const keyChar = fc.constantFrom('a', 'b', '/', '-', 'é', '～', '😀');
export const keyArb = fc.array(keyChar, { minLength: 1, maxLength: 6 }).map((c) => c.join(''));
export const prefixArb = fc.array(keyChar, { minLength: 0, maxLength: 2 }).map((c) => c.join(''));
export const delimiterArb = fc.constantFrom('', '/', 'b', '😀');

const META = { size: 1, etag: 'e', contentType: 'text/plain', userMetadata: {}, headers: {} };

/** Random put / delete / delete-version sequences on a versioned bucket, then every listing page checked against the model. */
export async function coreListingProperty(core: CoreBackend, numRuns: number): Promise<void> {
  let run = 0;
  const opArb = fc.tuple(fc.constantFrom('put', 'put', 'put', 'delete', 'deleteVersion'), keyArb, fc.nat());
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 30 }),
      prefixArb,
      delimiterArb,
      fc.integer({ min: 1, max: 5 }),
      async (ops, prefix, delimiter, maxKeys) => {
        const bucket = `m${run++}`;
        await core.createBucket(bucket, { location: '', versioning: 'Enabled' });
        // Model: each key's versions, newest first.
        const model = new Map<string, { versionId: string; marker: boolean }[]>();
        for (const [op, key, n] of ops) {
          const list = model.get(key) ?? [];
          if (op === 'put') {
            const blob = await core.stageBlob(bucket, Readable.from([Buffer.from('x')]));
            const r = await core.putObject(bucket, key, blob, META);
            list.unshift({ versionId: r.versionId, marker: false });
          } else if (op === 'delete') {
            const r = await core.deleteObject(bucket, key);
            list.unshift({ versionId: r.versionId!, marker: true });
          } else if (list.length) {
            const [v] = list.splice(n % list.length, 1);
            await core.deleteObject(bucket, key, v!.versionId);
          }
          model.set(key, list);
        }
        const live = [...model].filter(([, l]) => l.length && !l[0]!.marker).map(([k]) => k);
        const want = modelList(live, prefix, delimiter);
        const seen: string[] = [];
        let startAfter = '';
        for (let page = 0; page < 200; page++) {
          const r = await core.listObjects(bucket, { prefix, delimiter, startAfter, maxKeys });
          assert.ok(r.objects.length + r.commonPrefixes.length <= maxKeys);
          seen.push(...[...r.objects.map((o) => o.key), ...r.commonPrefixes].sort(s3Order));
          if (!r.isTruncated) break;
          startAfter = r.lastEntry!;
        }
        assert.deepEqual(seen, want.entries);
        // Versions: keys in S3 order, newest first within a key, common prefixes rolled up.
        const withVersions = [...model].filter(([, l]) => l.length).map(([k]) => k);
        const vwant = modelList(withVersions, prefix, delimiter);
        const expected: string[] = [];
        for (const e of vwant.entries) {
          if (vwant.prefixes.includes(e)) expected.push(`P ${e}`);
          else model.get(e)!.forEach((v, i) => expected.push(`${e} ${v.versionId} ${v.marker ? 'M' : 'V'}${i === 0 ? ' latest' : ''}`));
        }
        const got: string[] = [];
        let keyMarker: string | undefined;
        let versionIdMarker: string | undefined;
        for (let page = 0; page < 400; page++) {
          const r = await core.listObjectVersions(bucket, {
            prefix,
            delimiter,
            maxKeys,
            ...(keyMarker !== undefined ? { keyMarker } : {}),
            ...(versionIdMarker !== undefined ? { versionIdMarker } : {}),
          });
          const entries = [
            ...r.versions.map((v) => ({
              k: v.key,
              s: `${v.key} ${v.versionId} ${v.deleteMarker ? 'M' : 'V'}${v.isLatest ? ' latest' : ''}`,
            })),
            ...r.commonPrefixes.map((p) => ({ k: p, s: `P ${p}` })),
          ];
          entries.sort((x, y) => s3Order(x.k, y.k));
          got.push(...entries.map((e) => e.s));
          assert.ok(entries.length <= maxKeys);
          if (!r.isTruncated) break;
          keyMarker = r.nextKeyMarker;
          versionIdMarker = r.nextVersionIdMarker;
        }
        assert.deepEqual(got, expected);
      },
    ),
    { numRuns },
  );
}
