// Shared by the S3 client commands (cp, ls, rm, mb, rb, head): endpoint and credentials the way AWS users
// configure them, CSE keys, server-side options, exit codes and one-line errors.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { KMS } from '@aws-sdk/client-kms';
import { fromIni, fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { Command, CommanderError } from 'commander';
import { CseClient, type SseOptions } from '../../cse/client.ts';
import { CseError } from '../../cse/errors.ts';
import { loadMasterKey, parseAesKeyFile, parseDescription, type MasterKey } from '../../cse/keys.ts';
import { CSE_FORMATS, type CseFormat } from '../../cse/format.ts';

// The SDK's Node-version notice would break the one-line error contract of the CLI.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Exit codes scripts can rely on (also in the README). */
export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, denied: 4, integrity: 5, key: 6, changed: 7 } as const;

export interface S3Options {
  endpointUrl?: string;
  profile?: string;
  region?: string;
  caBundle?: string;
  cseKey?: string[];
  cseFormat?: string;
  matdesc?: string;
  keyNamespace?: string;
  keyName?: string;
  sse?: string;
  sseKmsKeyId?: string;
  sseCKey?: string;
  sseCCopySourceKey?: string;
  concurrency?: string;
  partSize?: string;
  quiet?: boolean;
}

const collectRepeat = (v: string, prev: string[] = []) => [...prev, v];

export function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--endpoint-url <url>', 'S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS)')
    .option('--profile <name>', 'shared config/credentials profile (default: AWS_PROFILE)')
    .option('--region <region>', 'region (default: AWS_REGION / AWS_DEFAULT_REGION / us-east-1)')
    .option('--ca-bundle <FILE>', 'PEM certificate bundle to trust for HTTPS instead of the system CAs (default: AWS_CA_BUNDLE)');
}

export function cseOptions(cmd: Command): Command {
  return cmd
    .option(
      '--cse-key <FILE|kms:KEY>',
      'client-side encryption master key: RSA PEM (private or public), AES-256 key file, or kms:KEY-ID; repeatable',
      collectRepeat,
    )
    .option('--cse-format <format>', `client-side encryption format for uploads: ${CSE_FORMATS.join('|')}`, 'esdk')
    .option('--matdesc <json>', 'material description stored with the object (and used to pick the key)')
    .option('--key-namespace <ns>', 'ESDK raw keyring key namespace (provider id)')
    .option('--key-name <name>', 'ESDK raw keyring key name');
}

export function sseOptions(cmd: Command): Command {
  return cmd
    .option('--sse <AES256|aws:kms>', 'server-side encryption')
    .option('--sse-kms-key-id <id>', 'KMS key for --sse aws:kms')
    .option('--sse-c-key <FILE>', 'SSE-C customer key file (256 bits: raw, base64 or hex)')
    .option('--sse-c-copy-source-key <FILE>', 'SSE-C key of the copy source');
}

function region(o: S3Options): string {
  return o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/**
 * HTTPS trust as the AWS CLI: `--ca-bundle FILE`, else AWS_CA_BUNDLE, replaces the system CAs (a private
 * endpoint such as Kura's self-signed listener). The SDK for JavaScript does not read AWS_CA_BUNDLE itself.
 */
function requestHandler(o: S3Options) {
  const path = o.caBundle ?? (process.env.AWS_CA_BUNDLE || undefined);
  if (path === undefined) return undefined;
  let ca: Buffer;
  try {
    ca = readFileSync(path);
  } catch (e) {
    throw new CseError(
      'BadArgument',
      `cannot read the CA bundle ${path} (${o.caBundle !== undefined ? '--ca-bundle' : 'AWS_CA_BUNDLE'}): ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  return { httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50, ca }) };
}

export function s3Client(o: S3Options): S3Client {
  const endpoint = o.endpointUrl ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3Client({
    region: region(o),
    endpoint,
    forcePathStyle: !!endpoint,
    requestHandler: requestHandler(o),
    credentials: o.profile ? fromIni({ profile: o.profile }) : fromNodeProviderChain(),
    // Only when an operation requires it: stock S3-compatible stores (ABCI, MinIO, Ceph) may not know the new checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function kmsClient(o: S3Options, KMS: typeof import('@aws-sdk/client-kms').KMS): KMS {
  const endpoint = process.env.AWS_ENDPOINT_URL_KMS ?? o.endpointUrl ?? process.env.AWS_ENDPOINT_URL;
  return new KMS({
    region: region(o),
    endpoint,
    requestHandler: requestHandler(o),
    credentials: o.profile ? fromIni({ profile: o.profile }) : fromNodeProviderChain(),
  });
}

export async function loadKeys(o: S3Options): Promise<MasterKey[]> {
  const description = o.matdesc !== undefined ? parseMatdesc(o.matdesc) : undefined;
  let kms: KMS | undefined;
  // The KMS client is loaded only when a kms: key is given (start-up time).
  const kmsModule = (o.cseKey ?? []).some((s) => s.startsWith('kms:')) ? await import('@aws-sdk/client-kms') : undefined;
  const keys: MasterKey[] = [];
  for (const spec of o.cseKey ?? []) {
    keys.push(
      await loadMasterKey(spec, {
        description,
        keyNamespace: o.keyNamespace,
        keyName: o.keyName,
        kms: kmsModule && (() => (kms ??= kmsClient(o, kmsModule.KMS))),
      }),
    );
  }
  return keys;
}

function parseMatdesc(json: string) {
  try {
    return parseDescription(json);
  } catch {
    throw new CseError('BadArgument', '--matdesc must be a JSON object of strings');
  }
}

async function keyFile(path: string, what: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch {
    throw new CseError('BadArgument', `cannot read ${what} ${path}`);
  }
  const key = parseAesKeyFile(data);
  if (!key) throw new CseError('BadArgument', `${what} ${path} is not a 256-bit key (32 bytes, base64 or hex)`);
  return key;
}

export async function sseFrom(o: S3Options): Promise<SseOptions | undefined> {
  const sse: SseOptions = {};
  if (o.sse) {
    if (o.sse !== 'AES256' && o.sse !== 'aws:kms' && o.sse !== 'aws:kms:dsse')
      throw new CseError('BadArgument', '--sse must be AES256 or aws:kms');
    sse.ServerSideEncryption = o.sse;
  }
  if (o.sseKmsKeyId) {
    sse.SSEKMSKeyId = o.sseKmsKeyId;
    sse.ServerSideEncryption ??= 'aws:kms';
  }
  if (o.sseCKey) sse.SSECustomerKey = await keyFile(o.sseCKey, '--sse-c-key');
  if (o.sseCCopySourceKey) sse.CopySourceSSECustomerKey = await keyFile(o.sseCCopySourceKey, '--sse-c-copy-source-key');
  return Object.keys(sse).length ? sse : undefined;
}

export function formatOf(o: S3Options): CseFormat {
  const f = o.cseFormat ?? 'esdk';
  if (!(CSE_FORMATS as readonly string[]).includes(f))
    throw new CseError('BadArgument', `--cse-format must be one of ${CSE_FORMATS.join(', ')}`);
  return f as CseFormat;
}

function positiveInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new CseError('BadArgument', `${what} must be a positive integer`);
  return n;
}

export async function cseClient(o: S3Options): Promise<CseClient> {
  const partSize = positiveInt(o.partSize, '--part-size');
  return new CseClient({
    s3: s3Client(o),
    keys: await loadKeys(o),
    format: formatOf(o),
    concurrency: positiveInt(o.concurrency, '--concurrency') ?? 4,
    ...(partSize ? { partSize, multipartThreshold: 2 * partSize } : {}),
  });
}

export interface S3Url {
  bucket: string;
  key: string;
}
export function parseS3Url(s: string): S3Url | undefined {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(s);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

const TLS_TRUST_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/**
 * Command-line mistakes found by commander (unknown option or command, missing argument, too many arguments):
 * one line and exit 2, as the AWS CLI v1 and argparse do. Help and --version exit 0.
 */
export function usageExit(cmd: string | undefined, e: CommanderError): never {
  if (e.exitCode === 0) process.exit(0);
  // Bare `kura` printed its help on stderr: nothing to add.
  if (e.code !== 'commander.help') {
    const msg = e.message
      .replace(/^error: /, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
    process.stderr.write(`kura${cmd ? ` ${cmd}` : ''}: ${msg}\n`);
  }
  process.exit(EXIT.usage);
}

/** One line on stderr and the exit code that classifies the failure. */
export function fail(cmd: string, e: unknown): never {
  const err = e as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  let code: number = EXIT.error;
  let msg = err?.message ?? String(e);
  if (e instanceof CseError) {
    code =
      e.code === 'IntegrityError'
        ? EXIT.integrity
        : e.code === 'NoMatchingKey' || e.code === 'BadKey'
          ? EXIT.key
          : e.code === 'LocalFileChanged'
            ? EXIT.changed
            : e.code === 'BadArgument'
              ? EXIT.usage
              : EXIT.error;
  } else if (
    err?.name === 'NoSuchKey' ||
    err?.name === 'NoSuchBucket' ||
    err?.name === 'NotFound' ||
    err?.code === 'ENOENT' ||
    err?.$metadata?.httpStatusCode === 404
  ) {
    code = EXIT.notFound;
    if (err?.name === 'NotFound' || (err?.$metadata?.httpStatusCode === 404 && !err?.message)) msg = 'not found';
  } else if (
    err?.name === 'AccessDenied' ||
    err?.name === 'InvalidAccessKeyId' ||
    err?.name === 'SignatureDoesNotMatch' ||
    err?.name === 'CredentialsProviderError' ||
    err?.$metadata?.httpStatusCode === 403
  ) {
    code = EXIT.denied;
  }
  if (err?.name && !(e instanceof CseError) && err.name !== 'Error' && !msg.startsWith(err.name)) msg = `${err.name}: ${msg}`;
  if (typeof err?.code === 'string' && TLS_TRUST_ERRORS.has(err.code))
    msg += " (trust the server's certificate with --ca-bundle FILE or AWS_CA_BUNDLE)";
  process.stderr.write(`kura ${cmd}: ${msg.split('\n')[0]}\n`);
  process.exit(code);
}

export async function run(cmd: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    fail(cmd, e);
  }
}
