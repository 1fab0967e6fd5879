// Browser-form POST object (SigV4): the form carries a base64 policy document and its signature.
import { S3Error } from '../protocol/s3-errors.ts';
import { ALGORITHM, deriveSigningKey, hmac, parseAmzDate, signaturesEqual, type SecretLookup } from './sigv4.ts';

export interface PostPolicyResult {
  accessKeyId: string;
  region: string;
  /** From a content-length-range condition: the caller enforces it on the file size (EntityTooSmall/TooLarge). */
  contentLengthRange?: [number, number];
}

// Form fields that never need a policy condition.
const EXEMPT_FIELDS = new Set(['x-amz-signature', 'file', 'policy', 'bucket']);

function missingField(name: string): S3Error {
  return new S3Error(
    'InvalidArgument',
    `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`,
    { ArgumentName: name, ArgumentValue: '' },
  );
}

function invalidPolicy(why: string): S3Error {
  return new S3Error('InvalidPolicyDocument', `Invalid Policy: ${why}`);
}

function policyDenied(why: string): S3Error {
  return new S3Error('AccessDenied', `Invalid according to Policy: ${why}`);
}

type Condition =
  { op: 'eq' | 'starts-with'; field: string; value: string; text: string } | { op: 'content-length-range'; min: number; max: number };

function describe(op: string, field: string, value: string): string {
  return `[${JSON.stringify(op)}, ${JSON.stringify('$' + field)}, ${JSON.stringify(value)}]`;
}

function parseConditions(raw: unknown): Condition[] {
  if (!Array.isArray(raw)) throw invalidPolicy('Policy missing conditions.');
  const out: Condition[] = [];
  for (const c of raw) {
    if (Array.isArray(c)) {
      const [op, a, b] = c as unknown[];
      if (typeof op !== 'string') throw invalidPolicy('Invalid Condition.');
      const opLower = op.toLowerCase();
      if (opLower === 'content-length-range') {
        const min = Number(a);
        const max = Number(b);
        if (c.length !== 3 || !Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max < min) {
          throw invalidPolicy('Invalid content-length-range condition.');
        }
        out.push({ op: 'content-length-range', min, max });
        continue;
      }
      if ((opLower !== 'eq' && opLower !== 'starts-with') || c.length !== 3) {
        throw invalidPolicy(`Invalid Condition: unknown operation ${JSON.stringify(op).slice(0, 64)}.`);
      }
      if (typeof a !== 'string' || !a.startsWith('$') || typeof b !== 'string') {
        throw invalidPolicy('Invalid Condition: the field must start with $ and the value must be a string.');
      }
      const field = a.slice(1).toLowerCase();
      out.push({ op: opLower, field, value: b, text: describe(opLower, a.slice(1), b) });
    } else if (c !== null && typeof c === 'object') {
      for (const [name, value] of Object.entries(c as Record<string, unknown>)) {
        if (typeof value !== 'string') throw invalidPolicy(`Invalid value for condition ${JSON.stringify(name).slice(0, 64)}.`);
        out.push({ op: 'eq', field: name.toLowerCase(), value, text: describe('eq', name, value) });
      }
    } else {
      throw invalidPolicy('Invalid Condition.');
    }
  }
  return out;
}

function conditionHolds(c: Extract<Condition, { field: string }>, actual: string): boolean {
  if (c.op === 'eq') return actual === c.value;
  // Content-Type may list several types; each must match the prefix.
  if (c.field === 'content-type' && actual.includes(',')) {
    return actual.split(',').every((t) => t.trim().startsWith(c.value));
  }
  return actual.startsWith(c.value);
}

/**
 * Verifies a SigV4 POST policy against the form fields (lower-case names; `bucket` set by the caller from the
 * request, `key` with ${filename} already substituted). Throws S3Error as AWS does.
 */
export function verifyPostPolicy(
  fields: Record<string, string>,
  lookup: SecretLookup,
  serverRegion: string,
  now: Date = new Date(),
): PostPolicyResult {
  if (fields['awsaccesskeyid'] !== undefined || fields['signature'] !== undefined) {
    throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
  }
  for (const name of ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature', 'policy']) {
    if (fields[name] === undefined) throw missingField(name === 'policy' ? 'Policy' : name);
  }
  const algorithm = fields['x-amz-algorithm']!;
  if (algorithm !== ALGORITHM) {
    throw new S3Error('InvalidArgument', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', {
      ArgumentName: 'x-amz-algorithm',
      ArgumentValue: algorithm.slice(0, 64),
    });
  }
  const credential = fields['x-amz-credential']!;
  const parts = credential.split('/');
  if (parts.length < 5 || parts[parts.length - 1] !== 'aws4_request' || !/^\d{8}$/.test(parts[parts.length - 4]!)) {
    throw new S3Error(
      'InvalidArgument',
      'Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
      {
        ArgumentName: 'x-amz-credential',
        ArgumentValue: credential.slice(0, 128),
      },
    );
  }
  const service = parts[parts.length - 2]!;
  const region = parts[parts.length - 3]!;
  const date = parts[parts.length - 4]!;
  const accessKeyId = parts.slice(0, parts.length - 4).join('/');
  // A form policy is an S3 signature for this server's region, nothing else (as for header auth).
  if (region !== serverRegion) {
    throw new S3Error(
      'InvalidArgument',
      `Error parsing the X-Amz-Credential parameter; the region '${region.slice(0, 64)}' is wrong; expecting '${serverRegion}'`,
      {
        ArgumentName: 'x-amz-credential',
        ArgumentValue: credential.slice(0, 128),
        Region: serverRegion,
      },
    );
  }
  if (service !== 's3') {
    throw new S3Error(
      'InvalidArgument',
      `Error parsing the X-Amz-Credential parameter; incorrect service "${service.slice(0, 64)}". This endpoint uses "s3".`,
      {
        ArgumentName: 'x-amz-credential',
        ArgumentValue: credential.slice(0, 128),
      },
    );
  }
  const amzDate = fields['x-amz-date']!;
  if (!parseAmzDate(amzDate)) {
    throw new S3Error('InvalidArgument', "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"", {
      ArgumentName: 'x-amz-date',
      ArgumentValue: amzDate.slice(0, 64),
    });
  }
  if (amzDate.slice(0, 8) !== date) {
    throw new S3Error('InvalidArgument', 'Invalid credential date. Date is not the same as X-Amz-Date.', {
      ArgumentName: 'x-amz-date',
      ArgumentValue: amzDate,
    });
  }

  const secret = lookup(accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId });
  const policyB64 = fields['policy']!;
  const expected = hmac(deriveSigningKey(secret, date, region, service), policyB64).toString('hex');
  const provided = fields['x-amz-signature']!;
  if (!signaturesEqual(expected, provided)) {
    throw new S3Error('SignatureDoesNotMatch', undefined, {
      AWSAccessKeyId: accessKeyId,
      StringToSign: policyB64,
      SignatureProvided: provided,
    });
  }

  let policy: unknown;
  try {
    policy = JSON.parse(Buffer.from(policyB64, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) throw invalidPolicy('Invalid JSON.');
  const { expiration, conditions: rawConditions } = policy as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  const expiresAt = typeof expiration === 'string' ? Date.parse(expiration) : NaN;
  if (Number.isNaN(expiresAt)) throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration).slice(0, 64)}'`);
  if (now.getTime() > expiresAt) throw policyDenied('Policy expired.');

  const conditions = parseConditions(rawConditions);
  let contentLengthRange: [number, number] | undefined;
  const covered = new Set<string>();
  for (const c of conditions) {
    if (c.op === 'content-length-range') {
      contentLengthRange = [c.min, c.max];
      continue;
    }
    covered.add(c.field);
    if (!conditionHolds(c, fields[c.field] ?? '')) throw policyDenied(`Policy Condition failed: ${c.text}`);
  }

  const extra = Object.keys(fields).filter((name) => !EXEMPT_FIELDS.has(name) && !name.startsWith('x-ignore-') && !covered.has(name));
  if (extra.length > 0) throw policyDenied(`Extra input fields: ${extra.join(', ')}`);

  const result: PostPolicyResult = { accessKeyId, region };
  if (contentLengthRange) result.contentLengthRange = contentLengthRange;
  return result;
}
