import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * One line of `/proc/<pid>/mountinfo` (proc(5)):
 *
 *     36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue
 *     (1)(2)(3)   (4)   (5)      (6)       (7)...        (8) (9)   (10)         (11)
 *
 * Paths and the source have their octal escapes (`\040` for a space, `\011`,
 * `\012`, `\134`) decoded. The optional fields (7) run up to the lone `-`
 * separator (8) and may be absent.
 */
export interface MountInfoEntry {
  readonly mountId: number;
  readonly parentId: number;
  /** `major:minor` of the filesystem's device. */
  readonly device: string;
  /** The directory of the filesystem that is mounted (a bind's subdirectory). */
  readonly root: string;
  readonly mountPoint: string;
  readonly mountOptions: readonly string[];
  /** `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  readonly optional: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** Decodes mountinfo's octal escapes (`\040` → space). */
export const unescapeMountInfo = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses a mountinfo table; malformed lines (no separator, too few fields) are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      device: f[2]!,
      root: unescapeMountInfo(f[3]!),
      mountPoint: unescapeMountInfo(f[4]!),
      mountOptions: f[5]!.split(','),
      optional: f.slice(6, sep),
      fsType: f[sep + 1]!,
      source: unescapeMountInfo(f[sep + 2]!),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

/** The mount table of this process (or of `/proc/<pid>/mountinfo` given as `path`). */
export async function readMountInfo(path = '/proc/self/mountinfo', signal?: AbortSignal): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile(path, { encoding: 'utf8', signal }));
}

/** `readMountInfo`, synchronously. */
export const readMountInfoSync = (path = '/proc/self/mountinfo'): MountInfoEntry[] => parseMountInfo(readFileSync(path, 'utf8'));
