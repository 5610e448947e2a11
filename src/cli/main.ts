import { Command } from 'commander';
import { CdiError, asCdiError } from '../api/errors.ts';
import { commands } from './commands/index.ts';

const program = new Command('cdi')
  .description('Containerized Data Importer: turn disk images into volumes VMs boot from')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = (err as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit((err as { exitCode?: number }).exitCode ?? 64);
  const cdiErr = asCdiError(err);
  process.stderr.write(`cdi: ${cdiErr.code}: ${cdiErr.message}\n`);
  process.exit(cdiErr instanceof CdiError ? cdiErr.exitCode : 1);
}
