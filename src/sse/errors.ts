// The errors AWS S3 returns for server-side encryption requests, with its codes and messages.
// Messages never contain key material.
//
// Sources, checked one by one (real S3 answers where one was published, else MinIO's table, which
// copies S3's texts): MinIO cmd/api-errors.go (ErrInvalidSSECustomerKey, ErrMissingSSECustomerKey(MD5),
// ErrSSECustomerKeyMD5Mismatch, ErrInvalidSSECustomerParameters, ErrInsecureSSECustomerRequest,
// ErrSSEMultipartEncrypted, ErrSSEEncryptedObject, ErrInvalidEncryptionParameters,
// ErrIncompatibleEncryptionMethod) and its mapping of a wrong key to AccessDenied (minio/minio#5203,
// #6600: "403 just like AWS S3"); real S3 responses quoted in minio/minio#4894 and aws/aws-cli#1349
// (bad customer algorithm), aws/aws-sdk-php#1291 (part without the upload's key), boto/boto3#684
// (MD5 mismatch), thoughtbot/paperclip#2243 and aws/aws-sdk-cpp#1771 (unknown SSE method),
// aws/aws-sdk-ruby#1302 (SSE-C with SSE-S3); ceph/s3-tests' SSE-C suite (400 / 403 statuses).
import { S3Error } from '../protocol/s3-errors.ts';

export const H = {
  sse: 'x-amz-server-side-encryption',
  kmsKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
  kmsContext: 'x-amz-server-side-encryption-context',
  bucketKey: 'x-amz-server-side-encryption-bucket-key-enabled',
  cAlgorithm: 'x-amz-server-side-encryption-customer-algorithm',
  cKey: 'x-amz-server-side-encryption-customer-key',
  cKeyMd5: 'x-amz-server-side-encryption-customer-key-md5',
  copyAlgorithm: 'x-amz-copy-source-server-side-encryption-customer-algorithm',
  copyKey: 'x-amz-copy-source-server-side-encryption-customer-key',
  copyKeyMd5: 'x-amz-copy-source-server-side-encryption-customer-key-md5',
} as const;

function arg(code: 'InvalidArgument', message: string, name: string, value?: string): S3Error {
  const details: Record<string, string> = { ArgumentName: name };
  if (value !== undefined) details.ArgumentValue = value;
  return new S3Error(code, message, details);
}

export const sseErrors = {
  /** Unknown x-amz-server-side-encryption value. */
  unsupportedMethod: (value: string) => arg('InvalidArgument', 'The encryption method specified is not supported', H.sse, value),
  /** SSE-C and SSE-S3/KMS headers on one request. */
  incompatibleMethods: () =>
    arg('InvalidArgument', 'Server Side Encryption with Customer provided key is incompatible with the encryption method specified', H.sse),
  /** x-amz-server-side-encryption on a GET/HEAD (it only applies to writes). */
  notForReads: () => arg('InvalidArgument', 'x-amz-server-side-encryption header is not supported for this operation.', H.sse),
  kmsHeadersWithoutKms: (name: string) =>
    arg(
      'InvalidArgument',
      'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms',
      name,
    ),
  kmsNotImplemented: () =>
    new S3Error('NotImplemented', 'Server-side encryption with AWS KMS keys (SSE-KMS) is not available on this server'),
  kmsInsecureTransport: () =>
    arg(
      'InvalidArgument',
      'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.',
      H.sse,
      'aws:kms',
    ),
  dsseNotImplemented: () =>
    new S3Error('NotImplemented', 'Dual-layer server-side encryption with AWS KMS keys (aws:kms:dsse) is not implemented'),
  /** SSE-C key or MD5 given without the algorithm field. */
  missingAlgorithm: (name: string) =>
    arg(
      'InvalidArgument',
      'Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.',
      name,
    ),
  /**
   * A customer algorithm other than AES256. S3 answers InvalidEncryptionAlgorithmError and names
   * x-amz-server-side-encryption as the argument, even for the -customer-algorithm header (as captured
   * from S3 in minio/minio#4894).
   */
  badAlgorithm: (value: string) =>
    new S3Error('InvalidEncryptionAlgorithmError', 'The Encryption request you specified is not valid. Supported value: AES256.', {
      ArgumentName: H.sse,
      ArgumentValue: value,
    }),
  missingKey: (name: string) =>
    arg(
      'InvalidArgument',
      'Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.',
      name,
    ),
  missingKeyMd5: (name: string) =>
    arg(
      'InvalidArgument',
      'Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.',
      name,
    ),
  badKey: (name: string) => arg('InvalidArgument', 'The secret key was invalid for the specified algorithm.', name),
  keyMd5Mismatch: (name: string) =>
    arg('InvalidArgument', 'The calculated MD5 hash of the key did not match the hash that was provided.', name),
  insecureTransport: () =>
    new S3Error(
      'InvalidRequest',
      'Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.',
    ),
  /** GET/HEAD (or copy source) of an SSE-C object without the key. */
  keyRequired: () =>
    new S3Error(
      'InvalidRequest',
      'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.',
    ),
  /** SSE-C parameters given for an object (or upload) that is not SSE-C. */
  notApplicable: () => new S3Error('InvalidRequest', 'The encryption parameters are not applicable to this object.'),
  /** A key that does not match the object's. */
  wrongKey: () => new S3Error('AccessDenied'),
  /** UploadPart without the SSE-C parameters of an SSE-C upload. */
  partKeyRequired: () =>
    new S3Error(
      'InvalidRequest',
      'The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.',
    ),
  /** UploadPart whose SSE-C key differs from CreateMultipartUpload's. */
  partKeyMismatch: () => new S3Error('InvalidArgument', 'The provided encryption parameters did not match the ones used originally.'),
  /** Stored data or metadata failed authentication. Never says more. */
  integrity: () => new S3Error('InternalError', 'The stored object failed an integrity check and cannot be returned.'),
} as const;
