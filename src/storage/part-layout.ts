// How an object's bytes are laid out in stored parts (blobs), used by the core backend: the records a write
// produces and the stored ranges a read covers. Pure functions; a ref is whatever names the backend's blob.
import type { ObjectMeta, ObjectRecord, PartLayout, PartRecord } from './backend.ts';

/** What the handler says about one part's data (PutObject's single part, or UploadPart's). */
export interface PartInfo {
  etag: string;
  checksum?: string;
  encryption?: unknown;
}

/** The record of a single-part object (PutObject) whose data is the blob ref, storedSize bytes. */
export function singlePartRecord(
  key: string,
  versionId: string,
  meta: ObjectMeta,
  storedSize: number,
  ref: string,
  part?: PartInfo,
): ObjectRecord {
  const layout: PartLayout = { partNumber: 1, size: meta.size, storedSize, etag: part?.etag ?? meta.etag, ref };
  if (part?.checksum !== undefined) layout.checksum = part.checksum;
  if (part?.encryption !== undefined) layout.encryption = part.encryption;
  return { ...meta, key, versionId, lastModified: new Date().toISOString(), storedSize, parts: [layout] };
}

/** The record of an uploaded part (UploadPart) whose data is the blob ref, storedSize bytes. */
export function partRecord(partNumber: number, storedSize: number, ref: string, part: PartInfo & { size: number }): PartRecord {
  const rec: PartRecord = { partNumber, size: part.size, storedSize, etag: part.etag, lastModified: new Date().toISOString(), ref };
  if (part.checksum !== undefined) rec.checksum = part.checksum;
  if (part.encryption !== undefined) rec.encryption = part.encryption;
  return rec;
}

/** The record of a completed multipart upload: the chosen parts, in order, are its segments. */
export function multipartRecord(key: string, versionId: string, meta: ObjectMeta, parts: readonly PartRecord[]): ObjectRecord {
  return {
    ...meta,
    key,
    versionId,
    lastModified: new Date().toISOString(),
    storedSize: parts.reduce((n, p) => n + p.storedSize, 0),
    parts: parts.map((p) => {
      const l: PartLayout = { partNumber: p.partNumber, size: p.size, storedSize: p.storedSize, etag: p.etag, ref: p.ref };
      if (p.checksum !== undefined) l.checksum = p.checksum;
      if (p.encryption !== undefined) l.encryption = p.encryption;
      return l;
    }),
  };
}

/** The stored byte ranges (inclusive, within each part's blob) that a stored range of the object covers; no range = all of it. */
export function segmentsOf(record: ObjectRecord, range?: { start: number; end: number }): { ref: string; start: number; end: number }[] {
  const start = range?.start ?? 0;
  const end = range?.end ?? record.storedSize - 1;
  const segments: { ref: string; start: number; end: number }[] = [];
  let offset = 0;
  for (const p of record.parts) {
    const s = Math.max(start, offset);
    const e = Math.min(end, offset + p.storedSize - 1);
    if (s <= e) segments.push({ ref: p.ref, start: s - offset, end: e - offset });
    offset += p.storedSize;
  }
  return segments;
}
