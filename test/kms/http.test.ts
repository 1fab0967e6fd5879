// The KMS HTTP front (serveKmsRequest) behind a real node:http listener, driven by @aws-sdk/client-kms:
// SigV4 for service 'kms', JSON 1.1 bodies, AWS error types as SDK exception classes, auth failures KMS-style.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  KMSClient,
  CreateKeyCommand,
  DescribeKeyCommand,
  EncryptCommand,
  DecryptCommand,
  ListKeysCommand,
  NotFoundException,
  InvalidCiphertextException,
  GenerateDataKeyCommand,
} from '@aws-sdk/client-kms';
import { isKmsRequest, serveKmsRequest } from '../../src/kms/index.ts';
import { fixture, type Fixture } from './helpers.ts';

const CREDS = { accessKeyId: 'AKIAKMSHTTPTEST00001', secretAccessKey: 'kms-http-test-secret-0123456789abcdefghij' };
let f: Fixture;
let server: Server;
let endpoint: string;

before(async () => {
  f = await fixture();
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    if (!isKmsRequest(req.method, rawPath, req.headers)) {
      res.writeHead(404).end();
      return;
    }
    void serveKmsRequest(req, res, {
      kms: f.kms,
      lookupSecret: (id) => (id === CREDS.accessKeyId ? CREDS.secretAccessKey : undefined),
      region: 'us-east-1',
      requestId: randomUUID(),
      rawPath,
      rawQuery: q < 0 ? '' : url.slice(q + 1),
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  await f.cleanup();
});

function client(over: { credentials?: typeof CREDS; region?: string } = {}): KMSClient {
  return new KMSClient({ endpoint, region: over.region ?? 'us-east-1', credentials: over.credentials ?? CREDS, maxAttempts: 1 });
}

test('SDK round trip: CreateKey, DescribeKey, Encrypt/Decrypt with context, GenerateDataKey', async () => {
  const kms = client();
  const created = await kms.send(new CreateKeyCommand({ Description: 'http', Tags: [{ TagKey: 'a', TagValue: 'b' }] }));
  const id = created.KeyMetadata!.KeyId!;
  assert.ok(created.KeyMetadata!.CreationDate instanceof Date);
  assert.ok(Math.abs(created.KeyMetadata!.CreationDate!.getTime() - Date.now()) < 60_000);
  const d = await kms.send(new DescribeKeyCommand({ KeyId: created.KeyMetadata!.Arn }));
  assert.equal(d.KeyMetadata!.KeyState, 'Enabled');
  const enc = await kms.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('over http'), EncryptionContext: { k: 'v' } }));
  assert.ok(enc.CiphertextBlob instanceof Uint8Array);
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { k: 'v' } }));
  assert.equal(Buffer.from(dec.Plaintext!).toString(), 'over http');
  assert.equal(dec.KeyId, created.KeyMetadata!.Arn);
  await assert.rejects(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })), InvalidCiphertextException);
  const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' }));
  assert.equal(dk.Plaintext!.length, 32);
  await assert.rejects(kms.send(new DescribeKeyCommand({ KeyId: 'alias/missing' })), (e: unknown) => {
    assert.ok(e instanceof NotFoundException);
    assert.equal(e.$metadata.httpStatusCode, 400);
    assert.match(e.message, /alias\/missing is not found/);
    return true;
  });
});

test('authentication failures are KMS JSON errors', async () => {
  const cases: [ReturnType<typeof client>, string][] = [
    [client({ credentials: { ...CREDS, secretAccessKey: 'wrong-secret' } }), 'InvalidSignatureException'],
    [client({ credentials: { ...CREDS, accessKeyId: 'AKIANOBODY0000000000' } }), 'UnrecognizedClientException'],
    [client({ region: 'eu-west-1' }), 'InvalidSignatureException'],
  ];
  for (const [kms, type] of cases) {
    await assert.rejects(kms.send(new ListKeysCommand({})), (e: any) => {
      assert.equal(e.name, type);
      assert.equal(e.$metadata.httpStatusCode, 400);
      return true;
    });
  }
  // Unsigned request.
  const r = await new Promise<{ status: number; type: string; body: any }>((resolve, reject) => {
    const req = request(
      `${endpoint}/`,
      { method: 'POST', headers: { 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            type: String(res.headers['content-type']),
            body: JSON.parse(Buffer.concat(chunks).toString()),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
  assert.equal(r.status, 400);
  assert.equal(r.type, 'application/x-amz-json-1.1');
  assert.equal(r.body.__type, 'MissingAuthenticationTokenException');
});
