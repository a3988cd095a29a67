import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KeptFiles } from './kept-files';

/**
 * Where `native/build.sh` puts the native helper `name`: `<repo>/native/bin`,
 * found by walking up from this file, which works from `src/` (tests) and
 * from `dist/src/` (the daemon).
 */
export function nativeBinary(name: string, from = __dirname): string {
  for (let dir = from; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return join(dir, 'native', 'bin', name);
  }
  return join(from, name);
}

/** Kept open: the processes asked about are the same few (infra, containers), asked about on every status. */
const procs = new KeptFiles(1024);

/** The state letter and start time (field 22, clock ticks) of `/proc/<pid>/stat`; undefined when there is no such process. */
export function procStat(pid: number): { readonly state: string; readonly startTime: string } | undefined {
  let stat: string | undefined;
  try {
    stat = procs.read(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  if (stat === undefined) return undefined;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
}
