import { join } from 'node:path';
import { findLeaks, formatLeaks } from '../../mesos-compat/leaks';
import type { Config } from '../config';
import { runtimeHandlerList } from '../config-runtimes';

/**
 * `mesos-cri check --leaks`: lists every leftover object of this instance
 * (its dirs, its cgroup parent) that no checkpoint accounts for; exit 0
 * when there is none, 1 otherwise. Read-only.
 */
export function checkLeaksCommand(config: Config): number {
  const runtimeRoots = config.runtime.root ? [config.runtime.root] : ['runc', 'crun'].map((n) => join(config.runDir, n));
  // Named runtime handlers keep their own roots (`config-runtimes.ts`).
  for (const h of runtimeHandlerList(config)) {
    const root = h.root || (h.path ? join(config.runDir, 'runtimes', h.name) : '');
    if (root && !runtimeRoots.includes(root)) runtimeRoots.push(root);
  }
  const leaks = findLeaks({
    workDir: config.workDir,
    runDir: config.runDir,
    cgroupParent: config.cgroup.parent,
    runtimeRoots,
    cniCacheDir: config.cni.cacheDir || join(config.workDir, 'cni'),
  });
  process.stdout.write(formatLeaks(leaks));
  return leaks.length === 0 ? 0 : 1;
}

/** Whether `argv` asks for `check --leaks`; the rest of it, without those words, for the config parser. */
export function leaksArgs(argv: readonly string[]): readonly string[] | undefined {
  if (argv[0] !== 'check' || !argv.includes('--leaks')) return undefined;
  return argv.slice(1).filter((a) => a !== '--leaks');
}
