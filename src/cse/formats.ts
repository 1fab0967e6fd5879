// The format table: one entry per object format. A new format is one module (metadata names, size rules,
// encryptor, decryptor: a FormatModule) and one line here.
import { CseError } from './errors.ts';
import type { MasterKey } from './keys.ts';
import { MultiKeyring } from './keyrings/multi.ts';
import type { CseDescription, CseFormat, EncryptOptions, FormatModule, ObjectDecryptor, ObjectEncryptor, UserMetadata } from './format.ts';
import { esdkFormat } from './esdk-format.ts';
import { s3ecFormat } from './s3ec.ts';
import { ossFormat } from './oss.ts';
import { kuraFormat } from './kura.ts';

const FORMATS: Readonly<Record<CseFormat, FormatModule>> = { esdk: esdkFormat, s3ec: s3ecFormat, oss: ossFormat, kura: kuraFormat };

export function formatModule(format: CseFormat): FormatModule {
  return FORMATS[format];
}

/** Format named by the object's metadata; undefined when the metadata names none (ESDK body, or plaintext). */
export function metadataFormat(meta: UserMetadata): CseFormat | undefined {
  return Object.values(FORMATS).find((f) => f.inMetadata(meta))?.name;
}

/** Format shown by the first bytes of a body whose metadata names none. */
export function bodyFormat(head: Uint8Array): CseFormat | undefined {
  return Object.values(FORMATS).find((f) => f.inBody?.(head))?.name;
}

/** Whether a user-metadata name belongs to a format (the caller sees its own metadata without them). */
export function isEncryptionMetadata(name: string): boolean {
  return Object.values(FORMATS).some((f) => f.ownsMetadataName(name));
}

export function createObjectEncryptor(format: CseFormat, key: MasterKey, opts: EncryptOptions = {}): Promise<ObjectEncryptor> {
  return FORMATS[format].encryptor(new MultiKeyring([key]), opts);
}

/** Rebuilds the encryptor of an interrupted upload from its stored metadata (needs a key that unwraps it). */
export function resumeObjectEncryptor(meta: UserMetadata, keys: MasterKey[]): Promise<ObjectEncryptor> {
  return resumeEncryptor(meta, new MultiKeyring(keys));
}

export async function resumeEncryptor(meta: UserMetadata, keyring: MultiKeyring): Promise<ObjectEncryptor> {
  const format = metadataFormat(meta);
  const resume = format && FORMATS[format].resume;
  if (typeof resume !== 'function') throw new CseError('BadArgument', resume ?? 'this format cannot resume an interrupted upload');
  return resume(meta, keyring);
}

export function openObjectDecryptor(
  format: CseFormat,
  meta: UserMetadata,
  keys: MasterKey[],
  storedSize: number,
): Promise<ObjectDecryptor> {
  return FORMATS[format].decryptor(meta, new MultiKeyring(keys), storedSize);
}

/** For `head`: the format and key description; `body` is the object's first bytes when the metadata names none. */
export async function describeObject(meta: UserMetadata, body?: Uint8Array): Promise<CseDescription | undefined> {
  const format = metadataFormat(meta) ?? (body ? bodyFormat(body) : undefined);
  return format && FORMATS[format].describe(meta, body);
}
