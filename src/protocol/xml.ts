// S3 XML in and out (fast-xml-parser).
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './s3-errors.ts';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
  format: false,
  processEntities: true,
});

export type XmlValue = string | number | boolean | null | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

function clean(v: XmlValue): XmlValue {
  if (Array.isArray(v)) return v.map(clean);
  if (v && typeof v === 'object') {
    const o: XmlObject = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = clean(x);
    return o;
  }
  if (v === null) return '';
  return v;
}

/** `<?xml …?><Root xmlns="…">…</Root>`; undefined fields are left out, arrays repeat the element. */
export function toXml(root: string, body: XmlObject | string, namespace = true): string {
  const content: XmlValue =
    typeof body === 'string'
      ? namespace
        ? { '@_xmlns': S3_NS, '#text': body }
        : body
      : { ...(namespace ? { '@_xmlns': S3_NS } : {}), ...(clean(body) as XmlObject) };
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + builder.build({ [root]: content });
}

/**
 * Like toXml, for documents whose children must keep a given order across element names (e.g.
 * ListVersionsResult, where Version and DeleteMarker entries interleave in listing order).
 */
export function toXmlOrdered(root: string, children: [name: string, value: XmlValue][]): string {
  const inner = children
    .filter(([, v]) => v !== undefined)
    .map(([name, v]) => builder.build({ [name]: clean(v) }))
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${S3_NS}">${inner}</${root}>`;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  removeNSPrefix: true,
  processEntities: true,
  isArray: (name) => ['Part', 'Object', 'Tag', 'Rule'].includes(name),
});

/** Parses a request body; throws MalformedXML. Returns the root element's content. */
export function parseXml(body: Buffer | string, root: string): Record<string, unknown> {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  let doc: Record<string, unknown>;
  try {
    // S3's request documents have no DTD: refusing one outright rules out entity expansion and external entities.
    if (!text.trim() || /<!DOCTYPE/i.test(text) || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML');
    doc = parser.parse(text) as Record<string, unknown>;
  } catch {
    // The parser's own refusals (external entities, entity expansion limits) and a stack exhausted by
    // absurd nesting are the client's malformed document too.
    throw new S3Error('MalformedXML');
  }
  const content = doc[root];
  if (content === undefined) throw new S3Error('MalformedXML');
  if (typeof content === 'string') return {};
  return content as Record<string, unknown>;
}

/** Text content of an element parsed with parseXml (undefined when absent). */
export function xmlText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && '#text' in (v as object)) return String((v as Record<string, unknown>)['#text']);
  if (typeof v === 'object') return '';
  return String(v);
}
