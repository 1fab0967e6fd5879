// The ESDK format's entry in the format table. An ESDK message keeps everything in the object body (no
// metadata), so it is recognised by its first bytes; the ESDK itself (@aws-crypto/client-node, a large module
// tree, in esdk.ts) is loaded only for objects that need it: the CLI starts faster.
import type { FormatModule } from './format.ts';
import { looksLikeEsdk } from './esdk-header.ts';

export const esdkFormat: FormatModule = {
  name: 'esdk',
  inMetadata: () => false,
  inBody: looksLikeEsdk,
  ownsMetadataName: () => false,
  partSize: (requested) => requested,
  needsMd5: false,
  plainSizeOf: () => undefined,
  async encryptor(keys) {
    const { createEsdkEncryptStream } = await import('./esdk.ts');
    const key = keys.generator;
    return { format: 'esdk', metadata: {}, cipherSize: () => undefined, stream: () => createEsdkEncryptStream(key) };
  },
  resume: 'ESDK uploads cannot resume: each message has its own random data key and message id; use --cse-format kura, oss or s3ec',
  async decryptor(_meta, keys) {
    const { createEsdkDecryptStream } = await import('./esdk.ts');
    return { format: 'esdk', stream: () => createEsdkDecryptStream([...keys.keys]) };
  },
  async describe(_meta, head) {
    const { parseEsdkHeader } = head ? await import('./esdk.ts') : { parseEsdkHeader: () => undefined };
    const h = head ? parseEsdkHeader(head) : undefined;
    return {
      format: 'esdk',
      algorithm: h ? `ESDK message v${h.version}, suite 0x${h.suiteId.toString(16).padStart(4, '0')}` : 'ESDK message',
      keys: h ? h.dataKeys.join('; ') : head ? '(header longer than the bytes read)' : '',
    };
  },
};
