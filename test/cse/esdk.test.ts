import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, constants } from 'node:crypto';
import {
  buildClient,
  CommitmentPolicy,
  RawRsaKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { createEsdkDecryptStream, createEsdkEncryptStream, parseEsdkHeader } from '../../src/cse/esdk.ts';
import { aesKey, rsaKey } from '../../src/cse/keys.ts';
import { CseError } from '../../src/cse/errors.ts';
import { aesBytes, flipBit, rsaPem, through } from './helpers.ts';

const reference = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

describe('ESDK format', () => {
  const pair = rsaPem();
  const data = randomBytes(100_000);

  test('reads a message made by @aws-crypto/client-node as the ABCI script does (namespace/name from the message)', async () => {
    const ring = new RawRsaKeyringNode({
      keyNamespace: 'MyAppKeys',
      keyName: 'S3RSAKey',
      rsaKey: { publicKey: pair.publicPem, privateKey: pair.privatePem },
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
    });
    const { result } = await reference.encrypt(ring, data);
    assert.equal(result[0], 0x02);
    assert.equal(result.readUInt16BE(1), 0x0578);
    const out = await through(createEsdkDecryptStream([rsaKey(pair.privatePem)]), result);
    assert.deepEqual(out, data);
    const hdr = parseEsdkHeader(result);
    assert.deepEqual(hdr?.dataKeys, ['namespace "MyAppKeys" name "S3RSAKey"']);
    // A key pinned to another name must not be used.
    await assert.rejects(
      through(createEsdkDecryptStream([rsaKey(pair.privatePem, { keyNamespace: 'MyAppKeys', keyName: 'Other' })]), result),
      (e: Error) => e instanceof CseError && e.code === 'NoMatchingKey' && /S3RSAKey/.test(e.message),
    );
  });

  test('messages it writes decrypt with the reference keyring (public key only for writing)', async () => {
    const enc = createEsdkEncryptStream(rsaKey(pair.publicPem, { keyNamespace: 'MyAppKeys', keyName: 'S3RSAKey' }));
    const msg = await through(enc, data);
    const ring = new RawRsaKeyringNode({
      keyNamespace: 'MyAppKeys',
      keyName: 'S3RSAKey',
      rsaKey: { privateKey: pair.privatePem },
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
    });
    const { plaintext } = await reference.decrypt(ring, msg);
    assert.deepEqual(plaintext, data);
  });

  test('raw AES keys both ways, and the right key is picked among several', async () => {
    const k1 = aesBytes(),
      k2 = aesBytes();
    const ring = new RawAesKeyringNode({
      keyNamespace: 'ns',
      keyName: 'aes-two',
      unencryptedMasterKey: new Uint8Array(k2),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    const { result } = await reference.encrypt(ring, data);
    const out = await through(createEsdkDecryptStream([aesKey(k1), rsaKey(pair.privatePem), aesKey(k2)]), result);
    assert.deepEqual(out, data);
    const mine = await through(createEsdkEncryptStream(aesKey(k1, { keyNamespace: 'ns', keyName: 'aes-one' })), data);
    const ring1 = new RawAesKeyringNode({
      keyNamespace: 'ns',
      keyName: 'aes-one',
      unencryptedMasterKey: new Uint8Array(k1),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    assert.deepEqual((await reference.decrypt(ring1, mine)).plaintext, data);
    await assert.rejects(
      through(createEsdkDecryptStream([aesKey(k2)]), mine),
      (e: Error) => e instanceof CseError && e.code === 'NoMatchingKey' && /aes-one/.test(e.message),
    );
  });

  test('a flipped bit anywhere in the message fails', async () => {
    const key = rsaKey(pair.privatePem);
    const msg = await through(createEsdkEncryptStream(key), data);
    for (const at of [5, 200, 700, msg.length - 2000, msg.length - 1]) {
      await assert.rejects(through(createEsdkDecryptStream([key]), flipBit(msg, at)));
    }
    await assert.rejects(through(createEsdkDecryptStream([key]), msg.subarray(0, msg.length - 10)));
  });
});
