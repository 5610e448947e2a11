/**
 * One timed conversion for bench/convert.ts, in its own process so its peak RSS is its own:
 * `node bench/convert-run.ts file INPUT OUTPUT` or `... stream - OUTPUT` prints a JSON line with
 * the result and the peak RSS and the time the conversion itself took (without Node's start and
 * module loading). `file` uses random access; `stream -` reads stdin in one pass, as
 * `cdi convert -` does (bench/convert.ts feeds it `cat FILE |`).
 */
import { convert, openFileInput, readDescriptor, type ConvertResult } from '../src/format/index.ts';

const [mode, input, output] = process.argv.slice(2);
if (!((mode === 'file' && input) || (mode === 'stream' && input === '-')) || !output) {
  process.stderr.write('usage: node bench/convert-run.ts file INPUT OUTPUT | stream - OUTPUT\n');
  process.exit(64);
}

const started = performance.now();
let result: ConvertResult;
if (mode === 'file') {
  const file = await openFileInput(input);
  result = await convert({ kind: 'random', input: file }, { kind: 'file', path: output }, { contentType: 'kubevirt' });
  await file.close();
} else {
  result = await convert({ kind: 'stream', stream: readDescriptor(0) }, { kind: 'file', path: output }, { contentType: 'kubevirt' });
}
const engineSeconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ result, engineSeconds, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
