// `kura keygen rsa|aes`: master keys for client-side encryption, written with mode 0600 (never overwrites).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CseError } from '../../cse/errors.ts';
import { run } from './s3-common.ts';

async function writeNew(path: string, data: string): Promise<void> {
  try {
    await writeFile(path, data, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CseError('BadArgument', `${path} exists; not overwriting a key`);
    throw e;
  }
}

export function registerKeygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('make a client-side encryption master key: an RSA key pair (PEM) or a 256-bit AES key')
    .argument('<kind>', 'rsa | aes')
    .option('--out <file>', 'private key (rsa) or key file (aes); default private_key.pem / kura-aes.key')
    .option('--public-out <file>', 'public key (rsa); default public_key.pem')
    .option('--bits <n>', 'RSA modulus size', '4096')
    .action((kind: string, o: { out?: string; publicOut?: string; bits: string }) =>
      run('keygen', async () => {
        if (kind === 'aes') {
          const out = o.out ?? 'kura-aes.key';
          await writeNew(out, `${randomBytes(32).toString('base64')}\n`);
          process.stdout.write(`wrote ${out}\n`);
          return;
        }
        if (kind !== 'rsa') throw new CseError('BadArgument', 'kind must be rsa or aes');
        const bits = Number(o.bits);
        if (![2048, 3072, 4096].includes(bits)) throw new CseError('BadArgument', '--bits must be 2048, 3072 or 4096');
        const { publicKey, privateKey } = generateKeyPairSync('rsa', {
          modulusLength: bits,
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        });
        const out = o.out ?? 'private_key.pem',
          pub = o.publicOut ?? 'public_key.pem';
        await writeNew(out, privateKey);
        await writeNew(pub, publicKey);
        process.stdout.write(`wrote ${out} and ${pub}\n`);
      }),
    );
}
