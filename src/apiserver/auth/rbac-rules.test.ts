import { describe, expect, it } from 'vitest';
import { resourceAttributes, nonResource } from './forbidden.ts';
import { describeRule, ruleAllows, rulesCover, type PolicyRule } from './rbac-rules.ts';

const dv = (verb: string, extra: Partial<Parameters<typeof resourceAttributes>[0]> = {}) =>
  resourceAttributes({ verb, apiGroup: 'cdi.kubevirt.io', resource: 'datavolumes', namespace: 'ns', ...extra });

describe('RBAC rule matching', () => {
  it('matches verbs, groups, resources with subresources, */status and resource names', () => {
    const rule: PolicyRule = { verbs: ['get', 'create'], apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes', 'datavolumes/source'] };
    expect(ruleAllows(rule, dv('get'))).toBe(true);
    expect(ruleAllows(rule, dv('delete'))).toBe(false);
    expect(ruleAllows(rule, dv('create', { subresource: 'source' }))).toBe(true);
    expect(ruleAllows(rule, dv('get', { subresource: 'status' }))).toBe(false);
    expect(ruleAllows({ verbs: ['get'], apiGroups: ['*'], resources: ['*/status'] }, dv('get', { subresource: 'status' }))).toBe(true);
    expect(ruleAllows({ verbs: ['get'], apiGroups: ['*'], resources: ['*/status'] }, dv('get'))).toBe(false);
    expect(ruleAllows({ ...rule, apiGroups: [''] }, dv('get'))).toBe(false);
    const named: PolicyRule = { verbs: ['*'], apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes'], resourceNames: ['a'] };
    expect(ruleAllows(named, dv('get', { name: 'a' }))).toBe(true);
    expect(ruleAllows(named, dv('get', { name: 'b' }))).toBe(false);
    expect(ruleAllows(named, dv('list'))).toBe(false);
  });

  it('matches non-resource URLs exactly or by a trailing *', () => {
    const rule: PolicyRule = { verbs: ['get'], nonResourceURLs: ['/api', '/apis/*'] };
    expect(ruleAllows(rule, nonResource('get', '/api'))).toBe(true);
    expect(ruleAllows(rule, nonResource('get', '/apis/cdi.kubevirt.io/v1beta1'))).toBe(true);
    expect(ruleAllows(rule, nonResource('get', '/api/v1'))).toBe(false);
    expect(ruleAllows(rule, nonResource('post', '/api'))).toBe(false);
    expect(ruleAllows(rule, dv('get'))).toBe(false);
  });

  it('decides escalation: a wanted rule is covered only by rules at least as broad', () => {
    const owned: PolicyRule[] = [
      { verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets', 'pods'] },
      { verbs: ['*'], apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes'], resourceNames: ['one'] },
    ];
    expect(rulesCover(owned, { verbs: ['get'], apiGroups: [''], resources: ['secrets'] })).toBe(true);
    expect(rulesCover(owned, { verbs: ['get', 'delete'], apiGroups: [''], resources: ['secrets'] })).toBe(false);
    expect(rulesCover(owned, { verbs: ['*'], apiGroups: [''], resources: ['secrets'] })).toBe(false);
    expect(rulesCover(owned, { verbs: ['delete'], apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes'], resourceNames: ['one'] })).toBe(true);
    expect(rulesCover(owned, { verbs: ['delete'], apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes'] })).toBe(false);
    expect(rulesCover([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], { verbs: ['*'], apiGroups: ['x'], resources: ['y/z'] })).toBe(true);
    expect(rulesCover(owned, { verbs: ['get'], nonResourceURLs: ['/metrics'] })).toBe(false);
    expect(rulesCover([{ verbs: ['get'], nonResourceURLs: ['/*'] }], { verbs: ['get'], nonResourceURLs: ['/metrics'] })).toBe(true);
  });

  it('describes a rule as kube-apiserver prints it in escalation refusals', () => {
    expect(describeRule({ verbs: ['get'], apiGroups: [''], resources: ['secrets'] })).toBe('{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}');
    expect(describeRule({ verbs: ['get'], nonResourceURLs: ['/metrics'] })).toBe('{NonResourceURLs:["/metrics"], Verbs:["get"]}');
  });
});
