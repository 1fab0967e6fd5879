// What every kind of master key provides: a keyring (as the AWS Encryption SDK and the S3 Encryption Client
// call them) that makes, wraps and unwraps per-object data keys. Each kind lives in its own file and owns the
// wrapping schemes it uses in each format and the algorithm names stored for them; formats only pass the
// bytes the wrapped key is bound to and the material description.
import type { EncryptedDataKey, KeyringNode } from '@aws-crypto/client-node';
import { CseError } from '../errors.ts';

/** A material description: string pairs stored with the object; decryption picks the key with the same one. */
export type MaterialDescription = Record<string, string>;

/** The metadata formats whose data keys keyrings wrap (ESDK messages carry their own keyring data). */
export type WrapFormat = 's3ec' | 'oss' | 'kura';

export interface WrapContext {
  format: WrapFormat;
  /** Bytes the wrapped key is bound to: GCM AAD, RSA-OAEP label or KMS context, as the scheme does it. */
  aad: Buffer;
  /** The material description stored with the object (writing: the key's own). */
  description: MaterialDescription;
}

/** A data key fresh from `generate`: the plaintext, its wrapped form, and what to store with it. */
export interface Generated {
  dataKey: Buffer;
  wrapped: Buffer;
  wrapAlg: string;
  /** The material description to store (KMS in S3EC stores its whole encryption context). */
  description: MaterialDescription;
}

/** ESDK keyring names (provider id = namespace, provider info = name). */
export interface EsdkNames {
  keyNamespace: string;
  keyName: string;
}

/** The ESDK module, handed in by esdk.ts so that keyrings never load it themselves (it is large). */
export type EsdkModule = typeof import('@aws-crypto/client-node');

export interface Keyring {
  readonly kind: string;
  /** Stored with the object (S3EC / OSS / Kura formats) and used to pick this key on decryption. */
  readonly description: MaterialDescription;
  /** ESDK raw keyrings: provider id and key name. Undefined: a stable default when writing, and on
   *  reading the ones stored in the message are accepted for this key. */
  readonly keyNamespace?: string;
  readonly keyName?: string;
  /** Where the key came from (file name or kms:ID), for messages. Never key material. */
  readonly label: string;
  readonly canEncrypt: boolean;
  readonly canDecrypt: boolean;
  /** Whether this key may have wrapped a data key stored with material description `desc`. */
  matches(desc: MaterialDescription): boolean;
  /** A new data key, wrapped. */
  generate(ctx: WrapContext): Promise<Generated>;
  /** Wraps further key material (the OSS counter block) with the scheme `generate` used. */
  wrap(plaintext: Buffer, ctx: WrapContext): Promise<Buffer>;
  /** Opens what `generate` or `wrap` made under `wrapAlg`; throws when this key does not fit. */
  unwrap(wrapped: Buffer, wrapAlg: string, ctx: WrapContext): Promise<Buffer>;
  /** Stable identifier for default ESDK key names: never reveals key material. */
  fingerprint(): string;
  /** The ESDK keyring that encrypts new messages with this key. */
  esdkEncryptKeyring(sdk: EsdkModule, names: EsdkNames): KeyringNode;
  /** ESDK keyrings that may open `edk` with this key (none when it cannot); `pinned`: names it must match. */
  esdkDecryptKeyrings(sdk: EsdkModule, edk: EncryptedDataKey, pinned: EsdkNames | undefined): KeyringNode[];
}

/** What is known of a kind of key without an instance: the table in keyrings/index.ts lists them. */
export interface KeyringKind {
  readonly kind: string;
  /** Wrap algorithm names this kind stores in each format: the first is written, all are read. */
  readonly wrapAlgorithms: Readonly<Record<WrapFormat, readonly string[]>>;
  /** `kms:KEY`-style specs this kind reads (undefined: not this kind). */
  fromSpec?(spec: string, opts: KeyLoadOptions): Keyring | undefined;
  /** Key file contents this kind reads (undefined: not this kind). */
  fromFile?(data: Buffer, label: string, opts: KeyLoadOptions): Keyring | undefined;
  /** Checks of the stored context made before any key is tried (an altered context fails even without a key). */
  checkStored?(wrapAlg: string, ctx: WrapContext): void;
  /** The error when no supplied key of this kind fits; `usable`: the supplied keys of this kind. */
  noMatch(ctx: WrapContext, usable: Keyring[]): CseError;
  /** The error when every candidate failed; `last` is the last failure. */
  allFailed(wrapAlg: string, tried: Keyring[], last: unknown): CseError;
}

export interface KeyOptions {
  description?: MaterialDescription;
  keyNamespace?: string;
  keyName?: string;
}

export interface KeyLoadOptions extends KeyOptions {
  kms?: () => import('@aws-sdk/client-kms').KMS;
}

export function sameDescription(a: MaterialDescription, b: MaterialDescription): boolean {
  const ka = Object.keys(a),
    kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && b[k] === a[k]);
}

/** For raw keys: the error naming the description an object needs and the keys that were supplied. */
export function descriptionMismatch(desc: MaterialDescription, usable: Keyring[]): CseError {
  return new CseError(
    'NoMatchingKey',
    `no supplied key matches this object's material description ${JSON.stringify(desc)}` +
      (usable.length ? ` (supplied: ${usable.map((k) => `${k.label} ${JSON.stringify(k.description)}`).join(', ')})` : ''),
  );
}

/** For raw keys: every candidate failed to open the data key. */
export function unwrapFailed(wrapAlg: string, last: unknown): CseError {
  return new CseError('IntegrityError', `${wrapAlg}: no supplied key unwraps the data key (wrong key, or the metadata was altered)`, {
    cause: last,
  });
}
