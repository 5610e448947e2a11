import { describe, expect, it } from 'vitest';
import { isCdiError } from '../../api/errors.ts';
import { parseSchedule } from './cron-schedule.ts';

/** The next `count` activations after `from`, as ISO strings. */
function runs(spec: string, from: string, count = 3): string[] {
  const schedule = parseSchedule(spec);
  const out: string[] = [];
  let t = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = schedule.next(t);
    if (!next) break;
    out.push(next.toISOString());
    t = next;
  }
  return out;
}

describe('cron schedule (robfig ParseStandard semantics, UTC)', () => {
  it('every minute fires at the next whole minute, strictly after', () => {
    expect(runs('* * * * *', '2026-01-01T00:00:00.000Z')).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z']);
    expect(runs('* * * * *', '2026-01-01T00:00:59.999Z', 1)).toEqual(['2026-01-01T00:01:00.000Z']);
  });

  it('steps, ranges and lists', () => {
    expect(runs('*/15 * * * *', '2026-03-01T10:07:00Z')).toEqual(['2026-03-01T10:15:00.000Z', '2026-03-01T10:30:00.000Z', '2026-03-01T10:45:00.000Z']);
    expect(runs('5-10/5 9,17 * * *', '2026-03-01T09:06:00Z')).toEqual(['2026-03-01T09:10:00.000Z', '2026-03-01T17:05:00.000Z', '2026-03-01T17:10:00.000Z']);
    expect(runs('50/5 * * * *', '2026-03-01T09:56:00Z', 2)).toEqual(['2026-03-01T10:50:00.000Z', '2026-03-01T10:55:00.000Z']);
  });

  it('month and weekday names, case-insensitive, in ranges too', () => {
    expect(runs('0 12 * FEB-mar mon', '2026-01-31T00:00:00Z', 2)).toEqual(['2026-02-02T12:00:00.000Z', '2026-02-09T12:00:00.000Z']);
    expect(runs('0 0 * * SAT,sun', '2026-12-03T00:00:00Z', 2)).toEqual(['2026-12-05T00:00:00.000Z', '2026-12-06T00:00:00.000Z']);
  });

  it('descriptors', () => {
    const from = '2026-05-15T13:45:00Z';
    expect(runs('@hourly', from, 1)).toEqual(['2026-05-15T14:00:00.000Z']);
    expect(runs('@daily', from, 1)).toEqual(runs('@midnight', from, 1));
    expect(runs('@daily', from, 1)).toEqual(['2026-05-16T00:00:00.000Z']);
    expect(runs('@weekly', from, 1)).toEqual(['2026-05-17T00:00:00.000Z']);
    expect(runs('@monthly', from, 1)).toEqual(['2026-06-01T00:00:00.000Z']);
    expect(runs('@yearly', from, 1)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(runs('@annually', from, 1)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(runs('@every 1h30m', '2026-05-15T13:45:10.500Z', 2)).toEqual(['2026-05-15T15:15:10.000Z', '2026-05-15T16:45:10.000Z']);
  });

  it('month ends: the 31st skips the short months, the 30th skips February', () => {
    expect(runs('0 0 31 * *', '2026-01-31T00:00:00Z', 3)).toEqual(['2026-03-31T00:00:00.000Z', '2026-05-31T00:00:00.000Z', '2026-07-31T00:00:00.000Z']);
    expect(runs('0 0 30 * *', '2026-01-30T00:00:00Z', 1)).toEqual(['2026-03-30T00:00:00.000Z']);
    expect(runs('59 23 31 12 *', '2026-12-31T23:59:00Z', 1)).toEqual(['2027-12-31T23:59:00.000Z']);
  });

  it('leap days come only in leap years; an impossible date never fires', () => {
    expect(runs('0 0 29 2 *', '2025-01-01T00:00:00Z', 2)).toEqual(['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']);
    expect(parseSchedule('0 0 30 2 *').next(new Date('2026-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('both day fields restricted: either matches; one a star: both must', () => {
    // 13th of the month OR a Friday.
    expect(runs('0 0 13 * 5', '2026-02-01T00:00:00Z', 3)).toEqual(['2026-02-06T00:00:00.000Z', '2026-02-13T00:00:00.000Z', '2026-02-20T00:00:00.000Z']);
    // A stepped star is a restriction, so this is also OR (robfig clears the star bit on steps > 1).
    expect(runs('0 0 */10 * 1', '2026-02-01T00:00:00Z', 3)).toEqual(['2026-02-02T00:00:00.000Z', '2026-02-09T00:00:00.000Z', '2026-02-11T00:00:00.000Z']);
    expect(runs('0 0 * * 1', '2026-02-01T00:00:00Z', 1)).toEqual(['2026-02-02T00:00:00.000Z']);
  });

  it('is UTC whatever the process time zone: a DST change does not move or repeat a run', () => {
    // Europe's spring-forward (2026-03-29 01:00 UTC) and fall-back (2026-10-25 01:00 UTC) are ordinary hours here.
    expect(runs('30 1 * * *', '2026-03-28T12:00:00Z', 2)).toEqual(['2026-03-29T01:30:00.000Z', '2026-03-30T01:30:00.000Z']);
    expect(runs('30 1 * * *', '2026-10-24T12:00:00Z', 2)).toEqual(['2026-10-25T01:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it.each([
    ['', 'expected exactly 5 fields, found 0'],
    ['* * * *', 'expected exactly 5 fields, found 4'],
    ['* * * * * *', 'expected exactly 5 fields, found 6'],
    ['60 * * * *', 'minute: 60 is outside 0-59'],
    ['* 24 * * *', 'hour: 24 is outside 0-23'],
    ['* * 0 * *', 'day of month: 0 is outside 1-31'],
    ['* * * 13 *', 'month: 13 is outside 1-12'],
    ['* * * * 7', 'day of week: 7 is outside 0-6'],
    ['*/0 * * * *', 'minute: step "0" must be a positive number'],
    ['5-1 * * * *', 'minute: range 5-1 runs backwards'],
    ['* * * foo *', 'month: "foo" is not a number or a name'],
    ['* * * * mon-', 'day of week: "" is not a number or a name'],
    ['1,,2 * * * *', 'minute: "" is malformed'],
    ['@fortnightly', 'unrecognized descriptor @fortnightly'],
    ['@every soon', '@every wants a duration such as 1h30m, not "soon"'],
    ['CRON_TZ=Europe/Paris 0 6 * * *', 'time zones are not supported: schedules run in UTC'],
  ])('refuses %j: %s', (spec, why) => {
    let caught: unknown;
    try {
      parseSchedule(spec);
    } catch (err) {
      caught = err;
    }
    expect(isCdiError(caught, 'CDI_ERR_CRON_SCHEDULE')).toBe(true);
    expect((caught as Error).message).toBe(`invalid schedule ${JSON.stringify(spec)}: ${why}`);
  });
});
