import { describe, expect, it } from 'vitest';
import { allCrds } from './crds.ts';
import type { JsonSchema } from './schema.ts';

/** The apiserver's structural-schema rules that a hand-built schema can break. */
function structuralProblems(schema: JsonSchema, at: string): string[] {
  const problems: string[] = [];
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] || schema['x-kubernetes-int-or-string'];
  if (!schema.type && !preserve) problems.push(`${at}: no type`);
  if (schema.properties && schema.additionalProperties) problems.push(`${at}: properties with additionalProperties`);
  if (schema.type === 'array' && !schema.items) problems.push(`${at}: array without items`);
  for (const [k, v] of Object.entries(schema.properties ?? {})) problems.push(...structuralProblems(v, `${at}.${k}`));
  if (schema.items) problems.push(...structuralProblems(schema.items, `${at}[]`));
  if (schema.additionalProperties) problems.push(...structuralProblems(schema.additionalProperties, `${at}{}`));
  return problems;
}

describe('CRDs', () => {
  it('are structural, with a status subresource', () => {
    for (const { crd } of allCrds()) {
      const version = (crd.spec as { versions: Array<{ schema: { openAPIV3Schema: JsonSchema }; subresources: object }> }).versions[0];
      expect(version?.subresources).toEqual({ status: {} });
      expect(structuralProblems(version!.schema.openAPIV3Schema, 'root')).toEqual([]);
    }
  });

  it('gives DataVolume the short names and printer columns kubectl shows', () => {
    const dv = allCrds().find((c) => c.file === 'cdi.kubevirt.io_datavolumes.yaml')!.crd as {
      spec: { names: { shortNames: string[] }; versions: Array<{ additionalPrinterColumns: Array<{ name: string; jsonPath: string }> }> };
    };
    expect(dv.spec.names.shortNames).toEqual(['dv', 'dvs']);
    expect(dv.spec.versions[0]!.additionalPrinterColumns.map((c) => `${c.name}=${c.jsonPath}`)).toEqual([
      'Phase=.status.phase',
      'Progress=.status.progress',
      'Restarts=.status.restartCount',
      'Age=.metadata.creationTimestamp',
    ]);
  });
});
