/**
 * One timed conversion for bench/convert.ts, in its own process so its peak RSS is its own:
 * `node bench/convert-run.ts file|stream INPUT OUTPUT` prints a JSON line with the result and
 * the peak RSS. `file` uses random access, `stream` feeds the one-pass path from a file stream.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { convert, openFileInput, type ConvertResult } from '../src/format/index.ts';

const [mode, input, output] = process.argv.slice(2);
if ((mode !== 'file' && mode !== 'stream') || !input || !output) {
  process.stderr.write('usage: node bench/convert-run.ts file|stream INPUT OUTPUT\n');
  process.exit(64);
}

let result: ConvertResult;
if (mode === 'file') {
  const file = await openFileInput(input);
  result = await convert({ kind: 'random', input: file }, { kind: 'file', path: output }, { contentType: 'kubevirt' });
  await file.close();
} else {
  const { size } = await stat(input);
  const stream = createReadStream(input, { highWaterMark: 4 << 20 });
  result = await convert({ kind: 'stream', stream, size }, { kind: 'file', path: output }, { contentType: 'kubevirt' });
}
process.stdout.write(`${JSON.stringify({ result, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
