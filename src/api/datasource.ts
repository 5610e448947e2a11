import { ObjectMetaSchema } from './core-schemas.ts';
import { DataVolumeConditionSchema } from './datavolume.ts';
import { arr, obj, str, type Static } from './schema.ts';

/** cdi.kubevirt.io/v1beta1 DataSource: a named pointer to a PVC, a snapshot or another DataSource. */
const RefSchema = obj({ namespace: str(), name: str() }, ['name']);
const SourceSchema = obj({ pvc: RefSchema, snapshot: RefSchema, dataSource: RefSchema });

export const DataSourceSchema = obj(
  {
    apiVersion: str(),
    kind: str(),
    metadata: ObjectMetaSchema,
    spec: obj({ source: SourceSchema }, ['source']),
    status: obj({ source: SourceSchema, conditions: arr(DataVolumeConditionSchema) }),
  },
  ['spec'],
);
export type DataSource = Static<typeof DataSourceSchema>;
