import { describe, expect, it } from 'vitest';
import { kubectl132Bodies } from '../../test/support/kubectl-protobuf-bodies.ts';
import { decodeKubernetesProtobuf, decodeMessage } from './k8s-decode.ts';
import { messages, protobufKinds, protobufMessageFor, type FieldDescriptor } from './k8s-messages.ts';
import { ProtobufError, WireReader } from './wire-reader.ts';

const hex = (h: string) => Buffer.from(h, 'hex');
const decode = (body: Buffer) => decodeKubernetesProtobuf(body, protobufMessageFor);

/** Hand-built protobuf for the cases kubectl never sends. */
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}
const len = (field: number, bytes: number[]) => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const num = (field: number, n: number | bigint) => [...varint(field << 3), ...varint(n)];
const str = (field: number, s: string) => len(field, [...Buffer.from(s)]);
const envelope = (apiVersion: string, kind: string, raw: number[]) => Buffer.from([0x6b, 0x38, 0x73, 0x00, ...len(1, [...str(1, apiVersion), ...str(2, kind)]), ...len(2, raw)]);

describe('Kubernetes protobuf bodies', () => {
  it("decodes kubectl 1.32's Secret: bytes as base64, an empty value kept, zero metadata fields dropped", () => {
    expect(decode(hex(kubectl132Bodies.secret))).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds' },
      data: { accessKeyId: 'QUtJQQ==', empty: '', secretKey: 'czNjcjN0' },
    });
  });

  it("decodes kubectl 1.32's ConfigMap with binaryData, Namespace and Service (IntOrString ports both ways)", () => {
    expect(decode(hex(kubectl132Bodies.configmap))).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg2' },
      data: { endpoint: 'https://example.com' },
      binaryData: { bin: Buffer.from([0x61, 0x00, 0xff, 0x62]).toString('base64') },
    });
    expect(decode(hex(kubectl132Bodies.namespace))).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'imports' }, spec: {}, status: {} });
    expect(decode(hex(kubectl132Bodies.service))).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web2', labels: { app: 'web2' } },
      spec: {
        ports: [
          { name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 },
          { name: '443-https', protocol: 'TCP', port: 443, targetPort: 'https' },
        ],
        selector: { app: 'web2' },
        type: 'ClusterIP',
      },
      status: { loadBalancer: {} },
    });
  });

  it('writes metav1.Time with whole seconds, MicroTime with six digits, quantities as strings and pointer zeros as sent', () => {
    const seconds = Date.UTC(2026, 11, 3, 7, 39, 27) / 1000;
    const stamp = [...num(1, seconds), ...num(2, 158_123_456)];
    const lease = envelope('coordination.k8s.io/v1', 'Lease', [
      ...len(1, [...str(1, 'cdi-controller'), ...len(8, stamp)]),
      ...len(2, [...str(1, 'pod-a'), ...num(2, 15), ...len(3, stamp), ...len(4, stamp), ...num(5, 0)]),
    ]);
    expect(decode(lease)).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'cdi-controller', creationTimestamp: '2026-12-03T07:39:27Z' },
      spec: { holderIdentity: 'pod-a', leaseDurationSeconds: 15, acquireTime: '2026-12-03T07:39:27.158123Z', renewTime: '2026-12-03T07:39:27.158123Z', leaseTransitions: 0 },
    });
    const quantity = (q: string) => len(2, [...str(1, 'storage'), ...len(2, str(1, q))]);
    const pvc = envelope('v1', 'PersistentVolumeClaim', [
      ...len(1, str(1, 'disk')),
      ...len(2, [...str(1, 'ReadWriteOnce'), ...len(2, quantity('2179Mi')), ...str(5, ''), ...str(6, 'Block')]),
    ]);
    expect(decode(pvc)).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'disk' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2179Mi' } }, storageClassName: '', volumeMode: 'Block' },
    });
  });

  it('decodes DeleteOptions of any group, with packed or unpacked repeated fields', () => {
    const body = envelope('storage.k8s.io/v1', 'DeleteOptions', [...num(1, 0), ...str(4, 'Foreground'), ...str(5, 'All')]);
    expect(decode(body)).toEqual({ apiVersion: 'storage.k8s.io/v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, propagationPolicy: 'Foreground', dryRun: ['All'] });
  });

  it('refuses bodies without the magic, truncated, with a wrong wire type or a length past the end, and kinds it has no table for', () => {
    const secret = hex(kubectl132Bodies.secret);
    expect(() => decode(Buffer.from('{"kind":"Secret"}'))).toThrow(new ProtobufError('provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]'));
    expect(() => decode(secret.subarray(0, secret.length - 5))).toThrow(ProtobufError);
    expect(() => decode(envelope('v1', 'Secret', [...num(1, 5)]))).toThrow(/field 1 has wire type 0, expected 2/);
    expect(() => decode(envelope('v1', 'Secret', [0x0a, 0x7f, 0x01]))).toThrow(/length 127 runs past the end of the message at byte/);
    expect(() => decode(envelope('v1', 'Secret', [...len(1, [0x0a, 0x80])]))).toThrow(/truncated varint|runs past the end/);
    expect(() => decode(envelope('cdi.kubevirt.io/v1beta1', 'DataVolume', []))).toThrow(new ProtobufError('no protobuf decoding for cdi.kubevirt.io/v1beta1, Kind=DataVolume'));
    expect(() => decode(Buffer.concat([secret, Buffer.from(len(3, [...Buffer.from('gzip')]))]))).toThrow(/unsupported contentEncoding "gzip"/);
  });

  it('has a table for every message a field names and for every protobuf kind', () => {
    const specials = new Set(['string', 'bytes', 'bool', 'int32', 'int64', 'double', 'time', 'microTime', 'quantity', 'intOrString', 'fieldsV1']);
    const table = messages as Record<string, Record<number, FieldDescriptor>>;
    for (const [name, fields] of Object.entries(table)) {
      for (const f of Object.values(fields)) expect(specials.has(f.type) || f.type in table, `${name}.${f.name}: ${f.type}`).toBe(true);
    }
    for (const m of Object.values(protobufKinds)) expect(decodeMessage(new WireReader(new Uint8Array()), m)).toEqual({});
  });
});
