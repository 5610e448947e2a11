/** Annotation and label keys, spelled as CDI's `pkg/controller/common/util.go` and KubeVirt spell them. */
const p = 'cdi.kubevirt.io/';

export const Ann = {
  importEndpoint: `${p}storage.import.endpoint`,
  importSource: `${p}storage.import.source`,
  importSecretName: `${p}storage.import.secretName`,
  importCertConfigMap: `${p}storage.import.certConfigMap`,
  contentType: `${p}storage.contentType`,
  importChecksum: `${p}storage.import.checksum`,
  importExtraHeaders: `${p}storage.import.extraHeaders`,
  importSecretExtraHeaders: `${p}storage.import.secretExtraHeaders`,
  importInsecureSkipVerify: `${p}storage.import.insecureSkipVerify`,
  registryImageArchitecture: `${p}storage.import.registryImageArchitecture`,
  registryImportMethod: `${p}storage.import.registryImportMethod`,
  importPodName: `${p}storage.import.importPodName`,
  uploadPodName: `${p}storage.uploadPodName`,
  sourceClonePodName: `${p}storage.sourceClonePodName`,
  podPhase: `${p}storage.pod.phase`,
  podReady: `${p}storage.pod.ready`,
  podRestarts: `${p}storage.pod.restarts`,
  runningCondition: `${p}storage.condition.running`,
  runningConditionMessage: `${p}storage.condition.running.message`,
  runningConditionReason: `${p}storage.condition.running.reason`,
  fatalError: `${p}storage.import.fatalError`,
  preallocationRequested: `${p}storage.preallocation.requested`,
  preallocationApplied: `${p}storage.preallocation`,
  priorityClassName: `${p}storage.pod.priorityclassname`,
  serviceAccountName: `${p}storage.pod.serviceAccountName`,
  retainAfterCompletion: `${p}storage.pod.retainAfterCompletion`,
  immediateBinding: `${p}storage.bind.immediate.requested`,
  populatedFor: `${p}storage.populatedFor`,
  prePopulated: `${p}storage.prePopulated`,
  allowClaimAdoption: `${p}allowClaimAdoption`,
  createdForDataVolume: `${p}createdForDataVolume`,
  uploadTarget: `${p}storage.upload.target`,
  uploadClientName: `${p}uploadClientName`,
  cloneRequest: `${p}storage.clone.token`,
  deleteAfterCompletion: `${p}storage.deleteAfterCompletion`,
  defaultVirtStorageClass: 'storageclass.kubevirt.io/is-default-virt-class',
  defaultStorageClass: 'storageclass.kubernetes.io/is-default-class',
  selectedNode: 'volume.kubernetes.io/selected-node',
  /** Ours: the processing stage the worker reports (CDI #4021). */
  podStage: `${p}storage.pod.stage`,
} as const;

export const Label = {
  app: 'app',
  appValue: 'containerized-data-importer',
  component: 'cdi.kubevirt.io',
  prometheus: 'prometheus.cdi.kubevirt.io',
  kubevirtCreatedBy: 'kubevirt.io/created-by',
  uploadTarget: 'cdi.kubevirt.io/uploadTarget',
} as const;

/** The CN the upload proxy's client certificate carries; the upload server checks it. */
export const UploadClientName = 'client.upload-server.cdi.kubevirt.io';
