import { ConfigError } from './config-error';

/**
 * Named runtime handlers (containerd `[plugins.cri.containerd.runtimes.<name>]`
 * with `default_runtime_name`; CRI-O `[crio.runtime.runtimes.<name>]`): a
 * RuntimeClass's `handler` picks one per pod. Kept apart from the core keys
 * in `config.ts`; `SCHEMA` includes them. Both need a restart.
 */
export interface RuntimeHandlerConfig {
  /** The CLI flavour (`runc` or `crun`); empty: from the binary's name. */
  type: '' | 'runc' | 'crun';
  /** Absolute path of the runtime binary; empty: the `runtime.*` keys decide (`runtime.path`, or the probe of `runtime.name`). */
  path: string;
  /** Absolute state root (`--root`); empty: `runtime.root` or `<runDir>/runc` for a handler without `path`, else `<runDir>/runtimes/<name>`. */
  root: string;
}

export interface RuntimesConfig {
  runtimes: Record<string, RuntimeHandlerConfig>;
  defaultRuntime: string;
}

/** Today's single runtime as the one handler: `runc`, from the `runtime.*` keys. */
export const DEFAULT_RUNTIMES: Record<string, RuntimeHandlerConfig> = { runc: { type: '', path: '', root: '' } };

/** Checked against `Key` where config.ts spreads them into `SCHEMA` (no import back: no cycle). */
export const RUNTIME_KEYS = [
  {
    path: 'runtimes',
    kind: 'map<string,runtime>',
    def: DEFAULT_RUNTIMES,
    help: 'runtime handlers a RuntimeClass names: name (DNS label) -> {type: runc|crun, path: absolute binary (empty: the runtime.* keys), root: absolute state dir}',
  },
  {
    path: 'defaultRuntime',
    kind: 'string',
    flag: 'default-runtime',
    def: 'runc',
    help: 'runtime handler of pods that name none (must be one of runtimes)',
  },
] as const;

/** RFC 1123 label, as a RuntimeClass `handler` must be (at most 63 characters). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const FIELDS = new Set(['type', 'path', 'root']);

function absolute(v: unknown): boolean {
  return v === '' || (typeof v === 'string' && v.startsWith('/') && !v.includes('\0') && !v.split('/').includes('..'));
}

/** Checks and normalises the `runtimes` map (every field present); `bad` throws with the key named. */
export function coerceRuntimes(value: unknown, bad: (why: string) => never): Record<string, RuntimeHandlerConfig> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('must be a map of handler name to {type, path, root}');
  const out: Record<string, RuntimeHandlerConfig> = {};
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    const shown = JSON.stringify(name.slice(0, 80));
    if (!DNS_LABEL.test(name)) bad(`handler name ${shown} must be a DNS label (lower-case letters, digits and '-', at most 63)`);
    const h = raw ?? {};
    if (typeof h !== 'object' || Array.isArray(h)) bad(`handler ${shown} must be a map with type, path, root`);
    const entry = h as Record<string, unknown>;
    for (const f of Object.keys(entry)) if (!FIELDS.has(f)) bad(`handler ${shown}: unknown field "${f.slice(0, 80)}" (type, path, root)`);
    const type = entry.type ?? '';
    if (type !== '' && type !== 'runc' && type !== 'crun') bad(`handler ${shown}: type must be runc or crun, got ${JSON.stringify(type)}`);
    const path = entry.path ?? '';
    const root = entry.root ?? '';
    if (!absolute(path)) bad(`handler ${shown}: path must be an absolute path, got ${JSON.stringify(path)}`);
    if (!absolute(root)) bad(`handler ${shown}: root must be an absolute path, got ${JSON.stringify(root)}`);
    out[name] = { type: type as RuntimeHandlerConfig['type'], path: path as string, root: root as string };
  }
  if (Object.keys(out).length === 0) bad('must name at least one handler');
  return out;
}

/** Cross-key check of the effective configuration: the default handler exists. */
export function checkDefaultRuntime(c: RuntimesConfig, source: string): void {
  if (!Object.hasOwn(c.runtimes, c.defaultRuntime)) {
    throw new ConfigError(
      `invalid configuration: ${source}: key "defaultRuntime": ${JSON.stringify(c.defaultRuntime)} is not one of runtimes (${Object.keys(c.runtimes).join(', ')})`,
    );
  }
}

/** The handlers in the containerizer's terms: the default first. */
export function runtimeHandlerList(c: RuntimesConfig): Array<{ name: string } & RuntimeHandlerConfig> {
  const names = [c.defaultRuntime, ...Object.keys(c.runtimes).filter((n) => n !== c.defaultRuntime)];
  return names.map((name) => ({ name, ...c.runtimes[name]! }));
}
