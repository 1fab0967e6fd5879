// RSA master keys: a key pair, or its public half alone (enough to encrypt). The wrapping schemes per format:
// S3EC v2 RSA-OAEP-SHA1 over a "pseudo data key" (RsaKeyring.java), OSS RSA/NONE/PKCS1Padding (RsaProvider;
// OAEP-SHA1 read too), Kura RSA-OAEP-SHA256 with the layout as OAEP label; ESDK raw RSA keyrings.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  constants,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { EncryptedDataKey, KeyringNode } from '@aws-crypto/client-node';
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

const S3EC_OAEP = 'RSA-OAEP-SHA1';
const OSS_PKCS1 = 'RSA/NONE/PKCS1Padding';
const OSS_OAEP = 'RSA/NONE/OAEPWithSHA-1AndMGF1Padding';
const KURA_OAEP = 'RSA-OAEP-SHA256';

/** OAEP hashes tried, in order, for an ESDK raw RSA data key (the message does not record the padding). */
const ESDK_OAEP_HASHES = ['sha256', 'sha1', 'sha384', 'sha512'] as const;

export function rsaOaepEncrypt(key: KeyObject, data: Buffer, hash: 'sha1' | 'sha256', label?: Buffer): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: label }, data);
}
export function rsaOaepDecrypt(key: KeyObject, data: Buffer, hash: 'sha1' | 'sha256', label?: Buffer): Buffer {
  return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: label }, data);
}
export function rsaPkcs1Encrypt(key: KeyObject, data: Buffer): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data);
}
/**
 * PKCS#1 v1.5 decryption, needed to read OSS objects (RSA/NONE/PKCS1Padding). Node 20 refuses this
 * padding for private decryption (CVE-2023-46809), so the raw RSA operation is done by OpenSSL and
 * only the EME-PKCS1-v1_5 unpadding is here; every failure gives the same error.
 */
export function rsaPkcs1Decrypt(key: KeyObject, data: Buffer): Buffer {
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, data);
  let sep = -1;
  let bad = em[0] !== 0 || em[1] !== 2 ? 1 : 0;
  for (let i = 2; i < em.length; i++) if (em[i] === 0 && sep < 0) sep = i;
  if (sep < 10) bad = 1; // at least 8 bytes of non-zero padding
  if (bad) throw new CseError('IntegrityError', 'RSA unwrap failed');
  return em.subarray(sep + 1);
}

export class RsaKeyring implements Keyring {
  readonly kind = 'rsa';
  readonly description: MaterialDescription;
  readonly keyNamespace?: string;
  readonly keyName?: string;
  readonly label: string;

  constructor(
    readonly publicKey: KeyObject,
    readonly privateKey: KeyObject | undefined,
    opts: KeyOptions & { label?: string },
  ) {
    this.description = opts.description ?? {};
    this.keyNamespace = opts.keyNamespace;
    this.keyName = opts.keyName;
    this.label = opts.label ?? 'rsa key';
  }

  get canEncrypt(): boolean {
    return true;
  }
  get canDecrypt(): boolean {
    return this.privateKey !== undefined;
  }

  matches(desc: MaterialDescription): boolean {
    return sameDescription(this.description, desc);
  }

  async generate(ctx: WrapContext): Promise<Generated> {
    const dataKey = randomBytes(32);
    return {
      dataKey,
      wrapped: await this.wrap(dataKey, ctx),
      wrapAlg: rsaKind.wrapAlgorithms[ctx.format][0]!,
      description: this.description,
    };
  }

  async wrap(plaintext: Buffer, ctx: WrapContext): Promise<Buffer> {
    switch (ctx.format) {
      // The pseudo data key binds the content cipher name (ctx.aad): key length (1 byte) ‖ key ‖ cipher name.
      case 's3ec':
        return rsaOaepEncrypt(this.publicKey, Buffer.concat([Buffer.from([plaintext.length]), plaintext, ctx.aad]), 'sha1');
      case 'oss':
        return rsaPkcs1Encrypt(this.publicKey, plaintext);
      case 'kura':
        return rsaOaepEncrypt(this.publicKey, plaintext, 'sha256', ctx.aad);
    }
  }

  async unwrap(wrapped: Buffer, wrapAlg: string, ctx: WrapContext): Promise<Buffer> {
    const key = this.privateKey;
    if (!key) throw new CseError('BadArgument', `${this.label}: decrypting needs the private key`);
    switch (wrapAlg) {
      case S3EC_OAEP: {
        const pseudo = rsaOaepDecrypt(key, wrapped, 'sha1');
        const n = pseudo[0]!;
        if (n !== 32 || !pseudo.subarray(1 + n).equals(ctx.aad))
          throw new CseError('IntegrityError', 'the wrapped data key names another content cipher: the object was altered');
        return Buffer.from(pseudo.subarray(1, 1 + n));
      }
      case OSS_PKCS1:
        return rsaPkcs1Decrypt(key, wrapped);
      case OSS_OAEP:
        return rsaOaepDecrypt(key, wrapped, 'sha1');
      case KURA_OAEP:
        return rsaOaepDecrypt(key, wrapped, 'sha256', ctx.aad);
      default:
        throw new CseError('UnsupportedFormat', `an RSA key does not unwrap ${JSON.stringify(wrapAlg)}`);
    }
  }

  fingerprint(): string {
    return createHash('sha256')
      .update(this.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex')
      .slice(0, 16);
  }

  /** OAEP-SHA256-MGF1, as the ABCI guide's script. */
  esdkEncryptKeyring(sdk: EsdkModule, names: EsdkNames): KeyringNode {
    const publicKey = this.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    return new sdk.RawRsaKeyringNode({ ...names, rsaKey: { publicKey }, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' });
  }

  esdkDecryptKeyrings(sdk: EsdkModule, edk: EncryptedDataKey, pinned: EsdkNames | undefined): KeyringNode[] {
    if (!this.privateKey || edk.providerId === 'aws-kms') return [];
    const names = pinned ?? { keyNamespace: edk.providerId, keyName: edk.providerInfo };
    const privateKey = this.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    return ESDK_OAEP_HASHES.map(
      (oaepHash) => new sdk.RawRsaKeyringNode({ ...names, rsaKey: { privateKey }, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }),
    );
  }
}

export function rsaKey(pem: string | Buffer, opts: KeyOptions & { label?: string } = {}): RsaKeyring {
  const text = pem.toString();
  let privateKey: KeyObject | undefined;
  let publicKey: KeyObject;
  try {
    if (/PRIVATE KEY-----/.test(text)) {
      privateKey = createPrivateKey(text);
      publicKey = createPublicKey(privateKey);
    } else {
      publicKey = createPublicKey(text);
    }
  } catch (e) {
    throw new CseError('BadKey', `${opts.label ?? 'key'}: not a readable PEM key`, { cause: e });
  }
  if (publicKey.asymmetricKeyType !== 'rsa') throw new CseError('BadKey', `${opts.label ?? 'key'}: not an RSA key`);
  return new RsaKeyring(publicKey, privateKey, opts);
}

export const rsaKind: KeyringKind = {
  kind: 'rsa',
  wrapAlgorithms: { s3ec: [S3EC_OAEP], oss: [OSS_PKCS1, OSS_OAEP], kura: [KURA_OAEP] },
  fromFile: (data, label, opts) => (data.includes('-----BEGIN') ? rsaKey(data, { ...opts, label }) : undefined),
  noMatch: (ctx, usable) => descriptionMismatch(ctx.description, usable),
  allFailed: (wrapAlg, _tried, last) => unwrapFailed(wrapAlg, last),
};
