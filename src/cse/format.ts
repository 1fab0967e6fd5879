// What every object format provides to the encrypting client.
import type { Duplex } from 'node:stream';

export type CseFormat = 'esdk' | 's3ec' | 'oss' | 'kura';
export const CSE_FORMATS: readonly CseFormat[] = ['esdk', 's3ec', 'oss', 'kura'];

/** User metadata as the S3 SDK carries it: names without the `x-amz-meta-` prefix, lower case. */
export type UserMetadata = Record<string, string>;

export interface EncryptOptions {
  /** Plaintext size, when known in advance (files). */
  plainSize?: number;
  /** MD5 of the whole plaintext, when known in advance (stored by the OSS format). */
  md5?: Buffer;
  /** Multipart part size in plaintext bytes (recorded by the OSS format as `part-size`). */
  partSize?: number;
}

/** Encryption of one object (or one multipart upload): a fresh data key, wrapped into `metadata`. */
export interface ObjectEncryptor {
  readonly format: CseFormat;
  /** To be stored with the object; holds the data key only in wrapped form. */
  readonly metadata: UserMetadata;
  /** Stored size for a plaintext size, when the format makes it computable in advance. */
  cipherSize(plainSize: number): number | undefined;
  /** Plaintext in order → stored bytes. */
  stream(): Duplex;
  /** Defined when parts encrypt independently: plaintext part offsets must be multiples of it. */
  readonly partAlign?: number;
  /** Stored bytes of plaintext [offset, offset+length); `last` marks the object's final part. */
  part?(offset: number, length: number, last: boolean): Duplex;
  partCipherSize?(offset: number, length: number, last: boolean): number;
}

export interface StoredRange {
  storedStart: number;
  storedEnd: number; // inclusive
  /** Stored bytes [storedStart, storedEnd] in → exactly the requested plaintext out. */
  transform(): Duplex;
  /** False when the bytes are decrypted without authentication (S3EC GCM read as CTR). */
  authenticated: boolean;
}

export interface ObjectDecryptor {
  readonly format: CseFormat;
  /** Plaintext size when it is known before reading the body. */
  readonly plainSize?: number;
  /** Whole stored object → plaintext; fails the stream on any integrity problem. */
  stream(): Duplex;
  /** Ranged reads, for the formats that allow them (0 <= start <= end < plainSize). */
  range?(start: number, end: number): StoredRange;
}

/** How an object is encrypted client-side, for `kura head`. No key material. */
export interface CseDescription {
  format: CseFormat;
  /** cek / wrap algorithm names as stored. */
  algorithm: string;
  wrapAlgorithm?: string;
  /** Material description, KMS context, or the ESDK key namespaces/names. */
  keys: string;
  plainSize?: number;
}
