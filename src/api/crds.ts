import { CdiConfigSchema } from './cdiconfig.ts';
import { DataImportCronSchema } from './dataimportcron.ts';
import { DataSourceSchema } from './datasource.ts';
import { DataVolumeSchema, Group, Version } from './datavolume.ts';
import type { JsonSchema } from './schema.ts';
import { StorageProfileSchema } from './storageprofile.ts';

/** The CustomResourceDefinitions of cdi.kubevirt.io, built from the same schemas as the TS types. */
interface CrdSpec {
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortNames?: string[];
  schema: JsonSchema;
  columns?: Array<{ name: string; type: string; jsonPath: string; description?: string; format?: string }>;
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const crdSpecs: CrdSpec[] = [
  {
    kind: 'DataVolume',
    plural: 'datavolumes',
    scope: 'Namespaced',
    shortNames: ['dv', 'dvs'],
    schema: DataVolumeSchema,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'The phase the data volume is in' },
      { name: 'Progress', type: 'string', jsonPath: '.status.progress', description: 'Transfer progress in percentage if known, N/A otherwise' },
      { name: 'Restarts', type: 'integer', format: 'int32', jsonPath: '.status.restartCount', description: 'The number of times the transfer has been restarted.' },
      age,
    ],
  },
  { kind: 'CDIConfig', plural: 'cdiconfigs', scope: 'Cluster', schema: CdiConfigSchema, columns: [age] },
  { kind: 'StorageProfile', plural: 'storageprofiles', scope: 'Cluster', schema: StorageProfileSchema, columns: [age] },
  { kind: 'DataSource', plural: 'datasources', scope: 'Namespaced', shortNames: ['das'], schema: DataSourceSchema, columns: [age] },
  { kind: 'DataImportCron', plural: 'dataimportcrons', scope: 'Namespaced', shortNames: ['dic', 'dics'], schema: DataImportCronSchema, columns: [age] },
];

/** A CRD's structural root: `metadata` is `type: object` only, as the apiserver requires. */
export function rootSchema(schema: JsonSchema): JsonSchema {
  const properties = { ...(schema.properties ?? {}) };
  properties.metadata = { type: 'object' };
  properties.apiVersion = { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' };
  properties.kind = { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' };
  return { ...schema, properties };
}

export function buildCrd(spec: CrdSpec): Record<string, unknown> {
  const singular = spec.kind.toLowerCase();
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${spec.plural}.${Group}`,
      labels: { 'operator.cdi.kubevirt.io': '' },
    },
    spec: {
      group: Group,
      names: {
        kind: spec.kind,
        listKind: `${spec.kind}List`,
        plural: spec.plural,
        singular,
        ...(spec.shortNames ? { shortNames: spec.shortNames } : {}),
        categories: ['all'],
      },
      scope: spec.scope,
      versions: [
        {
          name: Version,
          served: true,
          storage: true,
          ...(spec.columns ? { additionalPrinterColumns: spec.columns } : {}),
          schema: { openAPIV3Schema: rootSchema(spec.schema) },
          subresources: { status: {} },
        },
      ],
    },
  };
}

export function allCrds(): Array<{ file: string; crd: Record<string, unknown> }> {
  return crdSpecs.map((s) => ({ file: `${Group}_${s.plural}.yaml`, crd: buildCrd(s) }));
}
