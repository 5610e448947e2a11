/**
 * `npm run bench:convert`: our converter against the reference tools on the same 2 GiB image,
 * each of the three going first in turn, at least 3 rounds; prints the median ratio ours/reference and our
 * peak RSS. Ours is timed twice per case: `bin/cdi convert` as a user runs it (its peak RSS by
 * `/usr/bin/time -f %M`), and the in-process runner bench/convert-run.ts that loads only the engine. The output file is removed and `sync` runs before every timed command (untimed).
 *
 * What each side reads: in file mode ours gets the file's path (random access). In pipe mode
 * (the `stream` cases) both of ours read stdin from a real pipe, `cat FILE | bin/cdi convert - OUT`
 * and `cat FILE | node bench/convert-run.ts stream - OUT`, as `curl ... | cdi convert -` does: a
 * redirected file as stdin hid that pipe reads were 7-10x slower. The decompressors' references
 * read the same pipe (`cat FILE | xz -dc > OUT`); qemu-img cannot read a pipe, so the qcow2, vdi,
 * vmdk, vhd and vhdx pipe rows compare with `qemu-img convert` of the file.
 *
 * Our engine fsyncs the target before it reports success (CDI does; `qemu-img convert -t
 * writeback`, CDI's command, does too), while `qemu-img convert -O raw` (cache=unsafe) and
 * `pigz/xz/zstd -dc > file` do not. So each reference is timed twice in the same run: as named,
 * and followed by `sync FILE` (durable, what we do). Both ratios are printed.
 *
 * Usage: node bench/convert.ts [--rounds N] [--only name,name]
 */
import { execFile, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { dataPathNodeFlags } from '../src/api/runtime.ts';
import { benchDir, benchInput, type BenchInputName } from './convert-image.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const rounds = Math.max(3, Number(args[args.indexOf('--rounds') + 1]) || 3);
const only = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '').split(',') : undefined;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

// Per process: benchmarks from several checkouts may share this directory at once.
const oursOut = path.join(benchDir, `out-ours-${process.pid}.raw`);
const refOut = path.join(benchDir, `out-ref-${process.pid}.raw`);
const runner = path.resolve(import.meta.dirname, 'convert-run.ts');
const cdi = path.resolve(import.meta.dirname, '../bin/cdi');

interface Case {
  name: string;
  mode: 'file' | 'stream';
  input: BenchInputName;
  /** The reference command; $IN and $OUT are substituted. */
  reference: string;
  floor: number;
}

const qemu = 'qemu-img convert -O raw "$IN" "$OUT"';
const allCases: Case[] = [
  { name: 'qcow2 file mode', mode: 'file', input: 'qcow2', reference: qemu, floor: 1.1 },
  { name: 'qcow2 pipe mode', mode: 'stream', input: 'qcow2', reference: qemu, floor: 1.25 },
  { name: 'zlib qcow2', mode: 'file', input: 'zlibQcow2', reference: qemu, floor: 0.9 },
  { name: 'zstd qcow2', mode: 'file', input: 'zstdQcow2', reference: qemu, floor: 1.0 },
  { name: 'vdi file mode', mode: 'file', input: 'vdi', reference: qemu, floor: 1.25 },
  { name: 'vdi pipe mode', mode: 'stream', input: 'vdi', reference: qemu, floor: 1.25 },
  { name: 'streamOptimized vmdk file mode', mode: 'file', input: 'streamVmdk', reference: qemu, floor: 1.0 },
  { name: 'streamOptimized vmdk pipe mode', mode: 'stream', input: 'streamVmdk', reference: qemu, floor: 1.0 },
  { name: 'vhd file mode', mode: 'file', input: 'vhd', reference: 'qemu-img convert -f vpc -O raw "$IN" "$OUT"', floor: 1.25 },
  { name: 'vhd pipe mode', mode: 'stream', input: 'vhd', reference: 'qemu-img convert -f vpc -O raw "$IN" "$OUT"', floor: 1.25 },
  { name: 'vhdx file mode', mode: 'file', input: 'vhdx', reference: 'qemu-img convert -f vhdx -O raw "$IN" "$OUT"', floor: 1.25 },
  { name: 'vhdx pipe mode', mode: 'stream', input: 'vhdx', reference: 'qemu-img convert -f vhdx -O raw "$IN" "$OUT"', floor: 1.25 },
  { name: 'raw.gz', mode: 'stream', input: 'gz', reference: 'cat "$IN" | pigz -dc > "$OUT"', floor: 1.0 },
  { name: 'raw.xz', mode: 'stream', input: 'xz', reference: 'cat "$IN" | xz -dc -T0 > "$OUT"', floor: 1.7 },
  { name: 'raw.zst', mode: 'stream', input: 'zst', reference: 'cat "$IN" | zstd -dc > "$OUT"', floor: 1.5 },
];
const cases = allCases.filter((c) => only === undefined || only.some((o) => c.name.includes(o)));

async function fresh(): Promise<void> {
  await rm(oursOut, { force: true });
  await rm(refOut, { force: true });
  await run('sync');
}

async function timeOurs(c: Case, input: string): Promise<{ seconds: number; engine: number; rssMiB: number }> {
  const started = process.hrtime.bigint();
  const argv = ['--disable-warning=ExperimentalWarning', ...dataPathNodeFlags, runner, c.mode, c.mode === 'stream' ? '-' : input, oursOut];
  const child = spawn(...piped(c, input, process.execPath, argv), { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`ours failed on ${c.name} (exit ${code})`);
  const { maxRssKiB, engineSeconds, result } = JSON.parse(stdout) as { maxRssKiB: number; engineSeconds: number; result: { spillBytes: number } };
  // images as qemu-img writes them must convert without scratch space
  if (result.spillBytes > 0) throw new Error(`ours spilled ${result.spillBytes} bytes on ${c.name}`);
  return { seconds, engine: engineSeconds, rssMiB: maxRssKiB / 1024 };
}

/** A command as spawn's arguments; in pipe mode run by sh with `cat INPUT |` as its stdin. */
function piped(c: Case, input: string, command: string, argv: string[]): [string, string[]] {
  if (c.mode === 'file') return [command, argv];
  return ['sh', ['-c', 'input=$1; shift; cat "$input" | exec "$@"', 'sh', input, command, ...argv]];
}

/** `bin/cdi convert` as a user runs it: a file argument in file mode, stdin from a pipe in pipe mode. */
async function timeCli(c: Case, input: string): Promise<{ seconds: number; rssMiB: number }> {
  const argv = ['-f', '%M', cdi, 'convert', '--no-progress', c.mode === 'stream' ? '-' : input, oursOut];
  const started = process.hrtime.bigint();
  const child = spawn(...piped(c, input, '/usr/bin/time', argv), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`bin/cdi convert failed on ${c.name} (exit ${code}): ${stderr}`);
  const maxRssKiB = Number(stderr.trim().split('\n').at(-1));
  return { seconds, rssMiB: maxRssKiB / 1024 };
}

async function timeReference(command: string): Promise<{ seconds: number; durable: number }> {
  const started = process.hrtime.bigint();
  await run('sh', ['-c', command]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await run('sync', [refOut]);
  const durable = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, durable };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const rows: string[] = [];
for (const c of cases) {
  const input = await benchInput(c.input, log);
  const reference = c.reference.replaceAll('$IN', input).replaceAll('$OUT', refOut);
  const cli: number[] = [];
  const ours: number[] = [];
  const engine: number[] = [];
  const ref: number[] = [];
  const refDurable: number[] = [];
  let rss = 0;
  let cliRss = 0;
  // Once per case, before the timed rounds (so it also warms the page cache for all three):
  // our output must equal the reference's, byte for byte.
  const feed = c.mode === 'stream' ? `cat "${input}" | ` : '';
  const ourInput = c.mode === 'stream' ? '-' : `"${input}"`;
  await run('sh', ['-c', `${reference} && ${feed}"${process.execPath}" ${dataPathNodeFlags.join(' ')} "${runner}" ${c.mode} ${ourInput} "${oursOut}" >/dev/null && cmp "${oursOut}" "${refOut}" && ${feed}"${cdi}" convert --no-progress ${ourInput} "${oursOut}" >/dev/null && cmp "${oursOut}" "${refOut}"`]);
  // Each goes first in one round of three: whoever ran first after another case or the check
  // was up to 2x slower on this shared machine, and bin/cdi used to go first in two of three.
  const orders = [['cli', 'ours', 'ref'], ['ours', 'ref', 'cli'], ['ref', 'cli', 'ours']];
  for (let round = 0; round < rounds; round++) {
    const order = orders[round % orders.length]!;
    for (const who of order) {
      await fresh();
      if (who === 'cli') {
        const r = await timeCli(c, input);
        cli.push(r.seconds);
        cliRss = Math.max(cliRss, r.rssMiB);
      } else if (who === 'ours') {
        const r = await timeOurs(c, input);
        ours.push(r.seconds);
        engine.push(r.engine);
        rss = Math.max(rss, r.rssMiB);
      } else {
        const r = await timeReference(reference);
        ref.push(r.seconds);
        refDurable.push(r.durable);
      }
    }
    log(`${c.name} round ${round + 1}: bin/cdi ${cli.at(-1)!.toFixed(3)} s, runner ${ours.at(-1)!.toFixed(3)} s, reference ${ref.at(-1)!.toFixed(3)} s (+sync ${refDurable.at(-1)!.toFixed(3)} s)`);
  }
  const engineRatio = median(engine.map((o, i) => o / refDurable[i]!));
  const row = (who: string, times: number[], engineCell: string, rssMiB: number): string => {
    const ratio = median(times.map((o, i) => o / refDurable[i]!));
    const plainRatio = median(times.map((o, i) => o / ref[i]!));
    return (
      `| ${c.name} | ${who} | ${median(times).toFixed(3)} | ${engineCell} | ${median(ref).toFixed(3)} | ${median(refDurable).toFixed(3)} | ` +
      `**${ratio.toFixed(2)}** | ${plainRatio.toFixed(2)} | ≤ ${c.floor.toFixed(2)} ${ratio <= c.floor ? 'ok' : 'MISSED'} | ${rssMiB.toFixed(0)} |`
    );
  };
  rows.push(
    row('bin/cdi convert', cli, '', cliRss),
    row('runner', ours, `${median(engine).toFixed(3)} (${engineRatio.toFixed(2)}×)`, rss),
  );
}
await fresh();

process.stdout.write(
  [
    `rounds: ${rounds}; medians in seconds. ours = the whole process (Node start, module loading, conversion, fsync): bin/cdi convert`,
    'as users run it, and the in-process runner; engine = the runner\'s conversion alone (measured inside, and its ratio to ref+sync);',
    'reference+sync = the reference followed by `sync FILE`.',
    '| case | ours | ours s | engine s | reference s | reference+sync s | ours/(ref+sync) | ours/ref | floor (ours/(ref+sync)) | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
