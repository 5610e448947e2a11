/**
 * Loaded with `node --import` (through NODE_OPTIONS) into a process under test: records the URL
 * of every module the process loads and writes the list, one a line, to $CDI_TEST_MODULE_LIST
 * when it exits. Lets a test assert what a command does not load.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const listFile = process.env.CDI_TEST_MODULE_LIST;
if (listFile) {
  const loaded: string[] = [];
  registerHooks({
    load(url, context, nextLoad) {
      loaded.push(url);
      return nextLoad(url, context);
    },
  });
  process.on('exit', () => writeFileSync(listFile, `${loaded.join('\n')}\n`));
}
