import { describeError } from '../common/errors';
import { log } from '../common/log';
import { ConfigError, loadConfigWithSources, SCHEMA, type CliResult, type Config } from './config';

/**
 * SIGHUP (CRI-O's reload, containerd's lack of one): re-reads the file, its
 * drop-ins and the same flags, applies what can change in a running daemon
 * and names what needs a restart. An invalid configuration changes nothing.
 */
export interface LiveTargets {
  setLogLevel(level: Config['logLevel']): void;
  /** Every `registry.*` key, and the hosts dir re-read (on every reload): pulls started afterwards use them. */
  configureRegistry(registry: Config['registry']): void | Promise<void>;
  setCniConfDir(dir: string): void;
}

/** Keys applied without a restart; every other key needs one. */
export const isLiveKey = (path: string): boolean => path === 'logLevel' || path === 'cni.confDir' || path.startsWith('registry.');

const valueAt = (c: Config, path: string): string =>
  JSON.stringify(path.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], c));

export function changedKeys(before: Config, after: Config): string[] {
  return SCHEMA.map((k) => k.path).filter((p) => valueAt(before, p) !== valueAt(after, p));
}

export interface ReloadResult {
  readonly config: Config;
  readonly applied: readonly string[];
  readonly needsRestart: readonly string[];
}

export class Reloader {
  #current: Config;
  #running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly cli: CliResult,
    initial: Config,
    private readonly targets: LiveTargets,
  ) {
    this.#current = initial;
  }

  get config(): Config {
    return this.#current;
  }

  /** One reload at a time; resolves `undefined` when the new configuration is invalid (logged). */
  reload(): Promise<ReloadResult | undefined> {
    const next = this.#running.then(() => this.#reload());
    this.#running = next.catch(() => undefined);
    return next;
  }

  async #reload(): Promise<ReloadResult | undefined> {
    let config: Config;
    try {
      config = (await loadConfigWithSources(this.cli)).config;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.error({ err: err.message }, 'configuration reload failed; keeping the running configuration');
      return undefined;
    }
    const changed = changedKeys(this.#current, config);
    const applied = changed.filter(isLiveKey);
    const needsRestart = changed.filter((k) => !isLiveKey(k));
    try {
      if (applied.includes('logLevel')) this.targets.setLogLevel(config.logLevel);
      // Always: the hosts dir and its certificates may have changed without any key changing.
      await this.targets.configureRegistry(config.registry);
      if (applied.includes('cni.confDir')) this.targets.setCniConfDir(config.cni.confDir);
    } catch (err) {
      log.error({ err: describeError(err) }, 'configuration reload failed; keeping the running configuration');
      return undefined;
    }
    // Keys that need a restart keep their running values, so a later reload names them again.
    const kept = structuredClone(config) as unknown as Record<string, unknown>;
    for (const path of needsRestart) {
      const parts = path.split('.');
      let src: unknown = this.#current;
      let dst = kept;
      for (const p of parts.slice(0, -1)) {
        src = (src as Record<string, unknown>)[p];
        dst = dst[p] as Record<string, unknown>;
      }
      dst[parts.at(-1)!] = structuredClone((src as Record<string, unknown>)[parts.at(-1)!]);
    }
    this.#current = kept as unknown as Config;
    log.info({ applied, needs_restart: needsRestart }, needsRestart.length ? 'configuration reloaded; some changes need a restart' : 'configuration reloaded');
    return { config: this.#current, applied, needsRestart };
  }
}
