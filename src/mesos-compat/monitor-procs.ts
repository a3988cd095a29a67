import { readdir, readFile } from 'node:fs/promises';
import { sep } from 'node:path';
import { log } from '../common/log';

/**
 * The container monitors (conmon) a crashed daemon may have left behind for
 * containers whose creation never finished: one still blocked on its start
 * pipe (the spawn server kills those when the daemon dies, this is the
 * second line), or one whose `runtime create` ran for a container no
 * checkpoint records.
 *
 * A monitor is ours only by identity, never by name alone: its command is
 * conmon and its `-b` (bundle) argument is a directory under `dir`, which
 * is a container's or sandbox's directory of this daemon's own work dir.
 */
export interface MonitorProcess {
  readonly pid: number;
  readonly bundle: string;
}

const inside = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** Parses a NUL-separated `/proc/<pid>/cmdline`; the bundle of a conmon, else `undefined`. */
export function conmonBundle(cmdline: string): string | undefined {
  const argv = cmdline.replace(/\0$/, '').split('\0');
  if (argv.length < 3 || !/(^|\/)conmon$/.test(argv[0]!)) return undefined;
  const i = argv.indexOf('-b');
  const bundle = i > 0 ? argv[i + 1] : undefined;
  return bundle?.startsWith('/') ? bundle : undefined;
}

/** Live conmons whose bundle is under `dir`. */
export async function monitorsUnder(dir: string, procRoot = '/proc'): Promise<MonitorProcess[]> {
  const out: MonitorProcess[] = [];
  for (const name of await readdir(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    const [cmd, stat] = await Promise.all([
      readFile(`${procRoot}/${name}/cmdline`, 'utf8').catch(() => ''),
      readFile(`${procRoot}/${name}/stat`, 'utf8').catch(() => ''),
    ]);
    if (/\) Z /.test(stat)) continue; // a zombie: already dead
    const bundle = conmonBundle(cmd);
    if (bundle !== undefined && inside(bundle, dir)) out.push({ pid: Number(name), bundle });
  }
  return out;
}

/** SIGKILLs the monitors under `dir` (see `monitorsUnder`); returns how many. */
export async function killMonitorsUnder(dir: string, why: Record<string, unknown>): Promise<number> {
  const found = await monitorsUnder(dir).catch((err: unknown) => {
    log.warn({ err, dir }, 'failed to look for leftover container monitors');
    return [];
  });
  for (const m of found) {
    try {
      process.kill(m.pid, 'SIGKILL');
      log.info({ ...why, pid: m.pid, bundle: m.bundle }, 'killed the monitor of a container whose creation never finished');
    } catch {
      // gone meanwhile
    }
  }
  return found.length;
}
