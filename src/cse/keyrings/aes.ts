// Raw AES-256 master keys. The wrapping schemes per format: AES/GCM as the S3 Encryption Client's AesKeyring
// (12-byte IV ‖ ciphertext ‖ tag, AAD = content cipher name; also Kura's extension of OSS, which has no raw AES
// keys), Kura AES-256-GCM = the crypto core's sealKey with the layout as AAD; ESDK raw AES keyrings.
import { createCipheriv, createDecipheriv, createHash, randomBytes, type CipherGCM, type DecipherGCM } from 'node:crypto';
import type { EncryptedDataKey, KeyringNode } from '@aws-crypto/client-node';
import { sealKey, unsealKey } from '../../crypto/index.ts';
import { CseError } from '../errors.ts';
import {
  descriptionMismatch,
  sameDescription,
  unwrapFailed,
  type EsdkModule,
  type EsdkNames,
  type Generated,
  type KeyOptions,
  type Keyring,
  type KeyringKind,
  type MaterialDescription,
  type WrapContext,
} from './keyring.ts';

const AES_GCM = 'AES/GCM';
const KURA_SEAL = 'AES-256-GCM';

export function aesGcmWrap(kek: Buffer, dataKey: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, iv) as CipherGCM;
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(dataKey), c.final()]);
  return Buffer.concat([iv, ct, c.getAuthTag()]);
}

export function aesGcmUnwrap(kek: Buffer, wrapped: Buffer, aad: Buffer): Buffer {
  if (wrapped.length < 12 + 16 + 1) throw new CseError('IntegrityError', 'wrapped data key too short');
  try {
    const d = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, 12)) as DecipherGCM;
    d.setAAD(aad);
    d.setAuthTag(wrapped.subarray(wrapped.length - 16));
    return Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);
  } catch (e) {
    throw new CseError('IntegrityError', 'AES key unwrap failed (wrong key, or the metadata was altered)', { cause: e });
  }
}

/** A 256-bit key file: 32 raw bytes, or its base64 or hex text (what `kura keygen aes` writes). */
export function parseAesKeyFile(data: Buffer): Buffer | undefined {
  if (data.length === 32) return data;
  const text = data.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  return undefined;
}

export class AesKeyring implements Keyring {
  readonly kind = 'aes';
  readonly description: MaterialDescription;
  readonly keyNamespace?: string;
  readonly keyName?: string;
  readonly label: string;
  readonly canEncrypt = true;
  readonly canDecrypt = true;

  constructor(
    readonly key: Buffer,
    opts: KeyOptions & { label?: string },
  ) {
    this.description = opts.description ?? {};
    this.keyNamespace = opts.keyNamespace;
    this.keyName = opts.keyName;
    this.label = opts.label ?? 'aes key';
  }

  matches(desc: MaterialDescription): boolean {
    return sameDescription(this.description, desc);
  }

  async generate(ctx: WrapContext): Promise<Generated> {
    const dataKey = randomBytes(32);
    return {
      dataKey,
      wrapped: await this.wrap(dataKey, ctx),
      wrapAlg: aesKind.wrapAlgorithms[ctx.format][0]!,
      description: this.description,
    };
  }

  async wrap(plaintext: Buffer, ctx: WrapContext): Promise<Buffer> {
    return ctx.format === 'kura' ? sealKey(this.key, plaintext, ctx.aad) : aesGcmWrap(this.key, plaintext, ctx.aad);
  }

  async unwrap(wrapped: Buffer, wrapAlg: string, ctx: WrapContext): Promise<Buffer> {
    switch (wrapAlg) {
      case AES_GCM:
        return aesGcmUnwrap(this.key, wrapped, ctx.aad);
      case KURA_SEAL:
        return unsealKey(this.key, wrapped, ctx.aad);
      default:
        throw new CseError('UnsupportedFormat', `an AES key does not unwrap ${JSON.stringify(wrapAlg)}`);
    }
  }

  fingerprint(): string {
    return createHash('sha256').update('kura-aes-key-id\0').update(this.key).digest('hex').slice(0, 16);
  }

  esdkEncryptKeyring(sdk: EsdkModule, names: EsdkNames): KeyringNode {
    return new sdk.RawAesKeyringNode({
      ...names,
      unencryptedMasterKey: new Uint8Array(this.key),
      wrappingSuite: sdk.RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
  }

  esdkDecryptKeyrings(sdk: EsdkModule, edk: EncryptedDataKey, pinned: EsdkNames | undefined): KeyringNode[] {
    if (edk.providerId === 'aws-kms') return [];
    // Raw AES provider info = key name ‖ tag bits (4) ‖ IV length (4) ‖ IV (12).
    const raw = edk.rawInfo;
    if (!raw || raw.length <= 20) return [];
    const names = pinned ?? { keyNamespace: edk.providerId, keyName: Buffer.from(raw.subarray(0, raw.length - 20)).toString('utf8') };
    return [this.esdkEncryptKeyring(sdk, names)];
  }
}

export function aesKey(key: Buffer, opts: KeyOptions & { label?: string } = {}): AesKeyring {
  if (key.length !== 32) throw new CseError('BadKey', `${opts.label ?? 'key'}: an AES master key must be 256 bits`);
  return new AesKeyring(key, opts);
}

export const aesKind: KeyringKind = {
  kind: 'aes',
  wrapAlgorithms: { s3ec: [AES_GCM], oss: [AES_GCM], kura: [KURA_SEAL] },
  fromFile: (data, label, opts) => {
    const key = parseAesKeyFile(data);
    return key ? aesKey(key, { ...opts, label }) : undefined;
  },
  noMatch: (ctx, usable) => descriptionMismatch(ctx.description, usable),
  allFailed: (wrapAlg, _tried, last) => unwrapFailed(wrapAlg, last),
};
