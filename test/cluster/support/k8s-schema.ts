import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';

/**
 * Checks manifests against the Kubernetes OpenAPI shapes as @kubernetes/client-node generates
 * them: every field must exist on its model (attributeTypeMap), have the model's type, and every
 * field the model declares required (no `?` in its .d.ts) must be present. Custom resources are
 * checked against their CRD's openAPIV3Schema (structural subset).
 */

type AttributeMap = Array<{ name: string; baseName: string; type: string; format: string }>;
type Model = { getAttributeTypeMap(): AttributeMap };
const models = k8s as unknown as Record<string, Model | undefined>;

const modelsDir = join(import.meta.dirname, '..', '..', '..', 'node_modules', '@kubernetes', 'client-node', 'dist', 'gen', 'models');
const requiredCache = new Map<string, Set<string>>();

function requiredFields(model: string): Set<string> {
  let required = requiredCache.get(model);
  if (!required) {
    required = new Set();
    const file = join(modelsDir, `${model}.d.ts`);
    if (existsSync(file)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/^\s+'([^']+)': /gm)) required.add(m[1]!);
    }
    requiredCache.set(model, required);
  }
  return required;
}

/** `apps/v1` + `Deployment` → `V1Deployment`; `v1` + `Namespace` → `V1Namespace`. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').at(-1)!;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

export function hasModel(apiVersion: string, kind: string): boolean {
  return typeof models[modelName(apiVersion, kind)]?.getAttributeTypeMap === 'function';
}

export function validateModel(value: unknown, type: string, path: string, errors: string[], format = ''): void {
  if (value === null || value === undefined) return;
  const arrayOf = /^Array<(.+)>$/.exec(type);
  const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (arrayOf) {
    if (!Array.isArray(value)) return void errors.push(`${path}: expected an array`);
    value.forEach((item, i) => validateModel(item, arrayOf[1]!, `${path}[${i}]`, errors));
    return;
  }
  if (mapOf) {
    if (typeof value !== 'object' || Array.isArray(value)) return void errors.push(`${path}: expected a map`);
    for (const [k, v] of Object.entries(value)) validateModel(v, mapOf[1]!, `${path}.${k}`, errors);
    return;
  }
  switch (type) {
    case 'string':
      if (typeof value !== 'string') errors.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number' || (format.startsWith('int') && !Number.isInteger(value))) errors.push(`${path}: expected ${format || 'a number'}, got ${JSON.stringify(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) errors.push(`${path}: expected an int or a string`);
      return;
    case 'Date':
    case 'V1MicroTime':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) errors.push(`${path}: expected a timestamp`);
      return;
    case 'any':
    case 'object':
      return;
  }
  const model = models[type];
  if (!model?.getAttributeTypeMap) return void errors.push(`${path}: unknown type ${type}`);
  if (typeof value !== 'object' || Array.isArray(value)) return void errors.push(`${path}: expected an object (${type})`);
  const attributes = model.getAttributeTypeMap();
  const byName = new Map(attributes.map((a) => [a.baseName, a]));
  for (const [key, child] of Object.entries(value)) {
    const attribute = byName.get(key);
    if (!attribute) {
      errors.push(`${path}.${key}: unknown field of ${type}`);
      continue;
    }
    validateModel(child, attribute.type, `${path}.${key}`, errors, attribute.format);
  }
  for (const name of requiredFields(type)) {
    const attribute = attributes.find((a) => a.name === name);
    if (attribute && (value as Record<string, unknown>)[attribute.baseName] === undefined) errors.push(`${path}.${attribute.baseName}: required by ${type}`);
  }
}

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  additionalProperties?: JsonSchema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
}

/** The structural-schema subset the API server prunes and validates with. */
export function validateSchema(value: unknown, schema: JsonSchema, path: string, errors: string[]): void {
  if (value === undefined || value === null) return;
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !Number.isInteger(value)) errors.push(`${path}: expected an int or a string`);
    return;
  }
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return void errors.push(`${path}: expected an object`);
      for (const [key, child] of Object.entries(value)) {
        const sub = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
        if (sub) validateSchema(child, sub, `${path}.${key}`, errors);
        else if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties !== true && !(path.endsWith('.metadata') || path === '')) {
          errors.push(`${path}.${key}: unknown field (the API server would prune it)`);
        }
      }
      for (const key of schema.required ?? []) if ((value as Record<string, unknown>)[key] === undefined) errors.push(`${path}.${key}: required`);
      return;
    }
    case 'array':
      if (!Array.isArray(value)) return void errors.push(`${path}: expected an array`);
      if (schema.items) value.forEach((item, i) => validateSchema(item, schema.items!, `${path}[${i}]`, errors));
      return;
    case 'string':
      if (typeof value !== 'string') errors.push(`${path}: expected a string`);
      return;
    case 'integer':
      if (!Number.isInteger(value)) errors.push(`${path}: expected an integer`);
      return;
    case 'number':
      if (typeof value !== 'number') errors.push(`${path}: expected a number`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${path}: expected a boolean`);
      return;
  }
}
