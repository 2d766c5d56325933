/**
 * Validates JSON bodies against Argo CD's own swagger definitions (test/fixtures/argocd-swagger.json),
 * made strict for testing: every object schema gets `additionalProperties: false`, so a field
 * Argo CD does not have fails the test. Two adjustments keep it faithful to the wire:
 * `allOf` is merged (ResourceNode), and int64 fields declared as strings also accept JSON
 * numbers (what Go's encoding/json really sends, argocd-api.md §1.3), and the list's `items`
 * may be null (a Go nil slice: `forwarder_overwrite.go` writes `"items":null` for no apps).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';

type Schema = Record<string, unknown>;

const SWAGGER = fileURLToPath(new URL('../../../fixtures/argocd-swagger.json', import.meta.url));
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export const STREAM_ENVELOPE = 'streamApplicationsResult';

function strictify(node: unknown, definitions: Record<string, Schema>): unknown {
  if (Array.isArray(node)) return node.map((n) => strictify(n, definitions));
  if (node === null || typeof node !== 'object') return node;
  const schema: Schema = { ...(node as Schema) };
  if (Array.isArray(schema.allOf)) {
    const merged: Schema = {};
    for (const part of schema.allOf as Schema[]) {
      const resolved =
        typeof part.$ref === 'string' ? definitions[part.$ref.replace('#/definitions/', '')] : part;
      Object.assign(merged, (resolved?.properties as Schema | undefined) ?? {});
    }
    schema.properties = { ...merged, ...((schema.properties as Schema | undefined) ?? {}) };
    delete schema.allOf;
  }
  if (schema.type === 'string' && (schema.format === 'int64' || schema.format === 'uint64')) {
    schema.type = ['string', 'integer'];
  }
  for (const key of ['properties', 'definitions']) {
    const children = schema[key] as Schema | undefined;
    if (children) {
      schema[key] = Object.fromEntries(
        Object.entries(children).map(([k, v]) => [k, strictify(v, definitions)]),
      );
    }
  }
  for (const key of ['items', 'additionalProperties']) {
    if (schema[key] && typeof schema[key] === 'object')
      schema[key] = strictify(schema[key], definitions);
  }
  if (schema.properties && schema.additionalProperties === undefined) {
    schema.additionalProperties = false;
  }
  return schema;
}

export class SwaggerValidator {
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    const swagger = JSON.parse(readFileSync(SWAGGER, 'utf8')) as {
      definitions: Record<string, Schema>;
      paths: Record<string, Record<string, { responses: Record<string, { schema: Schema }> }>>;
    };
    const raw = swagger.definitions;
    const definitions = Object.fromEntries(
      Object.entries(raw).map(([name, def]) => [name, strictify(def, raw)]),
    ) as Record<string, Schema>;
    const list = definitions.v1alpha1ApplicationList?.properties as Record<string, Schema>;
    if (list.items) list.items = { anyOf: [list.items, { type: 'null' }] };
    const stream = swagger.paths['/api/v1/stream/applications']?.get?.responses['200']?.schema;
    if (!stream) throw new Error('swagger has no stream schema for /api/v1/stream/applications');
    definitions[STREAM_ENVELOPE] = strictify(stream, raw) as Schema;
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    for (const format of ['int32', 'int64', 'uint64', 'byte', 'double', 'float']) {
      this.ajv.addFormat(format, true);
    }
    this.ajv.addFormat('date-time', RFC3339);
    this.ajv.addSchema({ $id: 'argocd', definitions });
  }

  /** Throws with every violation when `value` does not match `#/definitions/<definition>`. */
  assert(definition: string, value: unknown): void {
    let validate = this.cache.get(definition);
    if (!validate) {
      validate = this.ajv.getSchema(`argocd#/definitions/${definition}`);
      if (!validate) throw new Error(`no swagger definition ${definition}`);
      this.cache.set(definition, validate);
    }
    if (!validate(value)) {
      const problems = (validate.errors ?? [])
        .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
        .join('\n');
      throw new Error(`response does not match ${definition}:\n${problems}`);
    }
  }
}
