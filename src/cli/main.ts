// The `kura` command. Each subcommand lives in ./commands/<name>.ts and registers itself here (one line each).
import { Command } from 'commander';
import { registerServerCommand } from './commands/server.ts';
import { registerCpCommand } from './commands/cp.ts';
import { registerLsCommand } from './commands/ls.ts';
import { registerRmCommand } from './commands/rm.ts';
import { registerMbCommand, registerRbCommand } from './commands/bucket.ts';
import { registerHeadCommand } from './commands/head.ts';
import { registerKeygenCommand } from './commands/keygen.ts';
import { usageExit } from './commands/s3-common.ts';

const program = new Command();
program.name('kura').description('Kura (蔵): an S3-compatible object store in which every byte at rest is encrypted').version('0.1.0');
// Usage errors are printed by usageExit as one line (subcommands inherit this when they are created).
program.configureOutput({ outputError: () => {} });

registerServerCommand(program);
registerCpCommand(program);
registerLsCommand(program);
registerRmCommand(program);
registerMbCommand(program);
registerRbCommand(program);
registerHeadCommand(program);
registerKeygenCommand(program);
program.exitOverride((e) => usageExit(undefined, e));
for (const c of program.commands) c.exitOverride((e) => usageExit(c.name(), e));

await program.parseAsync(process.argv);
