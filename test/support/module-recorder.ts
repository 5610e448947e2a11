/**
 * Loaded with `node --import` (through NODE_OPTIONS) into a process under test: records the URL
 * of every module the process loads and writes the list, one a line, to $CDI_TEST_MODULE_LIST
 * when it exits, followed by Node's own internal modules as `builtin:<id>` (e.g.
 * `builtin:internal/deps/undici/undici`, Node's bundled fetch). Lets a test assert what a
 * command does not load.
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
  process.on('exit', () => {
    // moduleLoadList is Node's own record (undocumented, untyped) of the internal modules it loaded.
    const internal = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
    const builtins = internal.filter((m) => m.startsWith('NativeModule ')).map((m) => `builtin:${m.slice('NativeModule '.length)}`);
    writeFileSync(listFile, `${[...loaded, ...builtins].join('\n')}\n`);
  });
}
