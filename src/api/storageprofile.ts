import { ObjectMetaSchema } from './core-schemas.ts';
import { arr, obj, str, strEnum, type Static } from './schema.ts';

/** cdi.kubevirt.io/v1beta1 StorageProfile: one per StorageClass, same name (cluster-scoped). */
export const CloneStrategies = ['copy', 'snapshot', 'csi-clone'] as const;

const ClaimPropertySetSchema = obj({ accessModes: arr(str()), volumeMode: str() }, ['accessModes']);

const fields = {
  cloneStrategy: strEnum(CloneStrategies),
  claimPropertySets: arr(ClaimPropertySetSchema),
  dataImportCronSourceFormat: strEnum(['pvc', 'snapshot']),
  snapshotClass: str(),
};

export const StorageProfileSchema = obj({
  apiVersion: str(),
  kind: str(),
  metadata: ObjectMetaSchema,
  spec: obj(fields),
  status: obj({ storageClass: str(), provisioner: str(), ...fields }),
});
export type StorageProfile = Static<typeof StorageProfileSchema>;
export type ClaimPropertySet = Static<typeof ClaimPropertySetSchema>;

/** The claim properties a `storage` DataVolume gets: spec first (the user's), then status (detected). */
export function claimPropertiesOf(profile: StorageProfile | undefined): ClaimPropertySet | undefined {
  const sets = profile?.spec?.claimPropertySets?.length ? profile.spec.claimPropertySets : profile?.status?.claimPropertySets;
  return sets?.[0];
}
