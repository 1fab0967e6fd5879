// Format 1: the AWS Encryption SDK message format, through the official @aws-crypto/client-node.
// The object body is one ESDK message (no S3 metadata needed), exactly what the ABCI guide's Python
// script (aws-encryption-sdk, raw RSA keyring, OAEP_SHA256_MGF1, REQUIRE_ENCRYPT_REQUIRE_DECRYPT) uploads.
import type { Duplex } from 'node:stream';
import * as sdk from '@aws-crypto/client-node';
import {
  buildClient,
  CommitmentPolicy,
  KeyringNode,
  type NodeDecryptionMaterial,
  type NodeEncryptionMaterial,
  type EncryptedDataKey,
} from '@aws-crypto/client-node';
import { deserializeFactory } from '@aws-crypto/serialize';
import { NodeAlgorithmSuite } from '@aws-crypto/material-management-node';
import { CseError } from './errors.ts';
import type { MasterKey } from './keys.ts';
import type { EsdkNames } from './keyrings/keyring.ts';
import { guarded } from './pipe.ts';
import { looksLikeEsdk } from './esdk-header.ts';

const ESDK_DEFAULT_NAMESPACE = 'kura';
const MAX_EDKS = 10;
const esdk = buildClient({ commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, maxEncryptedDataKeys: MAX_EDKS });

function namesOf(key: MasterKey): EsdkNames {
  return { keyNamespace: key.keyNamespace ?? ESDK_DEFAULT_NAMESPACE, keyName: key.keyName ?? `${key.kind}-${key.fingerprint()}` };
}

/** The keyring that encrypts new messages with `key`. */
export function encryptKeyring(key: MasterKey): KeyringNode {
  return key.esdkEncryptKeyring(sdk, namesOf(key));
}

function describeEdk(edk: EncryptedDataKey): string {
  if (edk.providerId === 'aws-kms') return `kms:${edk.providerInfo}`;
  const raw = edk.rawInfo;
  // Raw AES provider info = key name ‖ tag bits (4) ‖ IV length (4) ‖ IV (12).
  const name =
    raw && raw.length > 20 && Buffer.from(raw.subarray(raw.length - 8, raw.length - 4)).readUInt32BE() === 12
      ? Buffer.from(raw.subarray(0, raw.length - 20)).toString('utf8')
      : edk.providerInfo;
  return `namespace ${JSON.stringify(edk.providerId)} name ${JSON.stringify(name)}`;
}

/**
 * Decrypts with whichever supplied key fits a data key in the message. Keys given a namespace/name
 * must match it exactly (as ESDK keyrings do); keys without one accept the namespace/name stored in
 * the message, so `kura cp s3://b/k out --cse-key private.pem` just works.
 */
class SelectingKeyring extends KeyringNode {
  constructor(private readonly keys: MasterKey[]) {
    super();
  }

  async _onEncrypt(_m: NodeEncryptionMaterial): Promise<NodeEncryptionMaterial> {
    throw new CseError('BadArgument', 'decrypt-only keyring');
  }

  async _onDecrypt(material: NodeDecryptionMaterial, edks: EncryptedDataKey[]): Promise<NodeDecryptionMaterial> {
    for (const edk of edks) {
      for (const key of this.keys) {
        const pinned = key.keyNamespace !== undefined || key.keyName !== undefined ? namesOf(key) : undefined;
        for (const keyring of key.esdkDecryptKeyrings(sdk, edk, pinned)) {
          try {
            await keyring.onDecrypt(material, [edk]);
          } catch {
            /* this key does not fit; try the next */
          }
          if (material.hasValidKey()) return material;
        }
      }
    }
    throw new CseError(
      'NoMatchingKey',
      `no supplied key can decrypt this ESDK message; it was encrypted for: ${edks.map(describeEdk).join('; ')}`,
    );
  }
}

export function decryptKeyring(keys: MasterKey[]): KeyringNode {
  return new SelectingKeyring(keys);
}

/**
 * Frame length of the messages Kura writes. The SDKs' default of 4096 bytes costs a cipher set-up per 4 KiB
 * (about 10 CPU s per GiB with @aws-crypto/client-node); 1 MiB frames cost a fifth of that. Every ESDK reads any
 * frame length (the format allows up to 2^32 - 1), holding one frame in memory.
 */
const ESDK_FRAME_LENGTH = 1024 * 1024;

/** Plaintext in, ESDK message out (suite 0x0578: committing key, ECDSA P-384 signature). */
export function createEsdkEncryptStream(key: MasterKey, opts: { plaintextLength?: number; frameLength?: number } = {}): Duplex {
  return esdk.encryptStream(encryptKeyring(key), {
    plaintextLength: opts.plaintextLength,
    frameLength: opts.frameLength ?? ESDK_FRAME_LENGTH,
  });
}

/**
 * ESDK message in, plaintext out. Plaintext frames are released before the footer signature is checked,
 * so callers must treat output as final only after the stream ends without error (the client writes
 * to a temporary file and renames).
 */
export function createEsdkDecryptStream(keys: MasterKey[]): Duplex {
  return guarded(esdk.decryptStream(decryptKeyring(keys)), (e) =>
    e instanceof CseError ? e : new CseError('IntegrityError', `ESDK message failed its checks: ${e.message}`, { cause: e }),
  );
}

export const esdkEncrypt = (key: MasterKey, plaintext: Buffer) => esdk.encrypt(encryptKeyring(key), plaintext);
export const esdkDecrypt = (keys: MasterKey[], message: Buffer) => esdk.decrypt(decryptKeyring(keys), message);

const toUtf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const deserialize = deserializeFactory(toUtf8, NodeAlgorithmSuite);

export interface EsdkHeaderInfo {
  version: number;
  suiteId: number;
  frameLength: number;
  encryptionContext: Record<string, string>;
  dataKeys: string[];
}

/** Parses an ESDK header from the first bytes of an object; undefined if it is not one (or the bytes are too few). */
export function parseEsdkHeader(head: Uint8Array): EsdkHeaderInfo | undefined {
  if (!looksLikeEsdk(head)) return undefined;
  try {
    const info = deserialize.deserializeMessageHeader(head, { maxEncryptedDataKeys: MAX_EDKS });
    if (!info) return undefined;
    const h = info.messageHeader;
    return {
      version: h.version,
      suiteId: h.suiteId,
      frameLength: h.frameLength,
      encryptionContext: { ...h.encryptionContext },
      dataKeys: h.encryptedDataKeys.map(describeEdk),
    };
  } catch {
    return undefined;
  }
}
