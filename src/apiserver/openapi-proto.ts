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

function unexpected(where: string, key: string): never {
  throw new Error(`openapi protobuf: ${where} has no encoding for "${key}"`);
}

function schema(w: WireWriter, s: Json): void {
  for (const [key, value] of entries(s)) {
    switch (key) {
      case '$ref':
        w.string(1, value as string);
        break;
      case 'format':
        w.string(2, value as string);
        break;
      case 'description':
        w.string(4, value as string);
        break;
      case 'maximum':
        w.double(7, value as number);
        break;
      case 'minimum':
        w.double(9, value as number);
        break;
      case 'maxLength':
        w.uint(11, value as number);
        break;
      case 'required':
        for (const r of value as string[]) w.string(19, r);
        break;
      case 'enum':
        for (const e of value as unknown[]) w.message(20, (a) => a.string(2, JSON.stringify(e)));
        break;
      case 'additionalProperties':
        w.message(21, (ap) => (typeof value === 'boolean' ? ap.bool(2, value) : ap.message(1, (x) => schema(x, value as Json))));
        break;
      case 'type':
        w.message(22, (t) => t.string(1, value as string));
        break;
      case 'items':
        w.message(23, (i) => i.message(1, (x) => schema(x, value as Json)));
        break;
      case 'properties':
        w.message(25, (p) => {
          for (const [name, sub] of entries(value)) p.message(1, (n) => n.string(1, name).message(2, (x) => schema(x, sub as Json)));
        });
        break;
      default:
        if (!isExtension(key)) unexpected('schema', key);
        extension(w, 31, key, value);
    }
  }
}

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

function operation(w: WireWriter, op: Json): void {
  for (const [key, value] of entries(op)) {
    switch (key) {
      case 'tags':
        for (const t of value as string[]) w.string(1, t);
        break;
      case 'description':
        w.string(3, value as string);
        break;
      case 'operationId':
        w.string(5, value as string);
        break;
      case 'produces':
        for (const t of value as string[]) w.string(6, t);
        break;
      case 'consumes':
        for (const t of value as string[]) w.string(7, t);
        break;
      case 'parameters':
        for (const p of value as Json[]) w.message(8, (x) => parameter(x, p));
        break;
      case 'responses':
        // Responses { NamedResponseValue response_code = 1 { name; ResponseValue { Response response = 1 } } }
        w.message(9, (rs) => {
          for (const [code, r] of entries(value)) {
            const resp = r as Json;
            rs.message(1, (n) =>
              n.string(1, code).message(2, (rv) =>
                rv.message(1, (x) => {
                  x.string(1, resp.description as string);
                  if (resp.schema) x.message(2, (si) => si.message(1, (s) => schema(s, resp.schema as Json)));
                }),
              ),
            );
          }
        });
        break;
      case 'schemes':
        for (const t of value as string[]) w.string(10, t);
        break;
      default:
        if (!isExtension(key)) unexpected('operation', key);
        extension(w, 13, key, value);
    }
  }
}

const methodFields: Record<string, number> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

function pathItem(w: WireWriter, item: Json): void {
  for (const [key, value] of entries(item)) {
    const field = methodFields[key];
    if (field !== undefined) w.message(field, (x) => operation(x, value as Json));
    else if (key === 'parameters') for (const p of value as Json[]) w.message(9, (x) => parameter(x, p));
    else if (isExtension(key)) extension(w, 10, key, value);
    else unexpected('path item', key);
  }
}

export function encodeOpenApiV2(doc: Json): Buffer {
  const w = new WireWriter();
  for (const [key, value] of entries(doc)) {
    switch (key) {
      case 'swagger':
        w.string(1, value as string);
        break;
      case 'info': {
        const i = value as Json;
        w.message(2, (x) => x.string(1, i.title as string).string(2, i.version as string));
        break;
      }
      case 'paths':
        w.message(8, (p) => {
          for (const [path, item] of entries(value)) p.message(2, (n) => n.string(1, path).message(2, (x) => pathItem(x, item as Json)));
        });
        break;
      case 'definitions':
        w.message(9, (d) => {
          for (const [name, s] of entries(value)) d.message(1, (n) => n.string(1, name).message(2, (x) => schema(x, s as Json)));
        });
        break;
      default:
        unexpected('document', key);
    }
  }
  return w.finish();
}
