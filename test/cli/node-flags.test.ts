/**
 * bin/cdi writes out src/api/runtime.ts's flags (a shell script cannot import them): each command
 * gets the set its ADR names. A module loaded through NODE_OPTIONS reports node's own flags and
 * exits before the command runs.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dataPathNodeFlags, relayNodeFlags } from '../../src/api/runtime.ts';

const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
const run = promisify(execFile);
const report = 'data:text/javascript,process.stdout.write(JSON.stringify(process.execArgv));process.exit(0)';

async function nodeFlagsOf(command: string): Promise<string[]> {
  const { stdout } = await run(cdi, [command, '--help'], { env: { ...process.env, NODE_OPTIONS: `--import=${report}` } });
  return (JSON.parse(stdout) as string[]).filter((flag) => flag !== '--disable-warning=ExperimentalWarning');
}

describe('bin/cdi node flags', () => {
  it('image-upload runs with the relay flags (ADR 0037)', async () => {
    expect(await nodeFlagsOf('image-upload')).toEqual([...relayNodeFlags]);
  });

  it.each(['convert', 'import'])('%s runs with the data-path flags only (ADR 0017, 0019)', async (command) => {
    expect(await nodeFlagsOf(command)).toEqual([...dataPathNodeFlags]);
  });
});
