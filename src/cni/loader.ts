import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { log } from '../common/log';
import { CONFIG_EXTENSIONS, parseNetworkConfig, type NetworkConfigList } from './network-conf';

export interface LoadedConfigs {
  /** The first valid config by file name: the pod network. */
  readonly primary: NetworkConfigList | undefined;
  /** Every valid config by network name, so DEL can find the one a sandbox used. */
  readonly byName: ReadonlyMap<string, NetworkConfigList>;
  /** Why each unusable file was skipped. */
  readonly skipped: ReadonlyArray<{ file: string; reason: string }>;
  /** Set when the dir itself cannot be read. */
  readonly dirError?: string;
}

/**
 * Watches the config dir by fingerprint: names, sizes and mtimes of the
 * candidate files. `current()` re-parses only when the fingerprint moved, so
 * a config dropped in (or fixed) later is picked up without a restart, and
 * the common case costs one `readdir` plus a `stat` per file.
 *
 * NOTE: synchronous on purpose: CRI `Status` reads readiness on every call
 * and the dir holds a handful of small files.
 */
export class ConfigLoader {
  #fingerprint = '\0';
  #loaded: LoadedConfigs = { primary: undefined, byName: new Map(), skipped: [] };

  constructor(readonly dir: string) {}

  current(): LoadedConfigs {
    let names: string[];
    try {
      names = readdirSync(this.dir)
        .filter((n) => CONFIG_EXTENSIONS.includes(extname(n)) && !n.startsWith('.'))
        .sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const fp = `!${code}`;
      if (fp !== this.#fingerprint) {
        this.#fingerprint = fp;
        this.#loaded = { primary: undefined, byName: new Map(), skipped: [], dirError: (err as Error).message };
      }
      return this.#loaded;
    }
    const stats = names.map((n) => {
      try {
        const st = statSync(join(this.dir, n));
        return st.isFile() ? `${n}:${st.size}:${st.mtimeMs}:${st.ino}` : '';
      } catch {
        return '';
      }
    });
    const fp = stats.join('\n');
    if (fp !== this.#fingerprint) {
      this.#fingerprint = fp;
      this.#loaded = this.#load(names.filter((_, i) => stats[i] !== ''));
    }
    return this.#loaded;
  }

  #load(names: string[]): LoadedConfigs {
    const byName = new Map<string, NetworkConfigList>();
    const skipped: Array<{ file: string; reason: string }> = [];
    let primary: NetworkConfigList | undefined;
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        const conf = parseNetworkConfig(readFileSync(file, 'utf8'), file);
        primary ??= conf;
        if (!byName.has(conf.name)) byName.set(conf.name, conf);
      } catch (err) {
        const reason = (err as Error).message;
        skipped.push({ file, reason });
        log.warn({ file, reason }, 'skipping invalid CNI network config');
      }
    }
    if (primary) log.info({ network: primary.name, file: primary.source }, 'CNI network config loaded');
    return { primary, byName, skipped };
  }
}
