// Request-field readers for the KMS JSON 1.1 API, failing with AWS's error types and wording.
// Field names in messages are lower-camel, as AWS's validation layer reports them ('keyId', 'plaintext').
import { KmsError, missingParam, validationError } from './errors.ts';

export type Params = Record<string, unknown>;

function fieldName(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function wrongType(name: string, expected: string): KmsError {
  return new KmsError('SerializationException', `Value for '${fieldName(name)}' must be ${expected}`);
}

export function optString(p: Params, name: string, min = 0, max = Infinity): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw wrongType(name, 'a string');
  if (v.length < min) throw validationError(fieldName(name), `Member must have length greater than or equal to ${min}`, v);
  if (v.length > max) throw validationError(fieldName(name), `Member must have length less than or equal to ${max}`, v);
  return v;
}

export function reqString(p: Params, name: string, min = 1, max = Infinity): string {
  const v = optString(p, name, min, max);
  if (v === undefined) throw missingParam(fieldName(name));
  return v;
}

export function optInt(p: Params, name: string, min: number, max: number): number | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType(name, 'an integer');
  if (v < min) throw validationError(fieldName(name), `Member must have value greater than or equal to ${min}`, v);
  if (v > max) throw validationError(fieldName(name), `Member must have value less than or equal to ${max}`, v);
  return v;
}

export function optBool(p: Params, name: string): boolean | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw wrongType(name, 'a boolean');
  return v;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A blob field (base64 in JSON). Length limits are on the decoded bytes, as AWS checks them. */
export function reqBlob(p: Params, name: string, min: number, max: number): Buffer {
  const v = p[name];
  if (v === undefined || v === null) throw missingParam(fieldName(name));
  if (typeof v !== 'string' || !BASE64_RE.test(v))
    throw new KmsError('SerializationException', `Value for '${fieldName(name)}' is not valid base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length < min) throw validationError(fieldName(name), `Member must have length greater than or equal to ${min}`);
  if (b.length > max) throw validationError(fieldName(name), `Member must have length less than or equal to ${max}`);
  return b;
}

export function optEnum<T extends string>(p: Params, name: string, values: readonly T[]): T | undefined {
  const v = optString(p, name);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw validationError(fieldName(name), `Member must satisfy enum value set: [${values.join(', ')}]`, v);
  }
  return v as T;
}

/** EncryptionContext: a map of strings to strings; absent means empty. */
export function context(p: Params, name: string): Record<string, string> {
  const v = p[name];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw wrongType(name, 'a map of strings');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string') throw wrongType(name, 'a map of strings');
    out[k] = val;
  }
  return out;
}

export function optArray(p: Params, name: string): unknown[] | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw wrongType(name, 'a list');
  return v;
}
