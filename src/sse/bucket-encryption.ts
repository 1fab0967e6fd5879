// Bucket default encryption (PutBucketEncryption / GetBucketEncryption): the
// ServerSideEncryptionConfiguration document ↔ the BucketEncryption stored in BucketConfig.encryption.
import type { BucketConfig } from '../storage/backend.ts';
import { S3Error } from '../protocol/s3-errors.ts';
import { parseXml, xmlText, type XmlObject } from '../protocol/xml.ts';
import type { EncryptionRequest } from './headers.ts';

/** Encryption types a bucket can refuse for new objects (AWS, 2026: only SSE-C can be blocked). */
export const BLOCKABLE_ENCRYPTION_TYPES = ['NONE', 'SSE-C'] as const;
export type BlockableEncryptionType = (typeof BLOCKABLE_ENCRYPTION_TYPES)[number];

/** What BucketConfig.encryption holds once PutBucketEncryption ran. */
export interface BucketEncryption {
  algorithm: 'AES256' | 'aws:kms';
  /** As the client gave it (key id, alias or ARN); resolved when an object is written. aws:kms only. */
  kmsMasterKeyId?: string;
  bucketKeyEnabled: boolean;
  blockedEncryptionTypes?: BlockableEncryptionType[];
}

/** The bucket's default encryption, if PutBucketEncryption set one. */
export function bucketEncryptionOf(config: BucketConfig): BucketEncryption | undefined {
  const e = config.encryption as BucketEncryption | undefined;
  return e && (e.algorithm === 'AES256' || e.algorithm === 'aws:kms') ? e : undefined;
}

function one(v: unknown): unknown {
  if (Array.isArray(v)) {
    if (v.length !== 1) throw new S3Error('MalformedXML');
    return v[0];
  }
  return v;
}

function element(v: unknown): Record<string, unknown> | undefined {
  const x = one(v);
  if (x === undefined) return undefined;
  if (x === '') return {};
  if (typeof x !== 'object' || x === null) throw new S3Error('MalformedXML');
  return x as Record<string, unknown>;
}

function booleanText(v: unknown): boolean | undefined {
  const t = xmlText(one(v))?.trim();
  if (t === undefined) return undefined;
  if (t === 'true') return true;
  if (t === 'false') return false;
  throw new S3Error('MalformedXML');
}

/** Parses and validates a PutBucketEncryption body (MalformedXML / InvalidArgument / NotImplemented as AWS). */
export function parseEncryptionConfiguration(body: Buffer): BucketEncryption {
  const doc = parseXml(body, 'ServerSideEncryptionConfiguration');
  const rules = doc['Rule'];
  if (!Array.isArray(rules) || rules.length !== 1) throw new S3Error('MalformedXML');
  const rule = element(rules[0]) ?? {};
  const byDefault = element(rule['ApplyServerSideEncryptionByDefault']);
  if (!byDefault) throw new S3Error('MalformedXML');
  const algorithm = xmlText(one(byDefault['SSEAlgorithm']))?.trim();
  if (algorithm === 'aws:kms:dsse')
    throw new S3Error('NotImplemented', 'Dual-layer server-side encryption (aws:kms:dsse) is not implemented');
  if (algorithm !== 'AES256' && algorithm !== 'aws:kms') throw new S3Error('MalformedXML');
  const out: BucketEncryption = { algorithm, bucketKeyEnabled: booleanText(rule['BucketKeyEnabled']) ?? false };
  const keyId = xmlText(one(byDefault['KMSMasterKeyID']))?.trim();
  if (keyId !== undefined) {
    if (algorithm !== 'aws:kms') {
      throw new S3Error(
        'InvalidArgument',
        'a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse',
        { ArgumentName: 'ApplyServerSideEncryptionByDefault' },
      );
    }
    if (keyId === '' || keyId.length > 2048) throw new S3Error('MalformedXML');
    out.kmsMasterKeyId = keyId;
  }
  const blocked = element(rule['BlockedEncryptionTypes']);
  if (blocked) {
    const raw = blocked['EncryptionType'];
    const types = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map((t) => xmlText(t)?.trim() ?? '');
    for (const t of types) if (!(BLOCKABLE_ENCRYPTION_TYPES as readonly string[]).includes(t)) throw new S3Error('MalformedXML');
    if (types.includes('NONE') && types.length > 1) {
      throw new S3Error('InvalidArgument', 'NONE cannot be combined with other encryption types', {
        ArgumentName: 'BlockedEncryptionTypes',
      });
    }
    out.blockedEncryptionTypes = [...new Set(types)] as BlockableEncryptionType[];
  }
  return out;
}

/** The GetBucketEncryption document body. */
export function encryptionConfigurationXml(e: BucketEncryption): XmlObject {
  const byDefault: XmlObject = { SSEAlgorithm: e.algorithm };
  if (e.kmsMasterKeyId !== undefined) byDefault['KMSMasterKeyID'] = e.kmsMasterKeyId;
  const rule: XmlObject = { ApplyServerSideEncryptionByDefault: byDefault, BucketKeyEnabled: e.bucketKeyEnabled };
  if (e.blockedEncryptionTypes?.length) rule['BlockedEncryptionTypes'] = { EncryptionType: e.blockedEncryptionTypes };
  return { Rule: rule };
}

/** 403 when the bucket blocks SSE-C for new objects (AWS's answer to a blocked write). */
export function checkNotBlocked(config: BucketConfig, type: 'SSE-C'): void {
  const e = bucketEncryptionOf(config);
  if (e?.blockedEncryptionTypes?.includes(type)) {
    throw new S3Error(
      'AccessDenied',
      `Requests specifying Server Side Encryption with Customer provided keys are blocked for this bucket.`,
    );
  }
}

/**
 * A write's encryption after the bucket default: a request naming none takes the bucket's default
 * (AES256 → SSE-S3; aws:kms → SSE-KMS with KMSMasterKeyID, or alias/aws/s3); an SSE-KMS request that does
 * not say whether to use a bucket key follows the bucket's BucketKeyEnabled (aws:kms defaults only).
 */
export function applyBucketDefault(req: EncryptionRequest, config: BucketConfig): EncryptionRequest {
  const e = bucketEncryptionOf(config);
  if (!e) return req;
  if (req.mode === 'default') {
    if (e.algorithm === 'AES256') return { mode: 'SSE-S3' };
    const out: EncryptionRequest = { mode: 'SSE-KMS', dsse: false, bucketKey: e.bucketKeyEnabled };
    if (e.kmsMasterKeyId !== undefined) out.keyId = e.kmsMasterKeyId;
    return out;
  }
  if (req.mode === 'SSE-KMS' && req.bucketKey === undefined && e.algorithm === 'aws:kms') return { ...req, bucketKey: e.bucketKeyEnabled };
  return req;
}
