import { Int32, ObjectMetaSchema } from './core-schemas.ts';
import { DataVolumeConditionSchema, DataVolumeSpecSchema } from './datavolume.ts';
import { arr, obj, str, strEnum, type Static } from './schema.ts';

/** cdi.kubevirt.io/v1beta1 DataImportCron: polls a registry tag on a cron schedule and keeps a DataSource on the newest import. */
export const DataImportCronSchema = obj(
  {
    apiVersion: str(),
    kind: str(),
    metadata: ObjectMetaSchema,
    spec: obj(
      {
        template: obj({ metadata: ObjectMetaSchema, spec: DataVolumeSpecSchema }),
        schedule: str(),
        garbageCollect: strEnum(['Outdated', 'Never']),
        importsToKeep: Int32(),
        managedDataSource: str(),
        retentionPolicy: strEnum(['None', 'All']),
        serviceAccountName: str(),
      },
      ['template', 'managedDataSource'],
    ),
    status: obj({
      currentImports: arr(obj({ DataVolumeName: str(), Digest: str() })),
      lastImportedPVC: obj({ namespace: str(), name: str() }),
      lastExecutionTimestamp: str({ format: 'date-time' }),
      lastImportTimestamp: str({ format: 'date-time' }),
      sourceFormat: str(),
      conditions: arr(DataVolumeConditionSchema),
    }),
  },
  ['spec'],
);
export type DataImportCron = Static<typeof DataImportCronSchema>;
