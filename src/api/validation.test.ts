import { describe, expect, it } from 'vitest';
import type { DataVolume, DataVolumeSpec } from './datavolume.ts';
import { admissionDeniedMessage, validateDataVolume, type ClaimLike } from './validation.ts';

const storage = { resources: { requests: { storage: '1Gi' } } };
const dv = (spec: DataVolumeSpec, name = 'dv1'): DataVolume => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { name, namespace: 'ns' },
  spec,
});
const messages = (d: DataVolume, ctx?: Parameters<typeof validateDataVolume>[1]) => validateDataVolume(d, ctx).map((c) => c.message);

describe('validateDataVolume: CDI webhook rules and messages', () => {
  const cases: Array<[string, DataVolumeSpec, string[]]> = [
    ['valid http', { source: { http: { url: 'http://example.com/disk.qcow2' } }, storage }, []],
    ['valid blank with pvc', { source: { blank: {} }, pvc: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }, []],
    ['no pvc or storage', { source: { blank: {} } }, ['Missing Data volume PVC']],
    ['both pvc and storage', { source: { blank: {} }, storage, pvc: {} }, ['Duplicate storage definition, both target storage and target pvc defined']],
    ['pvc without size', { source: { blank: {} }, pvc: { accessModes: ['ReadWriteOnce'] } }, ['PVC size is missing']],
    ['storage without size', { source: { blank: {} }, storage: {} }, ['Storage size is missing']],
    ['zero size', { source: { blank: {} }, storage: { resources: { requests: { storage: '0' } } } }, ["Storage size can't be equal or less than zero"]],
    ['negative size', { source: { blank: {} }, storage: { resources: { requests: { storage: '-1Gi' } } } }, ["Storage size can't be equal or less than zero"]],
    ['pvc without access mode', { source: { blank: {} }, pvc: { resources: { requests: { storage: '1Gi' } } } }, ['Required value: at least 1 access mode is required']],
    ['pvc two access modes', { source: { blank: {} }, pvc: { accessModes: ['ReadWriteOnce', 'ReadWriteMany'], resources: { requests: { storage: '1Gi' } } } }, ['PVC multiple accessModes']],
    ['bad access mode', { source: { blank: {} }, storage: { ...storage, accessModes: ['ReadWriteSome'] } }, ['Unsupported value: "ReadWriteSome": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"']],
    ['ReadWriteOncePod pvc', { source: { blank: {} }, pvc: { accessModes: ['ReadWriteOncePod'], resources: { requests: { storage: '1Gi' } } } }, []],
    ['under 1 MiB', { source: { blank: {} }, storage: { resources: { requests: { storage: '1023Ki' } } } }, ['Storage size should be at least 1MiB']],
    ['exactly 1 MiB', { source: { blank: {} }, storage: { resources: { requests: { storage: '1Mi' } } } }, []],
    ['pvc under 1 MiB', { source: { blank: {} }, pvc: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1000' } } } }, ['PVC size should be at least 1MiB']],
    ['externally populated', { storage: { ...storage, dataSourceRef: { apiGroup: 'populator.example.com', kind: 'Pop', name: 'p' } } }, []],
    ['external population and source', { source: { blank: {} }, storage: { ...storage, dataSourceRef: { apiGroup: 'x.io', kind: 'Pop', name: 'p' } } }, ['External population is incompatible with Source and SourceRef']],
    ['dataSourceRef without group', { storage: { ...storage, dataSourceRef: { kind: 'Pop', name: 'p' } } }, ["Required value: DataSourceRef apiGroup when kind is not 'PersistentVolumeClaim'"]],
    ['dataSource and dataSourceRef differ', { storage: { ...storage, dataSource: { kind: 'PersistentVolumeClaim', name: 'a' }, dataSourceRef: { kind: 'PersistentVolumeClaim', name: 'b' } } }, ['DataSourceRef and DataSource must match']],
    ['long storage class', { source: { blank: {} }, storage: { ...storage, storageClassName: 's'.repeat(254) } }, ['Name cannot be longer than 253 characters']],
    ['imageio insecure without certs', { source: { imageio: { url: 'https://e/api', diskId: 'd', secretRef: 's', insecureSkipVerify: true } }, storage }, []],
    ['imageio without certs', { source: { imageio: { url: 'https://e/api', diskId: 'd', secretRef: 's' } }, storage }, ['spec.source.Imageio source Imageio requires CertConfigMap or InsecureSkipVerify']],
    ['snapshot source incomplete', { source: { snapshot: { namespace: 'ns', name: '' } }, storage }, ['spec.source.Snapshot source snapshot is not valid']],
    ['no source', { storage }, ['Data volume should have either Source or SourceRef, or be externally populated']],
    ['source and sourceRef', { source: { blank: {} }, sourceRef: { kind: 'DataSource', name: 'x' }, storage }, ['Data volume should have either Source or SourceRef, or be externally populated']],
    ['empty source', { source: {}, storage }, ['Missing Data volume source']],
    ['two sources', { source: { blank: {}, upload: {} }, storage }, ['Multiple Data volume sources']],
    ['empty url', { source: { http: { url: '' } }, storage }, ['spec.source source URL is empty']],
    ['relative url', { source: { http: { url: 'disk.img' } }, storage }, ['spec.source Invalid source URL: disk.img']],
    ['ftp url', { source: { http: { url: 'ftp://example.com/x' } }, storage }, ['spec.source Invalid source URL scheme: ftp://example.com/x']],
    ['s3 bad scheme', { source: { s3: { url: 'file:///x' } }, storage }, ['spec.source Invalid source URL scheme: file:///x']],
    ['bad content type', { source: { http: { url: 'http://x/y' } }, contentType: 'iso', storage }, ['ContentType not one of: kubevirt, archive']],
    ['blank archive', { source: { blank: {} }, contentType: 'archive', storage }, ['SourceType cannot be blank and the contentType be archive']],
    ['registry archive', { source: { registry: { url: 'docker://r/i' } }, contentType: 'archive', storage }, ['ContentType must be kubevirt when Source is Registry']],
    ['registry neither', { source: { registry: {} }, storage }, ['Source registry should have either URL or ImageStream']],
    ['registry https', { source: { registry: { url: 'https://r/i' } }, storage }, ['Illegal registry source URL scheme https://r/i']],
    ['registry stream without node pull', { source: { registry: { imageStream: 'is' } }, storage }, ['Source registry ImageStream is supported only with node pull import method']],
    ['imageio incomplete', { source: { imageio: { url: 'https://e/api', diskId: 'd' } }, storage }, ['spec.source.Imageio source Imageio is not valid']],
    ['vddk incomplete', { source: { vddk: { url: 'https://vc/sdk' } }, storage }, ['spec.source.VDDK source VDDK is not valid']],
    ['pvc source incomplete', { source: { pvc: { namespace: '', name: 'x' } }, storage }, ['spec.source.PVC source PVC is not valid']],
    ['sourceRef wrong kind', { sourceRef: { kind: 'PVC', name: 'x' }, storage }, ['Unsupported sourceRef kind PVC, currently only DataSource is supported']],
    ['sourceRef no name', { sourceRef: { kind: 'DataSource', name: '' }, storage }, ['Missing sourceRef name']],
    ['clone without size is fine', { source: { pvc: { namespace: 'ns', name: 'src' } }, storage: {} }, []],
    ['checksum ok', { source: { http: { url: 'http://x/y', checksum: `sha256:${'a'.repeat(64)}` } }, storage }, []],
  ];
  it.each(cases)('%s', (_name, spec, expected) => {
    expect(messages(dv(spec))).toEqual(expected);
  });

  it.each([
    ['sha256:abc', 'invalid sha256 hash length: expected 64 hex characters, got 3'],
    ['abc', "invalid checksum format: expected 'algorithm:hash', got 'abc'"],
    ['sha256:', 'checksum hash value cannot be empty'],
    ['crc32:abcd', "unsupported hash algorithm 'crc32': supported algorithms are: md5, sha1, sha256, sha512"],
    ['constructor:abcd', "unsupported hash algorithm 'constructor': supported algorithms are: md5, sha1, sha256, sha512"],
    [`md5:${'g'.repeat(32)}`, "checksum hash is not valid hexadecimal: encoding/hex: invalid byte: U+0067 'g'"],
  ])('refuses the malformed checksum %s with upstream text', (checksum, problem) => {
    expect(messages(dv({ source: { http: { url: 'http://x/y', checksum } }, storage }))).toEqual([`Invalid checksum format: ${problem}`]);
  });

  it('refuses a name longer than 253 characters', () => {
    expect(messages(dv({ source: { blank: {} }, storage }, 'a'.repeat(254)))).toEqual(['Name cannot be longer than 253 characters']);
  });

  it('refuses spec changes and allows metadata-only updates', () => {
    const old = dv({ source: { blank: {} }, storage });
    const changed = dv({ source: { blank: {} }, storage: { resources: { requests: { storage: '2Gi' } } } });
    expect(messages(changed, { operation: 'UPDATE', oldObject: old })).toEqual(['Cannot update DataVolume Spec']);
    expect(messages({ ...old, metadata: { ...old.metadata, labels: { a: 'b' } } }, { operation: 'UPDATE', oldObject: old })).toEqual([]);
  });

  it('admits checkpoint edits of a multi-stage ImageIO or VDDK import, and nothing else', () => {
    const imageio = { url: 'https://e/api', diskId: 'd', secretRef: 's', certConfigMap: 'c' };
    for (const source of [{ imageio }, { vddk: { url: 'https://vc/sdk', uuid: 'u', backingFile: 'b', thumbprint: 't', secretRef: 's' } }]) {
      const old = dv({ source, storage, checkpoints: [{ previous: '', current: 'c1' }] });
      const next = dv({ source, storage, checkpoints: [{ previous: '', current: 'c1' }, { previous: 'c1', current: 'c2' }], finalCheckpoint: true });
      expect(messages(next, { operation: 'UPDATE', oldObject: old })).toEqual([]);
      const resized = dv({ ...next.spec, storage: { resources: { requests: { storage: '2Gi' } } } });
      expect(messages(resized, { operation: 'UPDATE', oldObject: old })).toEqual(['Cannot update DataVolume Spec']);
    }
  });

  it('checks the create-time lookups: existing PVC, source PVC (a missing source or DataSource is no refusal)', () => {
    const pvcs = new Map<string, ClaimLike>([
      ['ns/dv1', { metadata: {} }],
      ['ns/src', { spec: { resources: { requests: { storage: '2Gi' } } } }],
      ['ns/owned', { metadata: { ownerReferences: [{ kind: 'DataVolume', controller: true }] } }],
    ]);
    const ctx = { operation: 'CREATE' as const, getPvc: (ns: string, n: string) => pvcs.get(`${ns}/${n}`) };
    expect(messages(dv({ source: { blank: {} }, storage }), ctx)).toEqual(['Destination PVC ns/dv1 already exists']);
    expect(messages(dv({ source: { blank: {} }, storage }, 'owned'), ctx)).toEqual([]);
    expect(messages(dv({ source: { pvc: { namespace: 'ns', name: 'gone' } }, storage }, 'c'), ctx)).toEqual([]);
    expect(messages(dv({ source: { pvc: { namespace: 'ns', name: 'src' } }, storage }, 'c'), ctx)).toEqual([
      'target resources requests storage size is smaller than the source',
    ]);
    expect(messages(dv({ sourceRef: { kind: 'DataSource', name: 'golden' }, storage }, 'c'), ctx)).toEqual([]);
  });

  it('renders the denial as Kubernetes does for a webhook', () => {
    const causes = validateDataVolume(dv({ source: {}, storage }));
    expect(admissionDeniedMessage(causes)).toBe(
      'admission webhook "datavolume-validate.cdi.kubevirt.io" denied the request:  Missing Data volume source',
    );
  });
});
