// KMS errors as AWS KMS answers them in the JSON 1.1 protocol: `{ "__type": "...", "message": "..." }`.
// Nearly every KMS error is HTTP 400; only internal/dependency failures are 5xx.

export const KMS_ERROR_STATUS: Record<string, number> = {
  AccessDeniedException: 400,
  AlreadyExistsException: 400,
  DisabledException: 400,
  IncorrectKeyException: 400,
  InvalidAliasNameException: 400,
  InvalidArnException: 400,
  InvalidCiphertextException: 400,
  InvalidKeyUsageException: 400,
  InvalidMarkerException: 400,
  KMSInvalidStateException: 400,
  LimitExceededException: 400,
  NotAuthorizedException: 400,
  TagException: 400,
  NotFoundException: 400,
  SerializationException: 400,
  UnknownOperationException: 400,
  UnsupportedOperationException: 400,
  ValidationException: 400,
  UnrecognizedClientException: 400,
  InvalidSignatureException: 400,
  IncompleteSignatureException: 400,
  MissingAuthenticationTokenException: 400,
  KMSInternalException: 500,
};

export class KmsError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string) {
    super(message);
    this.name = 'KmsError';
    this.type = type;
    this.status = KMS_ERROR_STATUS[type] ?? 400;
  }

  toBody(): { __type: string; message: string } {
    return { __type: this.type, message: this.message };
  }
}

// AWS's wording for the generic input-validation failures (Coral validation messages).
export function validationError(field: string, constraint: string, value?: string | number): KmsError {
  const v = value === undefined ? 'Value' : `Value '${value}'`;
  return new KmsError('ValidationException', `1 validation error detected: ${v} at '${field}' failed to satisfy constraint: ${constraint}`);
}

export function missingParam(field: string): KmsError {
  return new KmsError(
    'ValidationException',
    `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
  );
}
