import { describe, expect, it } from 'vitest';
import { kindSchema } from './kind-schemas.ts';
import { findKindByKind, type KubeObject } from './kinds.ts';
import { checkSchema, parseFieldValidation } from './schema-check.ts';
import type { ApiError } from './status.ts';

const kind = (apiVersion: string, k: string) => findKindByKind(apiVersion, k)!;
const pod = kind('v1', 'Pod');
const dv = kind('cdi.kubevirt.io/v1beta1', 'DataVolume');
const check = (info = pod, body: KubeObject, fv?: 'Strict' | 'Warn' | 'Ignore') => checkSchema(info, kindSchema(info), body, fv);
const failure = (f: () => unknown): { code: number; message: string } => {
  try {
    f();
  } catch (err) {
    return { code: (err as ApiError).code, message: (err as ApiError).message };
  }
  throw new Error('expected a refusal');
};
const container = { name: 'c', image: 'quay.io/kubevirt/cdi-importer' };

describe('checkSchema', () => {
  it('gives JSON nulls in built-in lists and maps Go zero values, and drops null fields', () => {
    const { object } = check(pod, { metadata: { name: 'p' }, spec: { containers: [{ ...container, args: ['a', null], workingDir: null }], nodeSelector: { a: null } } });
    expect(object.spec).toEqual({ containers: [{ ...container, args: ['a', ''] }], nodeSelector: { a: '' } });
  });

  it('words a fractional number for an integer field as Go does, and checks int-or-string and quantities', () => {
    expect(failure(() => check(pod, { spec: { containers: [container], priority: 1.5 } })).message).toBe(
      'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number 1.5 into Go struct field PodSpec.spec.priority of type int32',
    );
    const probe = (port: unknown) => ({ spec: { containers: [{ ...container, readinessProbe: { httpGet: { port } } }] } });
    expect(check(pod, probe('http')).object.spec).toMatchObject({ containers: [{ readinessProbe: { httpGet: { port: 'http' } } }] });
    expect(failure(() => check(pod, probe(true))).message).toBe('Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal bool into Go value of type int32');
    expect(failure(() => check(pod, { spec: { containers: [{ ...container, resources: { limits: { memory: '1 Gi' } } }] } })).code).toBe(400);
  });

  it('refuses a null list item of a CRD as a type error, and keeps the subtrees marked to be kept', () => {
    const refused = failure(() => check(dv, { metadata: { name: 'd' }, spec: { source: { blank: {} }, pvc: { accessModes: [null] } } }));
    expect(refused).toEqual({
      code: 422,
      message: 'DataVolume.cdi.kubevirt.io "d" is invalid: spec.pvc.accessModes[0]: Invalid value: "null": spec.pvc.accessModes[0] in body must be of type string: "null"',
    });
    const cdiConfig = kind('cdi.kubevirt.io/v1beta1', 'CDIConfig');
    const profile = { custom: { ciphers: ['x'], minTLSVersion: 'VersionTLS12' }, type: 'Custom' };
    expect(check(cdiConfig, { spec: { tlsSecurityProfile: profile } }, 'Strict').object.spec).toEqual({ tlsSecurityProfile: profile });
  });

  it('parses fieldValidation as kube-apiserver names its values, Warn when absent', () => {
    expect(parseFieldValidation(null)).toBe('Warn');
    expect(parseFieldValidation('')).toBe('Warn');
    expect(parseFieldValidation('Strict')).toBe('Strict');
    expect(() => parseFieldValidation('strict')).toThrow('fieldValidation: Unsupported value: "strict": supported values: "Ignore", "Strict", "Warn"');
  });
});
