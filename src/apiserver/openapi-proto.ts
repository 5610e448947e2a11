import { WireWriter } from '../protobuf/wire-writer.ts';

/**
 * The Swagger 2.0 document as gnostic's `openapi.v2.Document` protobuf message
 * (github.com/google/gnostic, openapiv2/OpenAPIv2.proto): what kubectl asks for with
 * `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`. Only the parts our
 * documents use are encoded; anything else is a programming error and throws. Vendor
 * extensions travel as YAML text (JSON is YAML), as gnostic stores them.
 */
type Json = Record<string, unknown>;

export const OpenApiV2ProtoType = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';
export const OpenApiV2ProtoResponseType = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

const entries = (v: unknown): Array<[string, unknown]> => Object.entries((v ?? {}) as Json);
const isExtension = (key: string): boolean => key.startsWith('x-');

/** NamedAny { name = 1; Any value = 2 { string yaml = 2 } } */
function extension(w: WireWriter, field: number, name: string, value: unknown): void {
  w.message(field, (n) => n.string(1, name).message(2, (a) => a.string(2, JSON.stringify(value))));
}

/** How one key of a JSON object is written; an object's keys are written in the order they come. */
type FieldWriter = (w: WireWriter, value: unknown) => void;

interface MessageSpec {
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldWriter>>;
  /** Field number of the message's vendor extensions (`x-…` keys); none when absent. */
  readonly extensions?: number;
}

function encode(w: WireWriter, spec: MessageSpec, object: unknown): void {
  for (const [key, value] of entries(object)) {
    const write = Object.hasOwn(spec.fields, key) ? spec.fields[key] : undefined;
    if (write) write(w, value);
    else if (spec.extensions !== undefined && isExtension(key)) extension(w, spec.extensions, key, value);
    else throw new Error(`openapi protobuf: ${spec.name} has no encoding for "${key}"`);
  }
}

const str = (field: number): FieldWriter => (w, v) => void w.string(field, v as string);
const strs = (field: number): FieldWriter => (w, v) => {
  for (const s of v as string[]) w.string(field, s);
};
const double = (field: number): FieldWriter => (w, v) => void w.double(field, v as number);
const uint = (field: number): FieldWriter => (w, v) => void w.uint(field, v as number);
/** A repeated message field, one per array item. */
const each = (field: number, write: FieldWriter): FieldWriter => (w, v) => {
  for (const item of v as unknown[]) w.message(field, (x) => write(x, item));
};
/** A map as gnostic's Named* messages: one `entry` per key, each { string name = 1; value = 2 }. */
const named = (field: number, entry: number, write: FieldWriter): FieldWriter => (w, v) =>
  void w.message(field, (m) => {
    for (const [name, item] of entries(v)) m.message(entry, (n) => n.string(1, name).message(2, (x) => write(x, item)));
  });
/** A singular message field. */
const sub = (field: number, write: FieldWriter): FieldWriter => (w, v) => void w.message(field, (x) => write(x, v));

const schema: FieldWriter = (w, v) => encode(w, schemaSpec, v);
const schemaSpec: MessageSpec = {
  name: 'schema',
  extensions: 31,
  fields: {
    $ref: str(1),
    format: str(2),
    description: str(4),
    maximum: double(7),
    minimum: double(9),
    maxLength: uint(11),
    required: strs(19),
    enum: (w, v) => {
      for (const e of v as unknown[]) w.message(20, (a) => a.string(2, JSON.stringify(e)));
    },
    additionalProperties: (w, v) => void w.message(21, (ap) => (typeof v === 'boolean' ? ap.bool(2, v) : ap.message(1, (x) => schema(x, v)))),
    type: (w, v) => void w.message(22, (t) => t.string(1, v as string)),
    items: sub(23, sub(1, schema)),
    properties: named(25, 1, schema),
  },
};

function parameter(w: WireWriter, p: Json): void {
  // ParametersItem { Parameter parameter = 1 { BodyParameter = 1 | NonBodyParameter = 2 } }
  w.message(1, (param) => {
    if (p.in === 'body') {
      param.message(1, (b) => {
        b.string(2, p.name as string).string(3, 'body').bool(4, p.required === true);
        b.message(5, (x) => schema(x, p.schema as Json));
      });
      return;
    }
    // NonBodyParameter { QueryParameterSubSchema = 3 | PathParameterSubSchema = 4 }
    const query = p.in === 'query';
    param.message(2, (nb) =>
      nb.message(query ? 3 : 4, (x) => {
        x.bool(1, p.required === true).string(2, p.in as string);
        if (p.description) x.string(3, p.description as string);
        x.string(4, p.name as string).string(query ? 6 : 5, p.type as string);
        if (query && p.uniqueItems) x.bool(20, true);
        if (!query && p.uniqueItems) x.bool(19, true);
      }),
    );
  });
}

/** ResponseValue { Response response = 1 { string description = 1; SchemaItem schema = 2 { Schema = 1 } } } */
const response: FieldWriter = (w, v) => {
  const r = v as Json;
  w.message(1, (x) => {
    x.string(1, r.description as string);
    if (r.schema) x.message(2, (si) => si.message(1, (s) => schema(s, r.schema)));
  });
};

const parameterItem: FieldWriter = (w, v) => parameter(w, v as Json);

const operationSpec: MessageSpec = {
  name: 'operation',
  extensions: 13,
  fields: {
    tags: strs(1),
    description: str(3),
    operationId: str(5),
    produces: strs(6),
    consumes: strs(7),
    parameters: each(8, parameterItem),
    responses: named(9, 1, response),
    schemes: strs(10),
  },
};

const operation: FieldWriter = (w, v) => encode(w, operationSpec, v);
const methodFields = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };
const pathItemSpec: MessageSpec = {
  name: 'path item',
  extensions: 10,
  fields: {
    ...Object.fromEntries(Object.entries(methodFields).map(([method, field]) => [method, sub(field, operation)])),
    parameters: each(9, parameterItem),
  },
};

const documentSpec: MessageSpec = {
  name: 'document',
  fields: {
    swagger: str(1),
    info: (w, v) => {
      const i = v as Json;
      w.message(2, (x) => x.string(1, i.title as string).string(2, i.version as string));
    },
    paths: named(8, 2, (w, v) => encode(w, pathItemSpec, v)),
    definitions: named(9, 1, schema),
  },
};

export function encodeOpenApiV2(doc: Json): Buffer {
  const w = new WireWriter();
  encode(w, documentSpec, doc);
  return w.finish();
}
