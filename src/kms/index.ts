// Public surface of the built-in KMS (see CONTRACTS.md, section KMS).
export { KeyManagementService, type KmsOptions, type Caller } from './service.ts';
export { KmsError } from './errors.ts';
export { serveKmsRequest, isKmsRequest, kmsAuthError, KMS_TARGET_PREFIX, type KmsHttpOptions } from './http.ts';
