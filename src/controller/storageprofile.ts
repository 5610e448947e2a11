import type { V1StorageClass } from '@kubernetes/client-node';
import { ApiVersion } from '../api/datavolume.ts';
import type { Logger } from '../api/logger.ts';
import type { ClaimPropertySet, StorageProfile } from '../api/storageprofile.ts';
import { cdi, type Caches } from './informers.ts';
import { isConflict, type Kube } from './kube.ts';

/**
 * CDI's StorageProfile controller, pure part: one StorageProfile per StorageClass, same name, whose
 * status names the class, its provisioner and the claim properties CDI knows work for it
 * (`pkg/storagecapabilities`); spec is the user's to override.
 */
const Capabilities: Record<string, ClaimPropertySet[]> = {
  // the embedded node agent: a file per Block claim, a directory per Filesystem claim
  'local.cdi.kubevirt.io': [
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' },
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Block' },
  ],
  'kubernetes.io/no-provisioner': [{ accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' }],
  'rancher.io/local-path': [{ accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' }],
  'topolvm.io': [
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Block' },
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' },
  ],
  'rook-ceph.rbd.csi.ceph.com': [
    { accessModes: ['ReadWriteMany'], volumeMode: 'Block' },
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Block' },
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' },
  ],
  'openshift-storage.rbd.csi.ceph.com': [
    { accessModes: ['ReadWriteMany'], volumeMode: 'Block' },
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Block' },
    { accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' },
  ],
  'ebs.csi.aws.com': [{ accessModes: ['ReadWriteOnce'], volumeMode: 'Block' }],
  'pd.csi.storage.gke.io': [{ accessModes: ['ReadWriteOnce'], volumeMode: 'Block' }],
  'disk.csi.azure.com': [{ accessModes: ['ReadWriteOnce'], volumeMode: 'Block' }],
};

export type ProfileAction =
  | { kind: 'create'; profile: StorageProfile }
  | { kind: 'status'; profile: StorageProfile }
  | { kind: 'none' };

export function reconcileStorageProfile(sc: V1StorageClass, existing: StorageProfile | undefined): ProfileAction {
  const name = sc.metadata?.name ?? '';
  const provisioner = sc.provisioner;
  const sets = Capabilities[provisioner];
  const status: NonNullable<StorageProfile['status']> = {
    storageClass: name,
    provisioner,
    cloneStrategy: existing?.spec?.cloneStrategy ?? 'copy',
    ...(existing?.spec?.claimPropertySets?.length ? { claimPropertySets: existing.spec.claimPropertySets } : sets ? { claimPropertySets: sets } : {}),
  };
  if (!existing) {
    return {
      kind: 'create',
      profile: {
        apiVersion: ApiVersion,
        kind: 'StorageProfile',
        metadata: {
          name,
          labels: { app: 'containerized-data-importer' },
          ownerReferences: [{ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name, uid: sc.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
        },
        spec: {},
        status,
      },
    };
  }
  if (JSON.stringify(existing.status ?? {}) === JSON.stringify(status)) return { kind: 'none' };
  return { kind: 'status', profile: { ...existing, status } };
}

/** The runtime half: keeps a StorageProfile per StorageClass as classes come and go. */
export class StorageProfileController {
  private readonly kube: Kube;
  private readonly caches: Caches;
  private readonly logger: Logger;
  private pending: Promise<void> = Promise.resolve();

  constructor(kube: Kube, caches: Caches, logger: Logger) {
    this.kube = kube;
    this.caches = caches;
    this.logger = logger;
  }

  start(): void {
    for (const verb of ['add', 'update'] as const) {
      this.caches.storageClasses.on(verb, () => this.schedule());
      this.caches.profiles.on(verb, () => this.schedule());
    }
  }

  /** Passes run one after another; each looks at every class (there are few). */
  private schedule(): void {
    this.pending = this.pending.then(() => this.syncAll()).catch((err: unknown) => this.logger.warn({ err: String(err) }, 'storage profile sync failed'));
  }

  private async syncAll(): Promise<void> {
    const ref = cdi('storageprofiles');
    for (const sc of this.caches.storageClasses.list()) {
      const action = reconcileStorageProfile(sc, this.caches.profiles.get(sc.metadata?.name ?? ''));
      if (action.kind === 'create') await this.kube.ensure(() => this.kube.custom.createClusterCustomObject({ ...ref, body: action.profile }));
      else if (action.kind === 'status') await this.kube.replaceStatus(ref, undefined, action.profile.metadata?.name ?? '', action.profile).catch((err: unknown) => {
        if (!isConflict(err)) throw err;
      });
    }
  }
}
