import { parseReference } from '../../provisioner/reference';
import { checkDefaultRuntime, DEFAULT_RUNTIMES } from '../config-runtimes';
import { applyDocument, ConfigError, defaults, readConfigDocument, SCHEMA, type CliResult, type Config, type ConfigSources, loadConfigWithSources } from '../config';

/**
 * `mesos-cri config default|dump|validate` (containerd `config default`,
 * `crio config`): the configuration as YAML an operator can read, copy and
 * check. Values are written as JSON, which is YAML, so every output parses
 * back to the same configuration.
 */
interface Tree {
  [name: string]: Tree | { leaf: string };
}

function tree(): Tree {
  const root: Tree = {};
  for (const k of SCHEMA) {
    const parts = k.path.split('.');
    let cur = root;
    for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Tree;
    cur[parts.at(-1)!] = { leaf: k.path };
  }
  return root;
}

const valueOf = (config: Config, path: string): unknown =>
  path.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], config);

function emit(node: Tree, indent: string, line: (path: string, indent: string, name: string) => string[]): string[] {
  const out: string[] = [];
  for (const [name, child] of Object.entries(node)) {
    if ('leaf' in child && typeof child.leaf === 'string') out.push(...line(child.leaf, indent, name));
    else out.push(`${indent}${name}:`, ...emit(child as Tree, indent + '  ', line));
  }
  return out;
}

/** Every key with its help above it and its default value. */
export function defaultConfigText(): string {
  const def = defaults();
  const lines = [
    '# mesos-cri configuration with every key at its default (`mesos-cri config default`).',
    '# Drop-ins in config.d/ beside this file (*.yaml, in name order) override it key by key;',
    '# command-line flags override both. Every key is optional.',
  ];
  lines.push(
    ...emit(tree(), '', (path, indent, name) => {
      const key = SCHEMA.find((k) => k.path === path)!;
      return [`${indent}# ${key.help}${key.flag ? ` (flag --${key.flag})` : ''}`, `${indent}${name}: ${JSON.stringify(valueOf(def, path))}`];
    }),
  );
  return lines.join('\n') + '\n';
}

/** The effective configuration with the source of each value as a trailing comment. */
export function dumpConfigText(config: Config, sources: ConfigSources, files: readonly string[]): string {
  const lines = [`# effective mesos-cri configuration; files read: ${files.length ? files.join(', ') : 'none'}`];
  lines.push(...emit(tree(), '', (path, indent, name) => [`${indent}${name}: ${JSON.stringify(valueOf(config, path))}  # ${sources[path] ?? 'default'}`]));
  return lines.join('\n') + '\n';
}

/** Checks a file as the daemon would read it (as the main file or a drop-in); throws `ConfigError`. */
export async function validateConfigFile(file: string): Promise<Config> {
  const doc = await readConfigDocument(file, false);
  const cfg = applyDocument(defaults(), doc, file);
  if (cfg.streaming.tlsCert !== '' && cfg.streaming.tlsKey === '') throw new ConfigError(`invalid configuration: ${file}: key "streaming.tlsKey": required with streaming.tlsCert`);
  for (const ref of cfg.images.pinned) {
    if (/^(sha256:)?[0-9a-f]{64}$/.test(ref)) continue;
    try {
      parseReference(ref);
    } catch (err) {
      throw new ConfigError(`invalid configuration: ${file}: key "images.pinned": ${(err as Error).message}`);
    }
  }
  // A drop-in may name a handler another file declares: check the default only where this file declares handlers.
  if (typeof doc === 'object' && doc !== null && 'runtimes' in doc) checkDefaultRuntime({ runtimes: { ...DEFAULT_RUNTIMES, ...cfg.runtimes }, defaultRuntime: cfg.defaultRuntime }, file);
  return cfg;
}

export async function configCommand(cli: CliResult, args: readonly string[], out = process.stdout, err = process.stderr): Promise<number> {
  const [sub, ...rest] = args;
  try {
    if (sub === 'default' && rest.length === 0) {
      out.write(defaultConfigText());
      return 0;
    }
    if (sub === 'dump' && rest.length === 0) {
      const { config, sources, files } = await loadConfigWithSources(cli);
      out.write(dumpConfigText(config, sources, files));
      return 0;
    }
    if (sub === 'validate' && rest.length >= 1) {
      for (const file of rest) {
        await validateConfigFile(file);
        out.write(`${file}: valid\n`);
      }
      return 0;
    }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err.write(`mesos-cri: ${e.message}\n`);
    return 2;
  }
  err.write('mesos-cri: usage: mesos-cri config default | config dump | config validate FILE…\n');
  return 2;
}
