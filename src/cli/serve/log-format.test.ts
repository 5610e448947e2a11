import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../log.ts';
import { chooseLogFormat, formatLogRecord, textLogDestination } from './log-format.ts';

describe('cdi serve log format', () => {
  it('is text on a terminal, JSON on anything else, and what --log-format says when given', () => {
    expect(chooseLogFormat(undefined, { isTTY: true })).toBe('text');
    expect(chooseLogFormat(undefined, { isTTY: false })).toBe('json');
    expect(chooseLogFormat(undefined, {})).toBe('json');
    expect(chooseLogFormat('json', { isTTY: true })).toBe('json');
    expect(chooseLogFormat('text', { isTTY: false })).toBe('text');
  });

  it('prints time, level, component, message and the record’s own fields', () => {
    const record = {
      level: 40,
      time: Date.UTC(2026, 11, 3, 13, 5, 39, 120),
      pid: 4242,
      hostname: 'box',
      name: 'cdi-serve',
      component: 'controller',
      dataVolume: 'default/fedora',
      err: { type: 'Error', message: 'pod failed', stack: 'Error: pod failed\n    at x' },
      restarts: 2,
      msg: 'import pod failed',
    };
    expect(formatLogRecord(JSON.stringify(record), false)).toBe(
      '13:05:39.120 WARN  controller: import pod failed dataVolume=default/fedora err="pod failed" restarts=2',
    );
  });

  it('falls back to the logger name, quotes values with spaces, shortens long values and colours only when asked', () => {
    const long = 'x'.repeat(400);
    const line = formatLogRecord(JSON.stringify({ level: 30, time: 0, name: 'cdi-serve', msg: 'ready', api: 'https://127.0.0.1:6443', note: 'two words', blob: long }), false);
    expect(line).toMatch(/^00:00:00\.000 INFO {2}cdi-serve: ready api=https:\/\/127\.0\.0\.1:6443 note="two words" blob=x+…$/);
    expect(line.length).toBeLessThan(260);
    expect(formatLogRecord(JSON.stringify({ level: 50, time: 0, msg: 'boom' }), true)).toBe('\u001b[90m00:00:00.000\u001b[0m \u001b[31mERROR\u001b[0m boom');
  });

  it('passes through a line that is not a pino record', () => {
    expect(formatLogRecord('plain text\n', false)).toBe('plain text');
    expect(formatLogRecord('[1,2]', false)).toBe('[1,2]');
  });

  it('is a pino destination: a real logger writes readable lines, secrets still redacted', () => {
    const out = new PassThrough();
    let written = '';
    out.setEncoding('utf8').on('data', (d: string) => (written += d));
    const logger = createLogger('cdi-serve', 'info', textLogDestination(out, false));
    logger.child({ component: 'apiserver' }).info({ token: 's3cret', port: 6443 }, 'listening');
    logger.debug({}, 'not shown at info');
    expect(written).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}apiserver: listening token=\[redacted\] port=6443\n$/);
  });
});
