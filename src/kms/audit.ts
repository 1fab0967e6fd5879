// KMS audit log: one JSON object per line, appended in request order (CloudTrail-like).
// Records who asked for what on which key and the outcome — never key material, plaintext or
// ciphertext blobs. The encryption context is recorded because it is not secret (AWS logs it too).
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AuditEntry {
  time: string;
  accessKeyId: string;
  operation: string;
  keyId?: string; // key ARN when resolved, else what the caller asked for
  destinationKeyId?: string; // ReEncrypt
  aliasName?: string;
  encryptionContext?: Record<string, string>;
  destinationEncryptionContext?: Record<string, string>;
  result: string; // 'success' or the AWS error type
  errorMessage?: string;
}

export class AuditLog {
  private chain: Promise<void> = Promise.resolve();

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<AuditLog> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return new AuditLog(await open(path, 'a', 0o600));
  }

  /** Appends one entry; entries are written in call order. Rejects if the write fails. */
  write(entry: AuditEntry): Promise<void> {
    const line = JSON.stringify(entry) + '\n';
    const p = this.chain.then(() => this.fh.appendFile(line, 'utf8'));
    this.chain = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh.sync().catch(() => undefined);
    await this.fh.close();
  }
}
