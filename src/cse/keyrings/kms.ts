// KMS master keys, used through @aws-sdk/client-kms (Kura's KMS or AWS KMS): the data key comes from
// GenerateDataKey and comes back through Decrypt, bound to an encryption context built per format:
// S3EC v2 `kms+context` (the material description plus aws:x-amz-cek-alg, stored whole, as KmsKeyring.java),
// OSS as AliKMSProvider (the counter block encrypted as its base64 text; `KMS/ALICLOUD` read), Kura `KMS`
// (the material description plus a hash of the layout); ESDK KMS keyrings.
import { createHash } from 'node:crypto';
import type { KMS } from '@aws-sdk/client-kms';
import type { EncryptedDataKey, KeyringNode } from '@aws-crypto/client-node';
import { CseError } from '../errors.ts';
import type { EsdkModule, Generated, KeyOptions, Keyring, KeyringKind, MaterialDescription, WrapContext, WrapFormat } from './keyring.ts';

const S3EC_KMS = 'kms+context';
/** Kura's name for the AliKMSProvider scheme over the AWS KMS API. */
const OSS_KMS_AWS = 'KMS/AWS';
const OSS_KMS_ALI = 'KMS/ALICLOUD';
const KURA_KMS = 'KMS';
const S3EC_CEK_CONTEXT = 'aws:x-amz-cek-alg';

/** The encryption context of a data key; `reading`: the one stored with an object (OSS sends none when empty). */
function encryptionContext(ctx: WrapContext, reading: boolean): Record<string, string> | undefined {
  switch (ctx.format) {
    case 's3ec':
      // Written: the description plus the content cipher; read: the stored context is already that.
      return reading ? ctx.description : { ...ctx.description, [S3EC_CEK_CONTEXT]: ctx.aad.toString() };
    case 'oss':
      return reading && !Object.keys(ctx.description).length ? undefined : ctx.description;
    case 'kura':
      return { ...ctx.description, 'kura:cse': createHash('sha256').update(ctx.aad).digest('base64') };
  }
}

export class KmsKeyring implements Keyring {
  readonly kind = 'kms';
  readonly description: MaterialDescription;
  readonly keyNamespace?: string;
  readonly keyName?: string;
  readonly label: string;
  readonly canEncrypt = true;
  readonly canDecrypt = true;

  constructor(
    readonly keyId: string,
    readonly kms: KMS,
    opts: KeyOptions,
  ) {
    this.description = opts.description ?? {};
    this.keyNamespace = opts.keyNamespace;
    this.keyName = opts.keyName;
    this.label = `kms:${keyId}`;
  }

  /** The KMS key id is inside the wrapped blob: any KMS key is a candidate, whatever the description. */
  matches(): boolean {
    return true;
  }

  async generate(ctx: WrapContext): Promise<Generated> {
    if (ctx.format === 's3ec' && S3EC_CEK_CONTEXT in this.description)
      throw new CseError('BadArgument', `${S3EC_CEK_CONTEXT} is reserved in the encryption context`);
    const context = encryptionContext(ctx, false)!;
    const r = await this.kms.generateDataKey({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: context });
    if (!r.Plaintext || !r.CiphertextBlob) throw new CseError('IntegrityError', 'KMS GenerateDataKey returned no key');
    return {
      dataKey: Buffer.from(r.Plaintext),
      wrapped: Buffer.from(r.CiphertextBlob),
      wrapAlg: kmsKind.wrapAlgorithms[ctx.format][0]!,
      description: ctx.format === 's3ec' ? context : this.description,
    };
  }

  async wrap(plaintext: Buffer, ctx: WrapContext): Promise<Buffer> {
    // AliKMSProvider encrypts key material as its base64 text.
    const text = ctx.format === 'oss' ? Buffer.from(plaintext.toString('base64')) : plaintext;
    const r = await this.kms.encrypt({ KeyId: this.keyId, Plaintext: text, EncryptionContext: encryptionContext(ctx, false) });
    if (!r.CiphertextBlob) throw new CseError('IntegrityError', 'KMS Encrypt returned nothing');
    return Buffer.from(r.CiphertextBlob);
  }

  async unwrap(wrapped: Buffer, wrapAlg: string, ctx: WrapContext): Promise<Buffer> {
    if (!kmsKind.wrapAlgorithms[ctx.format].includes(wrapAlg))
      throw new CseError('UnsupportedFormat', `a KMS key does not unwrap ${JSON.stringify(wrapAlg)}`);
    const r = await this.kms.decrypt({ KeyId: this.keyId, CiphertextBlob: wrapped, EncryptionContext: encryptionContext(ctx, true) });
    if (!r.Plaintext) throw new CseError('NoMatchingKey', `KMS returned no plaintext with ${this.label}`);
    const plain = Buffer.from(r.Plaintext);
    // OSS: what wrap() made (and every key from Alibaba KMS) is base64 text; a data key from GenerateDataKey is raw.
    return ctx.format === 'oss' && plain.length !== 32 ? Buffer.from(plain.toString(), 'base64') : plain;
  }

  fingerprint(): string {
    return createHash('sha256').update(this.keyId).digest('hex').slice(0, 16);
  }

  esdkEncryptKeyring(sdk: EsdkModule): KeyringNode {
    return new sdk.KmsKeyringNode({ generatorKeyId: this.keyId, clientProvider: () => this.kms });
  }

  esdkDecryptKeyrings(sdk: EsdkModule, edk: EncryptedDataKey): KeyringNode[] {
    if (edk.providerId !== 'aws-kms') return [];
    const clientProvider = () => this.kms;
    return [
      new sdk.KmsKeyringNode(
        this.keyId.startsWith('arn:') ? { keyIds: [this.keyId], clientProvider } : { discovery: true, clientProvider },
      ),
    ];
  }
}

export function kmsKey(keyId: string, kms: KMS, opts: KeyOptions = {}): KmsKeyring {
  return new KmsKeyring(keyId, kms, opts);
}

const WRAP_ALGORITHMS: Record<WrapFormat, readonly string[]> = { s3ec: [S3EC_KMS], oss: [OSS_KMS_AWS, OSS_KMS_ALI], kura: [KURA_KMS] };

export const kmsKind: KeyringKind = {
  kind: 'kms',
  wrapAlgorithms: WRAP_ALGORITHMS,
  fromSpec: (spec, opts) => {
    if (!spec.startsWith('kms:')) return undefined;
    if (!opts.kms) throw new CseError('BadArgument', 'a kms: key needs a KMS client');
    return kmsKey(spec.slice(4), opts.kms(), opts);
  },
  checkStored: (_wrapAlg, ctx) => {
    if (ctx.format === 's3ec' && ctx.description[S3EC_CEK_CONTEXT] !== ctx.aad.toString()) {
      throw new CseError('IntegrityError', 'KMS context does not name the content cipher: the metadata was altered');
    }
  },
  noMatch: () => new CseError('NoMatchingKey', "this object's data key is wrapped by KMS; supply --cse-key kms:KEY"),
  allFailed: (_wrapAlg, tried, last) => {
    if (last instanceof CseError && last.code === 'IntegrityError') return last; // KMS opened it; the format refused the result
    const name = (last as { name?: string } | undefined)?.name ?? 'error';
    if (name === 'InvalidCiphertextException')
      return new CseError('IntegrityError', 'KMS refused the wrapped data key or its context: the metadata was altered', { cause: last });
    return new CseError('NoMatchingKey', `KMS could not decrypt the data key with ${tried.map((k) => k.label).join(', ')} (${name})`, {
      cause: last,
    });
  },
};
