// The S3 error class and code table live in src/protocol/ (no dependencies), so storage can throw them
// without importing the server; this module keeps the server-side import path.
export { S3_ERRORS, S3Error, isS3Error, type S3ErrorCode, type S3ErrorDef } from '../protocol/s3-errors.ts';
