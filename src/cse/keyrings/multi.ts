// Several master keys at once: the first encrypts; reading an object picks, among all of them, the keys of the
// kind that wrapped its data key and whose material description matches, and tries them in the caller's order.
import { CseError } from '../errors.ts';
import type { Generated, Keyring, WrapContext } from './keyring.ts';
import { kindOf } from './index.ts';

export class MultiKeyring {
  constructor(readonly keys: readonly Keyring[]) {}

  /** The key that encrypts new objects. */
  get generator(): Keyring {
    const k = this.keys[0];
    if (!k) throw new CseError('BadArgument', 'encrypting needs a master key (--cse-key)');
    if (!k.canEncrypt) throw new CseError('BadArgument', `${k.label}: encrypting needs the public key`);
    return k;
  }

  generate(ctx: WrapContext): Promise<Generated> {
    return this.generator.generate(ctx);
  }

  /**
   * Opens every blob of `wrapped` (wrapped under `wrapAlg`) with the first candidate key that opens them all
   * and whose results pass `check`. No candidate: the error names what the object needs.
   */
  async unwrap(wrapped: Buffer[], wrapAlg: string | undefined, ctx: WrapContext, check?: (plain: Buffer[]) => void): Promise<Buffer[]> {
    const kind = kindOf(wrapAlg, ctx);
    kind.checkStored?.(wrapAlg!, ctx);
    const usable = this.keys.filter((k) => k.kind === kind.kind && k.canDecrypt);
    const candidates = usable.filter((k) => k.matches(ctx.description));
    if (!candidates.length) throw kind.noMatch(ctx, usable);
    let last: unknown;
    for (const key of candidates) {
      try {
        const plain: Buffer[] = [];
        for (const w of wrapped) plain.push(await key.unwrap(w, wrapAlg!, ctx));
        check?.(plain);
        return plain;
      } catch (e) {
        last = e;
      }
    }
    throw kind.allFailed(wrapAlg!, candidates, last);
  }
}
