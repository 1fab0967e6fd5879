// The `kura` command. Each subcommand lives in ./commands/<name>.ts and registers itself here (one line each).
import { Command } from 'commander';
import { registerServerCommand } from './commands/server.ts';

const program = new Command();
program.name('kura').description('Kura (蔵): an S3-compatible object store in which every byte at rest is encrypted').version('0.1.0');

registerServerCommand(program);

await program.parseAsync(process.argv);
