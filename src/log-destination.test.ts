import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DroppingDestination } from './log-destination.ts';

const logModule = path.join(import.meta.dirname, 'log.ts');

/** A process that logs `lines` lines through createLogger once its stdin closes, then reports its drop count on stderr. */
function logger(stdout: 'pipe' | number, lines: number) {
  const script = `
    import { createLogger } from ${JSON.stringify(logModule)};
    import { DroppingDestination } from ${JSON.stringify(path.join(import.meta.dirname, 'log-destination.ts'))};
    process.stdin.resume();
    process.stdin.once('end', () => {
      const destination = new DroppingDestination();
      const log = createLogger('t', 'info', destination);
      for (let i = 0; i < ${lines}; i++) log.info({ i, pad: 'x'.repeat(512) }, 'a line');
      process.stderr.write(JSON.stringify({ dropped: destination.dropped }));
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', stdout, 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr: err }));
  return { child, exited };
}

describe('the log destination', () => {
  it('drops and counts lines on a full device (ENOSPC) instead of throwing or blocking', async () => {
    const full = fs.openSync('/dev/full', 'w');
    try {
      const { child, exited } = logger(full, 500);
      child.stdin!.end();
      const { code, stderr } = await exited;
      expect(code).toBe(0);
      expect(JSON.parse(stderr)).toEqual({ dropped: 500 });
    } finally {
      fs.closeSync(full);
    }
  });

  it('drops lines to a pipe whose reader is gone (EPIPE) and the process goes on to exit', async () => {
    const { child, exited } = logger('pipe', 500);
    child.stdout!.destroy();
    child.stdin!.end();
    const { code, stderr } = await exited;
    expect(code).toBe(0);
    expect(JSON.parse(stderr)).toEqual({ dropped: 500 });
  });

  it('never retries EAGAIN; after a loss the next line says how many were lost, on a fresh line after a cut-short write', () => {
    const written: string[] = [];
    const failures: Array<'eagain' | 'partial'> = ['partial', 'eagain'];
    const d = new DroppingDestination(1, (_fd, buf, offset) => {
      const failure = failures.shift();
      if (failure === 'partial' && offset === 0) {
        written.push(Buffer.from(buf.subarray(0, 3)).toString());
        failures.unshift('eagain');
        return 3;
      }
      if (failure) throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
      written.push(Buffer.from(buf.subarray(offset)).toString());
      return buf.length - offset;
    });
    d.write('{"msg":"one"}\n');
    d.write('{"msg":"two"}\n');
    d.write('{"msg":"three"}\n');
    expect(d.dropped).toBe(2);
    const out = written.join('');
    expect(out.startsWith('{"m\n')).toBe(true);
    const [notice, three] = out.slice(4).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(notice).toMatchObject({ level: 40, dropped: 2 });
    expect(three).toEqual({ msg: 'three' });
  });
});
