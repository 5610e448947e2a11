/**
 * How `cdi serve` shows its log: pino's JSON lines for machines (a file, a pipe, a log
 * collector, or `--log-format json`), and on a terminal one readable line per record: time,
 * level, component, message and the record's own fields (docs/adr/0026).
 */
import type { DestinationStream } from 'pino';

export type LogFormat = 'text' | 'json';

/** `--log-format` when given; otherwise text on a terminal and JSON anywhere else. */
export function chooseLogFormat(flag: LogFormat | undefined, out: { isTTY?: boolean }): LogFormat {
  return flag ?? (out.isTTY === true ? 'text' : 'json');
}

const levelNames: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const levelColors: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every record has, or that the line already shows in its own place. */
const shownElsewhere = new Set(['level', 'time', 'pid', 'hostname', 'name', 'component', 'msg']);
const maxValueLength = 160;

/** One pino JSON record as a terminal line; a line that is not a pino record is passed through. */
export function formatLogRecord(line: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line.trimEnd();
    record = parsed as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  const level = typeof record.level === 'number' ? record.level : 30;
  const levelName = (levelNames[level] ?? String(level)).padEnd(5);
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const component = typeof record.component === 'string' ? record.component : typeof record.name === 'string' ? record.name : '';
  const fields = Object.entries(record)
    .filter(([key]) => !shownElsewhere.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  const paint = (code: string | undefined, text: string): string => (color && code ? `\u001b[${code}m${text}\u001b[0m` : text);
  const parts = [paint('90', time), paint(levelColors[level], levelName), component ? paint('36', `${component}:`) : '', String(record.msg ?? ''), ...fields];
  return parts.filter(Boolean).join(' ');
}

function fieldText(value: unknown): string {
  const error = value as { message?: unknown; type?: unknown } | null;
  const text =
    typeof value === 'string'
      ? /[\s"=]/.test(value) || value === ''
        ? JSON.stringify(value)
        : value
      : typeof error === 'object' && error !== null && typeof error.message === 'string' && typeof error.type === 'string'
        ? JSON.stringify(error.message)
        : JSON.stringify(value) ?? String(value);
  return text.length > maxValueLength ? `${text.slice(0, maxValueLength - 1)}…` : text;
}

/** A pino destination that writes each record to `out` (stdout's dropping writer in serve) as a terminal line. */
export function textLogDestination(out: { write(line: string): unknown }, color: boolean): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line.trim()) out.write(`${formatLogRecord(line, color)}\n`);
    },
  };
}
