/**
 * `npm run bench:serve-start`: how long `bin/cdi serve` takes from spawn to its ready banner, as
 * a user starts it (the README's command, a fresh data dir each run, free ports), against
 * `node -e 0` as the floor. Each run also prints when its log says each part was up, measured
 * from the spawn, so a slow start shows where the time went. Target: ≤ 2 s (issue 17).
 *
 * Usage: node bench/serve-start.ts [--runs N] [--keep-data-dir]
 *   --keep-data-dir  reuse one data dir (a restart: certificates and database already there)
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const run = promisify(execFile);
const args = process.argv.slice(2);
const runs = Math.max(1, Number(args[args.indexOf('--runs') + 1]) || 5);
const keep = args.includes('--keep-data-dir');
const root = path.resolve(import.meta.dirname, '..');
const cdi = path.join(root, 'bin/cdi');

/** Log messages that mark a part of serve as up, in start order. */
const milestones: Record<string, string> = {
  'API server ready': 'api',
  'node agent started': 'agent',
  'controller started': 'controller',
  'upload proxy listening': 'proxy',
};

interface Start {
  seconds: number;
  parts: Record<string, number>;
}

async function startOnce(dataDir: string): Promise<Start> {
  const started = Date.now();
  const t0 = process.hrtime.bigint();
  const child = spawn(cdi, ['serve', '--data-dir', dataDir, '--port', '0', '--upload-proxy-port', '0', '--log-format', 'json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parts: Record<string, number> = {};
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const record = JSON.parse(line) as { msg?: string; time?: number };
      const part = milestones[record.msg ?? ''];
      if (part && record.time) parts[part] = (record.time - started) / 1000;
    } catch {
      // not a log record
    }
  });
  let stderr = '';
  const seconds = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('cdi serve is ready')) resolve(Number(process.hrtime.bigint() - t0) / 1e9);
    });
    child.once('exit', (code) => reject(new Error(`cdi serve exited (${code}) before it was ready:\n${stderr}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return { seconds, parts };
}

async function nodeFloor(): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run(process.execPath, ['-e', '0']);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
const scratch = await mkdtemp(path.join(os.tmpdir(), 'cdi-serve-start-'));
const starts: Start[] = [];
const floors: number[] = [];
try {
  // One unmeasured start fills the compile cache, as any start after an install does once.
  await startOnce(path.join(scratch, 'warm-up'));
  for (let i = 0; i < runs; i++) {
    const dataDir = path.join(scratch, keep ? 'data' : `data-${i}`);
    floors.push(await nodeFloor());
    const s = await startOnce(dataDir);
    starts.push(s);
    const parts = Object.values(milestones)
      .map((p) => `${p} ${s.parts[p]?.toFixed(2) ?? '?'}`)
      .join(', ');
    process.stderr.write(`run ${i + 1}: ready ${s.seconds.toFixed(2)} s (up at: ${parts})\n`);
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
const ready = median(starts.map((s) => s.seconds));
const floor = median(floors);
process.stdout.write(
  [
    `load average at start ${load}; ${runs} runs, ${keep ? 'one data dir (restarts)' : 'a fresh data dir each'}; medians`,
    '| what | seconds | x node -e 0 |',
    '|---|---|---|',
    `| node -e 0 (floor) | ${floor.toFixed(3)} | 1.0 |`,
    `| bin/cdi serve → ready banner (target ≤ 2 s) | ${ready.toFixed(3)} ${ready <= 2 ? 'ok' : 'MISSED'} | ${(ready / floor).toFixed(1)} |`,
    ...Object.values(milestones).map((p) => {
      const m = median(starts.map((s) => s.parts[p] ?? Number.NaN));
      return `| … ${p} up (from its log) | ${m.toFixed(3)} | |`;
    }),
    '',
  ].join('\n'),
);
