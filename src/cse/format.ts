// What every object format provides to the encrypting client.
import type { Duplex } from 'node:stream';
import type { MultiKeyring } from './keyrings/multi.ts';

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

/**
 * One object format: its metadata names, its size rules, and its encryptor/decryptor. The table in
 * formats.ts lists them; the client asks the format and never reads a format's metadata itself.
 */
export interface FormatModule {
  readonly name: CseFormat;
  /** Whether the object's metadata shows this format. */
  inMetadata(meta: UserMetadata): boolean;
  /** Whether the first bytes of a body without CSE metadata show this format. */
  inBody?(head: Uint8Array): boolean;
  /** Whether a user-metadata name is this format's (hidden from the caller's metadata). */
  ownsMetadataName(name: string): boolean;
  /** The multipart part size used for a requested one. */
  partSize(requested: number): number;
  /** Whether the encryptor needs the plaintext MD5 up front (an extra read pass over a file). */
  readonly needsMd5: boolean;
  /** Plaintext size of a stored size when the metadata states none (undefined: not computable). */
  plainSizeOf(storedSize: number): number | undefined;
  encryptor(keys: MultiKeyring, opts: EncryptOptions): Promise<ObjectEncryptor>;
  /** The encryptor of an interrupted upload again, from its stored metadata; a string says why it cannot. */
  resume: ((meta: UserMetadata, keys: MultiKeyring) => Promise<ObjectEncryptor>) | string;
  decryptor(meta: UserMetadata, keys: MultiKeyring, storedSize: number): Promise<ObjectDecryptor>;
  /** `head`: the body's first bytes, for formats that keep their header there. */
  describe(meta: UserMetadata, head?: Uint8Array): Promise<CseDescription>;
}
