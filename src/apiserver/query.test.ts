import { describe, expect, it } from 'vitest';
import { deleteQuery, dryRunQuery, listQuery, queryBool, queryInt, watchQuery } from './query.ts';
import { ApiError } from './status.ts';

const q = (s: string) => new URLSearchParams(s);

function failure(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('query parameters as kube-apiserver reads them', () => {
  it('reads booleans as the parameter codec does: only absent, 0 and false (any case) are false', () => {
    for (const v of ['true', 'True', 'TRUE', '1', 't', 'T', 'yes', '']) expect(queryBool(q(`watch=${v}`), 'watch')).toBe(true);
    for (const v of ['false', 'False', 'FALSE', 'fAlSe', '0']) expect(queryBool(q(`watch=${v}`), 'watch')).toBe(false);
    expect(queryBool(q(''), 'watch')).toBe(false);
    expect(queryBool(q('watch'), 'watch')).toBe(true);
  });

  it('reads integers as strconv.ParseInt and reports its error text as 400', () => {
    expect(queryInt(q('limit=%2B5'), 'limit')).toBe(5);
    expect(queryInt(q('limit=-3'), 'limit')).toBe(-3);
    expect(failure(() => queryInt(q('limit=ten'), 'limit'))).toEqual({ code: 400, message: 'strconv.ParseInt: parsing "ten": invalid syntax' });
    expect(failure(() => queryInt(q('limit=1.5'), 'limit'))).toEqual({ code: 400, message: 'strconv.ParseInt: parsing "1.5": invalid syntax' });
    expect(failure(() => queryInt(q('limit=99999999999999999999'), 'limit')).message).toBe('strconv.ParseInt: parsing "99999999999999999999": value out of range');
  });

  it('validates resourceVersionMatch with ValidateListOptions messages', () => {
    expect(failure(() => listQuery(q('resourceVersionMatch=Exact')))).toEqual({
      code: 422,
      message: 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
    });
    expect(failure(() => listQuery(q('resourceVersion=0&resourceVersionMatch=Exact'))).message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
    );
    expect(failure(() => listQuery(q('resourceVersion=5&resourceVersionMatch=Newest'))).message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""',
    );
    expect(failure(() => listQuery(q('resourceVersionMatch=Exact&continue=abc'))).message).toBe(
      'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided]',
    );
    expect(listQuery(q('resourceVersion=7&resourceVersionMatch=NotOlderThan&limit=2'))).toMatchObject({ resourceVersion: '7', resourceVersionMatch: 'NotOlderThan', limit: 2 });
    expect(failure(() => watchQuery(q('watch=1&resourceVersion=3&resourceVersionMatch=NotOlderThan'))).code).toBe(422);
  });

  it('accepts dryRun=All only, refusing anything else as the verb options kube-apiserver names', () => {
    expect(dryRunQuery(q('dryRun=All'), 'CreateOptions')).toBe(true);
    expect(dryRunQuery(q(''), 'CreateOptions')).toBe(false);
    expect(failure(() => dryRunQuery(q('dryRun=All&dryRun=Some'), 'PatchOptions'))).toEqual({
      code: 422,
      message: 'PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"All", "Some"}: supported values: "All"',
    });
  });

  it('reads DeleteOptions from the query and from the body', () => {
    expect(deleteQuery(q('propagationPolicy=Foreground&gracePeriodSeconds=5'), undefined)).toEqual({ propagationPolicy: 'Foreground', gracePeriodSeconds: 5 });
    expect(deleteQuery(q(''), { kind: 'DeleteOptions', propagationPolicy: 'Orphan', gracePeriodSeconds: -4, dryRun: ['All'] })).toEqual({
      propagationPolicy: 'Orphan',
      gracePeriodSeconds: 1,
      dryRun: true,
    });
    expect(deleteQuery(q('orphanDependents=true'), undefined)).toEqual({ propagationPolicy: 'Orphan' });
    expect(failure(() => deleteQuery(q('propagationPolicy=Later'), undefined))).toEqual({
      code: 422,
      message: 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Later": supported values: "Foreground", "Background", "Orphan", "nil"',
    });
    expect(failure(() => deleteQuery(q(''), { propagationPolicy: 'Orphan', orphanDependents: false })).message).toContain('orphanDependents and deletionPropagation cannot be both set');
    expect(failure(() => deleteQuery(q('gracePeriodSeconds=soon'), undefined)).code).toBe(400);
  });
});
