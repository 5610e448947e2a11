import { CdiError } from '../../api/errors.ts';

/**
 * Standard 5-field cron schedules as upstream CDI parses them (robfig/cron's ParseStandard):
 * minute hour day-of-month month day-of-week, each `*`, `?`, a value, a range `a-b`, a step
 * (`a-b/n`, `a/n`, or a star stepped by n) or a comma list of those; month and weekday names (jan, mon); the
 * descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly and `@every <duration>`.
 * When both day fields are restricted a day matches either, else both (cron's rule).
 * Times are UTC, the clock of CDI's controller pod; a CRON_TZ= / TZ= prefix is refused.
 */
export interface CronSchedule {
  /** The first activation strictly after `after`, or undefined when none comes within five years. */
  next(after: Date): Date | undefined;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const Fields: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const Descriptors: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MinuteMs = 60_000;
const SearchYears = 5;

interface Field {
  values: Set<number>;
  /** The field was `*` or `?` (a stepped star counts as restricted), which matters for the day rule. */
  star: boolean;
}

function fail(spec: string, why: string): never {
  throw new CdiError('CDI_ERR_CRON_SCHEDULE', [JSON.stringify(spec), why]);
}

function parseValue(spec: string, field: FieldSpec, text: string): number {
  const named = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + field.min;
  if (!/^\d+$/.test(text)) fail(spec, `${field.name}: ${JSON.stringify(text)} is not a number${field.names ? ' or a name' : ''}`);
  const n = Number(text);
  if (n < field.min || n > field.max) fail(spec, `${field.name}: ${n} is outside ${field.min}-${field.max}`);
  return n;
}

function parseField(spec: string, field: FieldSpec, text: string): Field {
  const values = new Set<number>();
  let star = false;
  for (const part of text.split(',')) {
    const [range = '', stepText, extra] = part.split('/');
    if (extra !== undefined || range === '') fail(spec, `${field.name}: ${JSON.stringify(part)} is malformed`);
    let low: number;
    let high: number;
    const isStar = range === '*' || range === '?';
    if (isStar) {
      [low, high] = [field.min, field.max];
    } else {
      const bounds = range.split('-');
      if (bounds.length > 2) fail(spec, `${field.name}: ${JSON.stringify(range)} is malformed`);
      low = parseValue(spec, field, bounds[0]!);
      high = bounds.length === 2 ? parseValue(spec, field, bounds[1]!) : stepText !== undefined ? field.max : low;
      if (low > high) fail(spec, `${field.name}: range ${range} runs backwards`);
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) fail(spec, `${field.name}: step ${JSON.stringify(stepText)} must be a positive number`);
      step = Number(stepText);
    }
    if (isStar && step === 1) star = true;
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return { values, star };
}

/** Go's duration syntax for `@every`: a sequence of <number><unit> with h, m, s, ms; rounded to whole seconds, at least one. */
function parseEvery(spec: string, text: string): CronSchedule {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(text)) fail(spec, `@every wants a duration such as 1h30m, not ${JSON.stringify(text)}`);
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(m[1]) * units[m[2]!]!;
  const delay = Math.max(1000, Math.floor(ms / 1000) * 1000);
  return { next: (after) => new Date(Math.floor(after.getTime() / 1000) * 1000 + delay) };
}

export function parseSchedule(spec: string): CronSchedule {
  const text = spec.trim();
  if (/^(CRON_)?TZ=/.test(text)) fail(spec, 'time zones are not supported: schedules run in UTC');
  if (text.startsWith('@every ')) return parseEvery(spec, text.slice('@every '.length).trim());
  const expanded = text.startsWith('@') ? Descriptors[text.toLowerCase()] : text;
  if (expanded === undefined) fail(spec, `unrecognized descriptor ${text}`);
  const parts = expanded.split(/\s+/).filter(Boolean);
  if (parts.length !== Fields.length) fail(spec, `expected exactly 5 fields, found ${parts.length}`);
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(spec, Fields[i]!, p)) as [Field, Field, Field, Field, Field];
  const dayMatches = (d: Date): boolean => {
    const inMonth = dom.values.has(d.getUTCDate());
    const inWeek = dow.values.has(d.getUTCDay());
    return dom.star || dow.star ? inMonth && inWeek : inMonth || inWeek;
  };
  return {
    next(after) {
      const t = new Date(Math.floor(after.getTime() / MinuteMs) * MinuteMs + MinuteMs);
      const limit = t.getUTCFullYear() + SearchYears;
      while (t.getUTCFullYear() <= limit) {
        if (!month.values.has(t.getUTCMonth() + 1)) {
          t.setUTCMonth(t.getUTCMonth() + 1, 1);
          t.setUTCHours(0, 0, 0, 0);
        } else if (!dayMatches(t)) {
          t.setUTCDate(t.getUTCDate() + 1);
          t.setUTCHours(0, 0, 0, 0);
        } else if (!hour.values.has(t.getUTCHours())) {
          t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
        } else if (!minute.values.has(t.getUTCMinutes())) {
          t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
        } else {
          return t;
        }
      }
      return undefined;
    },
  };
}
