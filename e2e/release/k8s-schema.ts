import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A kubectl-free schema check of Kubernetes objects against the OpenAPI model types that
 * `@kubernetes/client-node` generates: every field must be one its model declares
 * (`attributeTypeMap`, checked recursively with its type), every property its TypeScript
 * declaration marks required must be present, and the library's own ObjectSerializer must
 * read the object and write back exactly the same thing (it silently drops what it does
 * not know, which is how a misspelled field would otherwise slip through).
 *
 * NOTE: client-node 2.x's package index loads undici, which needs Node >= 22; only the
 * generated models are deep-imported here (as e2e/streaming/k8s-client.ts does).
 */
interface Attribute {
  name: string;
  baseName: string;
  type: string;
}
interface ModelClass {
  getAttributeTypeMap(): Attribute[];
}
interface Serializer {
  deserialize(data: unknown, type: string, format: string): unknown;
  serialize(data: unknown, type: string, format: string): unknown;
}

const MODELS_DIR = join(__dirname, '..', '..', 'node_modules', '@kubernetes', 'client-node', 'dist', 'gen', 'models');

export class K8sSchema {
  readonly #required = new Map<string, Set<string>>();

  private constructor(
    private readonly models: Record<string, unknown>,
    private readonly serializer: Serializer,
  ) {}

  static async load(): Promise<K8sSchema> {
    const [models, { ObjectSerializer }] = await Promise.all([
      import('@kubernetes/client-node/dist/gen/models/all.js') as Promise<Record<string, unknown>>,
      import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js'),
    ]);
    return new K8sSchema(models, ObjectSerializer);
  }

  /** The model for `apiVersion` + `kind` (`apps/v1` DaemonSet → V1DaemonSet), if client-node has one. */
  typeOf(apiVersion: string, kind: string): string | undefined {
    const version = apiVersion.split('/').pop() ?? '';
    const name = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
    return this.model(name) ? name : undefined;
  }

  /** Problems found in `obj` as type `type`, each `path: message`; empty when it conforms. */
  validate(obj: unknown, type: string): string[] {
    const errors: string[] = [];
    this.check(obj, type, '', errors);
    const back = JSON.parse(JSON.stringify(this.serializer.serialize(this.serializer.deserialize(obj, type, ''), type, ''))) as unknown;
    if (JSON.stringify(sortKeys(back)) !== JSON.stringify(sortKeys(obj))) errors.push(`${type}: ObjectSerializer does not round-trip the object unchanged`);
    return errors;
  }

  private model(name: string): ModelClass | undefined {
    const m = this.models[name] as Partial<ModelClass> | undefined;
    return typeof m?.getAttributeTypeMap === 'function' ? (m as ModelClass) : undefined;
  }

  /** Required properties (TypeScript names) from the model's declaration: no `?`. */
  private required(name: string): Set<string> {
    let req = this.#required.get(name);
    if (!req) {
      const dts = readFileSync(join(MODELS_DIR, `${name}.d.ts`), 'utf8');
      req = new Set([...dts.matchAll(/^\s+'([^']+)':/gm)].map((m) => m[1]!));
      this.#required.set(name, req);
    }
    return req;
  }

  private check(value: unknown, type: string, path: string, errors: string[]): void {
    const at = path || '.';
    const fail = (what: string): void => void errors.push(`${at}: expected ${what} (${type}), got ${JSON.stringify(value)}`);
    if (type === 'any' || type === 'object') return;
    if (type === 'string' || type === 'String') return void (typeof value === 'string' || fail('a string'));
    if (type === 'number') return void (typeof value === 'number' || fail('a number'));
    if (type === 'boolean') return void (typeof value === 'boolean' || fail('a boolean'));
    if (type === 'IntOrString') return void (typeof value === 'number' || typeof value === 'string' || fail('an int or a string'));
    if (type === 'Date') return void ((typeof value === 'string' && !Number.isNaN(Date.parse(value))) || fail('a date'));
    const arr = /^Array<(.+)>$/.exec(type);
    if (arr) {
      if (!Array.isArray(value)) return fail('a list');
      value.forEach((v, i) => this.check(v, arr[1]!, `${path}[${i}]`, errors));
      return;
    }
    const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
    if (map) {
      if (!isObject(value)) return fail('a map');
      for (const [k, v] of Object.entries(value)) this.check(v, map[1]!, `${path}[${JSON.stringify(k)}]`, errors);
      return;
    }
    const model = this.model(type);
    if (!model) return void errors.push(`${at}: no model ${type} in @kubernetes/client-node`);
    if (!isObject(value)) return fail('an object');
    const attrs = model.getAttributeTypeMap();
    const byJson = new Map(attrs.map((a) => [a.baseName, a]));
    for (const [k, v] of Object.entries(value)) {
      const a = byJson.get(k);
      if (!a) errors.push(`${path}.${k}: unknown field (${type} has ${attrs.map((x) => x.baseName).join(', ')})`);
      else this.check(v, a.type, `${path}.${k}`, errors);
    }
    for (const name of this.required(type)) {
      const a = attrs.find((x) => x.name === name);
      if (a && !(a.baseName in value)) errors.push(`${path}.${a.baseName}: required by ${type}`);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
}
