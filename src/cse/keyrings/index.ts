// The kinds of master key. A new kind is one file in this folder and one line here.
import { CseError } from '../errors.ts';
import type { KeyringKind, WrapContext } from './keyring.ts';
import { rsaKind } from './rsa.ts';
import { aesKind } from './aes.ts';
import { kmsKind } from './kms.ts';

export const KEYRING_KINDS: readonly KeyringKind[] = [rsaKind, aesKind, kmsKind];

/** The kind that stores `wrapAlg` in objects of `ctx.format`. */
export function kindOf(wrapAlg: string | undefined, ctx: WrapContext): KeyringKind {
  const kind = KEYRING_KINDS.find((k) => wrapAlg !== undefined && k.wrapAlgorithms[ctx.format].includes(wrapAlg));
  if (!kind) throw new CseError('UnsupportedFormat', `unsupported ${ctx.format} key wrap algorithm ${JSON.stringify(wrapAlg)}`);
  return kind;
}
