// Errors of the client-side encryption library. `code` is stable: the CLI maps it to exit codes.
export type CseErrorCode =
  | 'NoMatchingKey' // no supplied master key fits the object (message says what the object needs)
  | 'IntegrityError' // authentication tag, size or MD5 mismatch: the object or its metadata was altered
  | 'UnsupportedFormat' // unknown algorithm / format in the metadata
  | 'BadKey' // a key file that is not a usable RSA PEM or 256-bit AES key
  | 'BadArgument' // a caller mistake (range, part size, missing key for the operation)
  | 'LocalFileChanged' // a resumable transfer whose source changed since the checkpoint
  | 'NotEncrypted'; // a CSE operation on an object that carries no client-side encryption

export class CseError extends Error {
  readonly code: CseErrorCode;
  constructor(code: CseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CseError';
    this.code = code;
  }
}

export const integrity = (msg: string, cause?: unknown) => new CseError('IntegrityError', msg, { cause });
export const badArg = (msg: string) => new CseError('BadArgument', msg);
