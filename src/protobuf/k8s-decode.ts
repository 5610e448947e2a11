import { messages, type FieldDescriptor, type MessageName } from './k8s-messages.ts';
import { ProtobufError, WireReader, WireType } from './wire-reader.ts';

/**
 * `application/vnd.kubernetes.protobuf` bodies into the JSON objects the rest of the server
 * handles. A body is the magic `k8s\0` and a runtime.Unknown: typeMeta (apiVersion, kind), raw
 * (the object's own message), contentEncoding and contentType (both empty for kubectl's bodies).
 */
export const ProtobufMediaType = 'application/vnd.kubernetes.protobuf';
const Magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Envelope {
  apiVersion: string;
  kind: string;
  /** The object's own message, read with offsets into the whole body. */
  raw: WireReader;
}

export function readEnvelope(body: Buffer): Envelope {
  if (body.length < Magic.length || !body.subarray(0, Magic.length).equals(Magic)) {
    throw new ProtobufError(`provided data does not appear to be a protobuf message, expected prefix [${[...Magic].join(' ')}]`);
  }
  const r = new WireReader(body.subarray(Magic.length), Magic.length);
  const envelope: Envelope = { apiVersion: '', kind: '', raw: new WireReader(new Uint8Array()) };
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field >= 1 && field <= 4) r.expect(field, wireType, WireType.bytes);
    if (field === 1) {
      const t = r.message();
      while (!t.done) {
        const inner = t.tag();
        if (inner.field === 1 || inner.field === 2) {
          t.expect(inner.field, inner.wireType, WireType.bytes);
          envelope[inner.field === 1 ? 'apiVersion' : 'kind'] = t.string();
        } else t.skip(inner.wireType);
      }
    } else if (field === 2) envelope.raw = r.message();
    else if (field === 3 || field === 4) {
      const value = r.string();
      if (value !== '' && !(field === 4 && value === ProtobufMediaType)) {
        throw new ProtobufError(`unsupported ${field === 3 ? 'contentEncoding' : 'contentType'} ${JSON.stringify(value)} in the protobuf envelope`);
      }
    } else r.skip(wireType);
  }
  return envelope;
}

const isoSeconds = (seconds: number): string => {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw new ProtobufError(`timestamp ${seconds} out of range`);
  return new Date(ms).toISOString().slice(0, 19);
};

/** meta.v1.Time / MicroTime: a Timestamp {seconds, nanos}; an empty one is the zero time (absent). */
function timestamp(r: WireReader, micro: boolean): string | undefined {
  let seconds = 0;
  let nanos = 0;
  let any = false;
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1 || field === 2) {
      r.expect(field, wireType, WireType.varint);
      any = true;
      if (field === 1) seconds = r.int64();
      else nanos = r.int32();
    } else r.skip(wireType);
  }
  if (!any) return undefined;
  // metav1.Time keeps whole seconds only; MicroTime keeps microseconds.
  if (!micro) return `${isoSeconds(seconds)}Z`;
  return `${isoSeconds(seconds)}.${String(Math.floor(Math.max(0, nanos) / 1000)).padStart(6, '0')}Z`;
}

function singleString(r: WireReader): string {
  let value = '';
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      r.expect(field, wireType, WireType.bytes);
      value = r.string();
    } else r.skip(wireType);
  }
  return value;
}

function intOrString(r: WireReader): number | string {
  let type = 0;
  let intVal = 0;
  let strVal = '';
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1 || field === 2) {
      r.expect(field, wireType, WireType.varint);
      if (field === 1) type = r.int64();
      else intVal = r.int32();
    } else if (field === 3) {
      r.expect(field, wireType, WireType.bytes);
      strVal = r.string();
    } else r.skip(wireType);
  }
  return type === 1 ? strVal : intVal;
}

function fieldsV1(r: WireReader): Json {
  const raw = singleBytes(r);
  try {
    return JSON.parse(Buffer.from(raw).toString('utf8')) as Json;
  } catch {
    throw new ProtobufError('fieldsV1 does not hold JSON');
  }
}

function singleBytes(r: WireReader): Uint8Array {
  let value: Uint8Array = new Uint8Array();
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      r.expect(field, wireType, WireType.bytes);
      value = r.bytes();
    } else r.skip(wireType);
  }
  return value;
}

const scalarWireType: Record<string, number> = {
  string: WireType.bytes,
  bytes: WireType.bytes,
  bool: WireType.varint,
  int32: WireType.varint,
  int64: WireType.varint,
  double: WireType.fixed64,
};

function scalar(r: WireReader, type: string): Json {
  switch (type) {
    case 'string':
      return r.string();
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
    case 'bool':
      return r.bool();
    case 'int32':
      return r.int32();
    case 'int64':
      return r.int64();
    default:
      return r.double();
  }
}

/** One value of a field: undefined for a zero Time, which JSON leaves out. */
function value(r: WireReader, field: number, wireType: number, type: string): Json | undefined {
  const wanted = scalarWireType[type];
  if (wanted !== undefined) {
    r.expect(field, wireType, wanted);
    return scalar(r, type);
  }
  r.expect(field, wireType, WireType.bytes);
  const m = r.message();
  switch (type) {
    case 'time':
      return timestamp(m, false);
    case 'microTime':
      return timestamp(m, true);
    case 'quantity':
      return singleString(m);
    case 'intOrString':
      return intOrString(m);
    case 'fieldsV1':
      return fieldsV1(m);
    default:
      return decodeMessage(m, type as MessageName);
  }
}

function mapEntry(r: WireReader, type: string): [string, Json | undefined] {
  let key = '';
  let entry: Json | undefined;
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      r.expect(field, wireType, WireType.bytes);
      key = r.string();
    } else if (field === 2) entry = value(r, field, wireType, type);
    else r.skip(wireType);
  }
  // An entry without a value holds the type's zero value.
  return [key, entry ?? (type === 'bytes' || type === 'string' || type === 'quantity' ? '' : null)];
}

const isZero = (v: Json | undefined): boolean => v === undefined || v === '' || v === 0 || v === false;

/** Repeated numbers may come packed (one length-delimited run) or one per tag. */
function packed(r: WireReader, type: string): Json[] {
  const run = r.message();
  const out: Json[] = [];
  while (!run.done) out.push(scalar(run, type));
  return out;
}

export function decodeMessage(r: WireReader, name: MessageName): { [key: string]: Json } {
  const table = messages[name] as Record<number, FieldDescriptor> | undefined;
  if (!table) throw new ProtobufError(`no field table for message ${name}`);
  const out: { [key: string]: Json } = {};
  while (!r.done) {
    const { field, wireType } = r.tag();
    const d = table[field];
    if (!d) {
      r.skip(wireType);
      continue;
    }
    if (d.shape === 'map') {
      r.expect(field, wireType, WireType.bytes);
      const [k, v] = mapEntry(r.message(), d.type);
      const target = (out[d.name] ??= {}) as { [key: string]: Json };
      target[k] = v ?? null;
    } else if (d.shape === 'list') {
      const items = (out[d.name] ??= []) as Json[];
      const numeric = d.type === 'int32' || d.type === 'int64' || d.type === 'bool' || d.type === 'double';
      if (numeric && wireType === WireType.bytes) items.push(...packed(r, d.type));
      else {
        const v = value(r, field, wireType, d.type);
        if (v !== undefined) items.push(v);
      }
    } else {
      const v = value(r, field, wireType, d.type);
      if (d.pointer ? v !== undefined : !isZero(v)) out[d.name] = v!;
      else delete out[d.name];
    }
  }
  return out;
}

/**
 * Decodes a protobuf request body into the JSON object it stands for, with apiVersion and kind
 * from the envelope. `messageOf` names the message for the envelope's kind, or undefined when
 * this body cannot be read (the caller's 415).
 */
export function decodeKubernetesProtobuf(body: Buffer, messageOf: (apiVersion: string, kind: string) => MessageName | undefined): Record<string, unknown> {
  const envelope = readEnvelope(body);
  const name = messageOf(envelope.apiVersion, envelope.kind);
  if (!name) throw new ProtobufError(`no protobuf decoding for ${envelope.apiVersion ? `${envelope.apiVersion}, ` : ''}Kind=${envelope.kind}`);
  const object = decodeMessage(envelope.raw, name);
  return { apiVersion: envelope.apiVersion, kind: envelope.kind, ...object };
}
