import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { METRICS_KEYS, type MetricsConfig } from './config-metrics';
import { REGISTRY_KEYS, type RegistryFilesConfig } from './config-registry';
import { ConfigError } from './config-error';
import { checkDefaultRuntime, coerceRuntimes, RUNTIME_KEYS, type RuntimesConfig } from './config-runtimes';

/**
 * Daemon configuration: embedded defaults, then the YAML file
 * (default `/etc/mesos-cri/config.yaml`, optional), then the drop-ins in
 * `config.d/` beside it (`*.yaml`/`*.yml`, in name order), then command-line flags.
 * Every key is declared once in `SCHEMA` with its type, default, flag and help;
 * `--help` and the README's reference are generated from it.
 */
export interface Config extends RuntimesConfig {
  socket: string;
  workDir: string;
  runDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  runtime: { name: 'auto' | 'runc' | 'crun'; path: string; root: string };
  conmon: string;
  infra: string;
  execHelper: string;
  cgroup: { driver: 'cgroupfs' | 'systemd'; parent: string; systemdSocket: string };
  restrictOomScoreAdj: boolean;
  cni: { confDir: string; binDirs: string[]; cacheDir: string };
  registry: { mirrors: Record<string, string[]>; insecure: string[] } & RegistryFilesConfig;
  images: { backend: 'auto' | 'overlay' | 'aufs' | 'bind' | 'copy'; pullProgressTimeout: number; maxConcurrentDownloads: number; maxLayerSize: number; pinned: string[] };
  streaming: { address: string; port: number; tlsCert: string; tlsKey: string; idleTimeout: number };
  /** Issue 17's keys: `config-metrics.ts`. */
  metrics: MetricsConfig;
}

type Kind = 'string' | 'number' | 'boolean' | 'string[]' | 'map<string,string[]>' | 'map<string,runtime>' | { enum: readonly string[] };

export interface Key {
  readonly path: string;
  readonly kind: Kind;
  readonly flag?: string;
  readonly help: string;
  readonly def: unknown;
}

export const SCHEMA: readonly Key[] = [
  { path: 'socket', kind: 'string', flag: 'socket', def: '/run/mesos-cri/mesos-cri.sock', help: 'unix socket the CRI gRPC server listens on (mode 0660)' },
  { path: 'workDir', kind: 'string', flag: 'work-dir', def: '/var/lib/mesos-cri', help: 'persistent state: checkpoints, image store, rootfses' },
  { path: 'runDir', kind: 'string', flag: 'run-dir', def: '/run/mesos-cri', help: 'runtime state: pid files, conmon sockets, netns pins' },
  { path: 'logLevel', kind: { enum: ['debug', 'info', 'warn', 'error'] }, flag: 'log-level', def: 'info', help: 'daemon log level (JSON lines on stderr)' },
  { path: 'runtime.name', kind: { enum: ['auto', 'runc', 'crun'] }, flag: 'runtime', def: 'auto', help: 'OCI runtime; auto probes crun, then runc' },
  { path: 'runtime.path', kind: 'string', flag: 'runtime-path', def: '', help: 'OCI runtime binary (empty: looked up in PATH)' },
  { path: 'runtime.root', kind: 'string', flag: 'runtime-root', def: '', help: 'OCI runtime state root (empty: <runDir>/<runtime>)' },
  { path: 'conmon', kind: 'string', flag: 'conmon', def: '/usr/bin/conmon', help: 'per-container monitor binary' },
  { path: 'infra', kind: 'string', flag: 'infra', def: '/usr/bin/catatonit', help: 'static infra binary run as each sandbox\'s init (no pause image)' },
  { path: 'execHelper', kind: 'string', flag: 'exec-helper', def: '', help: 'native exec helper (empty: native/bin/mesos-cri-exec of this install)' },
  { path: 'cgroup.driver', kind: { enum: ['cgroupfs', 'systemd'] }, flag: 'cgroup-driver', def: 'cgroupfs', help: 'cgroup driver (kubelet\'s cgroupDriver must match): cgroupfs, or systemd (pods as slices, containers as scopes)' },
  { path: 'cgroup.parent', kind: 'string', flag: 'cgroup-parent', def: '/mesos-cri', help: 'cgroup parent of pods that do not name one (systemd driver: a slice; the default becomes mesos_cri.slice)' },
  { path: 'cgroup.systemdSocket', kind: 'string', flag: 'systemd-socket', def: '/run/systemd/private', help: 'systemd driver: systemd\'s private socket, or the system bus socket (/run/dbus/system_bus_socket)' },
  { path: 'restrictOomScoreAdj', kind: 'boolean', flag: 'restrict-oom-score-adj', def: true, help: 'clamp oom_score_adj to the daemon\'s own where lowering is refused' },
  { path: 'cni.confDir', kind: 'string', flag: 'cni-conf-dir', def: '/etc/cni/net.d', help: 'CNI network configs (.conf, .conflist, .json)' },
  { path: 'cni.binDirs', kind: 'string[]', flag: 'cni-bin-dir', def: ['/opt/cni/bin', '/usr/lib/cni'], help: 'CNI plugin search path (flag may repeat)' },
  { path: 'cni.cacheDir', kind: 'string', flag: 'cni-cache-dir', def: '', help: 'our CNI results and netns records (empty: <workDir>/cni)' },
  { path: 'registry.mirrors', kind: 'map<string,string[]>', flag: 'registry-mirror', def: {}, help: 'per-registry mirrors, e.g. registry.k8s.io=http://127.0.0.1:5000 (flag may repeat)' },
  { path: 'registry.insecure', kind: 'string[]', flag: 'insecure-registry', def: [], help: 'registries reached over plain HTTP (loopback always may)' },
  { path: 'images.backend', kind: { enum: ['auto', 'overlay', 'aufs', 'bind', 'copy'] }, flag: 'image-backend', def: 'auto', help: 'provisioner backend; auto tries overlay, aufs, copy' },
  { path: 'images.pullProgressTimeout', kind: 'number', flag: 'pull-progress-timeout', def: 60, help: 'seconds without pull progress before the pull is cancelled (0: never)' },
  { path: 'images.maxConcurrentDownloads', kind: 'number', flag: 'max-concurrent-downloads', def: 3, help: 'layers downloaded in parallel per pull' },
  { path: 'images.maxLayerSize', kind: 'number', flag: 'max-layer-size', def: 0, help: 'largest uncompressed layer accepted, in bytes (0: 64 GiB); a larger one fails the pull' },
  { path: 'streaming.address', kind: 'string', flag: 'stream-address', def: '127.0.0.1', help: 'streaming server (exec/attach/port-forward) address' },
  { path: 'streaming.port', kind: 'number', flag: 'stream-port', def: 0, help: 'streaming server port (0: random)' },
  { path: 'streaming.tlsCert', kind: 'string', flag: 'stream-tls-cert', def: '', help: 'PEM certificate for streaming TLS (empty: plain HTTP)' },
  { path: 'streaming.tlsKey', kind: 'string', flag: 'stream-tls-key', def: '', help: 'PEM key for streaming TLS' },
  { path: 'streaming.idleTimeout', kind: 'number', flag: 'stream-idle-timeout', def: 14400, help: 'seconds an idle streaming connection is kept' },
  ...METRICS_KEYS,
  ...REGISTRY_KEYS,
  ...RUNTIME_KEYS,
];

export const DEFAULT_CONFIG_FILE = '/etc/mesos-cri/config.yaml';

export { ConfigError };

function kindName(kind: Kind): string {
  return typeof kind === 'string' ? kind : `one of ${kind.enum.join('|')}`;
}

/** Validates one value against its key; `source` names where it came from. */
function coerce(key: Key, value: unknown, source: string, fromFlag: boolean): unknown {
  const bad = (why: string): never => {
    throw new ConfigError(`invalid configuration: ${source}: key "${key.path}": ${why}`);
  };
  const k = key.kind;
  if (typeof k === 'object') {
    if (typeof value !== 'string' || !k.enum.includes(value)) bad(`must be ${kindName(k)}, got ${JSON.stringify(value)}`);
    return value;
  }
  switch (k) {
    case 'string':
      if (typeof value !== 'string') bad(`must be a string, got ${JSON.stringify(value)}`);
      return value;
    case 'number': {
      const n = fromFlag && typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) bad(`must be a non-negative number, got ${JSON.stringify(value)}`);
      return n;
    }
    case 'boolean': {
      if (fromFlag && (value === 'true' || value === 'false')) return value === 'true';
      if (typeof value !== 'boolean') bad(`must be true or false, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'string[]':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad('must be a list of strings');
      return value;
    case 'map<string,string[]>': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('must be a map of registry host to a list of endpoints');
      for (const [host, eps] of Object.entries(value as Record<string, unknown>)) {
        if (!Array.isArray(eps) || eps.some((e) => typeof e !== 'string' || !/^https?:\/\//.test(e)))
          bad(`entry "${host}" must be a list of http:// or https:// endpoints`);
      }
      return value;
    }
    case 'map<string,runtime>':
      return coerceRuntimes(value, bad);
  }
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Record<string, unknown>;
  cur[parts.at(-1)!] = value;
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function flatKeys(obj: unknown, prefix = ''): string[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [prefix];
  if (SCHEMA.some((k) => k.path === prefix)) return [prefix];
  return Object.entries(obj).flatMap(([k, v]) => flatKeys(v, prefix ? `${prefix}.${k}` : k));
}

export const defaults = (): Config => {
  const out: Record<string, unknown> = {};
  for (const k of SCHEMA) setPath(out, k.path, structuredClone(k.def));
  return out as unknown as Config;
};

/** Merges a parsed YAML document over `base`; unknown keys are errors. */
export function applyDocument(base: Config, doc: unknown, source: string): Config {
  const out = structuredClone(base) as unknown as Record<string, unknown>;
  if (doc === null || doc === undefined) return out as unknown as Config;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`invalid configuration: ${source}: the document must be a map`);
  for (const path of flatKeys(doc)) {
    const key = SCHEMA.find((k) => k.path === path);
    if (!key) throw new ConfigError(`invalid configuration: ${source}: unknown key "${path}"`);
    setPath(out, path, coerce(key, getPath(doc, path), source, false));
  }
  return out as unknown as Config;
}

export interface CliResult {
  readonly help: boolean;
  readonly version: boolean;
  readonly configFile: string;
  readonly configFileExplicit: boolean;
  /** Drop-in directory (`--config-dir`; default `config.d` beside the config file). */
  readonly configDir: string;
  readonly overrides: ReadonlyArray<[Key, unknown]>;
  readonly positionals: readonly string[];
}

export function parseCli(argv: readonly string[]): CliResult {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string', short: 'c' },
    'config-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const k of SCHEMA) {
    if (!k.flag) continue;
    options[k.flag] = { type: 'string', multiple: k.kind === 'string[]' || k.kind === 'map<string,string[]>' };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(`invalid command line: ${(err as Error).message}`);
  }
  const overrides: Array<[Key, unknown]> = [];
  for (const k of SCHEMA) {
    if (!k.flag) continue;
    const raw = parsed.values[k.flag];
    if (raw === undefined) continue;
    const source = `flag --${k.flag}`;
    if (k.kind === 'map<string,string[]>') {
      const map: Record<string, string[]> = {};
      for (const item of raw as string[]) {
        const eq = item.indexOf('=');
        if (eq <= 0) throw new ConfigError(`invalid configuration: ${source}: key "${k.path}": expected HOST=ENDPOINT, got "${item}"`);
        (map[item.slice(0, eq)] ??= []).push(item.slice(eq + 1));
      }
      overrides.push([k, coerce(k, map, source, true)]);
    } else if (k.kind === 'string[]') {
      overrides.push([k, coerce(k, (raw as string[]).flatMap((s) => s.split(',')).filter(Boolean), source, true)]);
    } else {
      overrides.push([k, coerce(k, raw, source, true)]);
    }
  }
  const configFile = (parsed.values.config as string | undefined) ?? DEFAULT_CONFIG_FILE;
  return {
    help: parsed.values.help === true,
    version: parsed.values.version === true,
    configFile,
    configFileExplicit: parsed.values.config !== undefined,
    configDir: (parsed.values['config-dir'] as string | undefined) ?? join(dirname(configFile), 'config.d'),
    overrides,
    positionals: parsed.positionals,
  };
}

/** Where each effective value came from: `default`, a file path, or `flag --x`. */
export type ConfigSources = Record<string, string>;

export interface LoadedConfig {
  readonly config: Config;
  readonly sources: ConfigSources;
  /** The files read, in the order applied. */
  readonly files: readonly string[];
}

/** Parses one YAML file (`undefined` when it does not exist and `optional`). */
export async function readConfigDocument(file: string, optional: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && optional) return undefined;
    throw new ConfigError(`invalid configuration: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${file}: not valid YAML: ${(err as Error).message}`);
  }
}

/** The drop-ins of `dir` in name order (`*.yaml`, `*.yml`; hidden files skipped); none when the dir is absent. */
export async function dropInFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`invalid configuration: cannot read drop-in directory ${dir}: ${(err as Error).message}`);
  }
  return names
    .filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.'))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((n) => join(dir, n));
}

/** Merges one layer: map-valued keys merge per entry (a registry's mirrors replace that registry's only). */
function layer(out: Record<string, unknown>, sources: ConfigSources, doc: unknown, source: string): void {
  if (doc === null || doc === undefined) return;
  const applied = applyDocument(defaults(), doc, source) as unknown as Record<string, unknown>;
  for (const path of flatKeys(doc)) {
    const key = SCHEMA.find((k) => k.path === path)!;
    const v = getPath(applied, path);
    if (key.kind === 'map<string,string[]>' || key.kind === 'map<string,runtime>') setPath(out, path, { ...(getPath(out, path) as object), ...(v as object) });
    else setPath(out, path, v);
    sources[path] = source;
  }
}

/** Defaults, then the file (optional unless named with `--config`), then its drop-ins, then flags. */
export async function loadConfigWithSources(cli: CliResult): Promise<LoadedConfig> {
  const out = defaults() as unknown as Record<string, unknown>;
  const sources: ConfigSources = Object.fromEntries(SCHEMA.map((k) => [k.path, 'default']));
  const files: string[] = [];
  const main = await readConfigDocument(cli.configFile, !cli.configFileExplicit);
  if (main !== undefined) {
    layer(out, sources, main, cli.configFile);
    files.push(cli.configFile);
  }
  for (const file of await dropInFiles(cli.configDir)) {
    layer(out, sources, await readConfigDocument(file, true), file);
    files.push(file);
  }
  for (const [k, v] of cli.overrides) {
    if (k.kind === 'map<string,string[]>') setPath(out, k.path, { ...(getPath(out, k.path) as object), ...(v as object) });
    else setPath(out, k.path, v);
    sources[k.path] = `flag --${k.flag}`;
  }
  checkDefaultRuntime(out as unknown as Config, sources.defaultRuntime === 'default' ? (sources.runtimes ?? 'default') : sources.defaultRuntime!);
  return { config: out as unknown as Config, sources, files };
}

export async function loadConfig(cli: CliResult): Promise<Config> {
  return (await loadConfigWithSources(cli)).config;
}

export function helpText(): string {
  const lines = [
    'Usage: mesos-cri [flags]            run the CRI daemon',
    '       mesos-cri images import FILE load an OCI layout or docker-archive tarball',
    '       mesos-cri images pull IMAGE  pull through the running daemon, showing each layer\'s progress',
    '       mesos-cri status             ask the running daemon: versions, readiness, counts, image store, streaming URL',
    '       mesos-cri check              preflight: kernel, overlay, cgroups, binaries, CNI, free space, socket (exit 1 on a failure)',
    '       mesos-cri config default     print the default configuration, commented',
    '       mesos-cri config dump        print the effective configuration and where each value comes from',
    '       mesos-cri config validate FILE  check a config file or drop-in (exit 0 valid, 2 invalid)',
    '',
    'Flags (override the config file, which overrides embedded defaults):',
    `  -c, --config FILE  YAML config file (default ${DEFAULT_CONFIG_FILE}, optional)`,
    '      --config-dir DIR drop-ins merged over it in name order (default: config.d beside the file)',
    '  -h, --help         show this help',
    '      --version      print the version',
  ];
  for (const k of SCHEMA) {
    if (!k.flag) continue;
    const def = JSON.stringify(k.def);
    lines.push(`      --${k.flag.padEnd(26)} ${k.help} [${k.path}; ${kindName(k.kind)}; default ${def}]`);
  }
  return lines.join('\n');
}
