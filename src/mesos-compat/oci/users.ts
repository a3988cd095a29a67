import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import { readRegularFileInRoot } from './rootfs-path';

/**
 * Users and groups as the container will see them: names are looked up in the
 * rootfs' own `/etc/passwd` and `/etc/group` (never the host's), the way runc's
 * `user.GetExecUserPath` and containerd's `WithUser`/`WithAdditionalGIDs` do.
 */

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Primary gid first, then `/etc/group` memberships, then the requested supplemental groups. */
  readonly additionalGids: number[];
  /** From `/etc/passwd`, or `/` when the user has no entry (runc's default). */
  readonly home: string;
}

/** What to run as; `field` names the request field blamed when a name does not resolve. */
export interface UserRequest {
  /** `name`, `uid`, `name:group`, `uid:gid` (either side a name or a number); empty: root. */
  readonly user: string;
  readonly field: string;
  /** Overrides the group part of `user` (CRI `run_as_group`). */
  readonly group?: bigint;
  readonly supplementalGroups: readonly bigint[];
  readonly groupField?: string;
  readonly supplementalField?: string;
}

const MAX_ID = 0xfffffffe; // (uid_t)-1 is "no change" to the kernel, never a real id

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2]!);
    const gid = parseId(f[3]!);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2]!);
    if (gid === undefined) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean);
    out.push({ name: f[0]!, gid, members });
  }
  return out;
}

/** The largest image `/etc/passwd` or `/etc/group` read (glibc has no limit; 4 MiB is ~50k users). */
const MAX_DB_BYTES = 4 << 20;

/**
 * Reads a file of the rootfs without letting symlinks escape it, regular
 * files only and size-capped (`readRegularFileInRoot`); a missing file is empty.
 */
async function readRootfsFile(rootfs: string, path: string): Promise<string> {
  try {
    return (await readRegularFileInRoot(rootfs, path, MAX_DB_BYTES))?.toString('utf8') ?? '';
  } catch (err) {
    if (isErrno(err, 'EINVAL') || isErrno(err, 'EFBIG') || isErrno(err, 'ELOOP'))
      throw new CriError('InvalidArgument', `failed to read ${path} of the container rootfs: ${(err as Error).message}`, { cause: err });
    throw new CriError('Internal', `failed to read ${path} of the container rootfs`, { cause: err });
  }
}

export async function resolveUser(rootfs: string, req: UserRequest): Promise<ResolvedUser> {
  const passwd = parsePasswd(await readRootfsFile(rootfs, '/etc/passwd'));
  const groups = parseGroup(await readRootfsFile(rootfs, '/etc/group'));
  return resolveUserFrom(passwd, groups, req);
}

/** The pure part of `resolveUser`, for callers that already hold the databases. */
export function resolveUserFrom(
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[],
  req: UserRequest,
): ResolvedUser {
  const [userPart = '', groupPart] = splitOnce(req.user, ':');
  let uid = 0;
  let entry: PasswdEntry | undefined;
  if (userPart !== '') {
    const numeric = parseId(userPart);
    if (numeric !== undefined) {
      uid = numeric;
      entry = passwd.find((p) => p.uid === numeric);
    } else {
      entry = passwd.find((p) => p.name === userPart);
      if (!entry) throw new CriError('NotFound', `failed to resolve ${req.field}: no user "${userPart}" in the image's /etc/passwd`);
      uid = entry.uid;
    }
  } else {
    entry = passwd.find((p) => p.uid === 0);
  }
  if (uid > MAX_ID) throw new CriError('InvalidArgument', `failed to resolve ${req.field}: uid ${userPart} out of range`);

  let gid = entry?.gid ?? 0;
  if (req.group !== undefined) {
    gid = checkId(req.group, req.groupField ?? 'run_as_group');
  } else if (groupPart !== undefined && groupPart !== '') {
    const numeric = parseId(groupPart);
    if (numeric !== undefined) {
      if (numeric > MAX_ID) throw new CriError('InvalidArgument', `failed to resolve ${req.field}: gid ${groupPart} out of range`);
      gid = numeric;
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new CriError('NotFound', `failed to resolve ${req.field}: no group "${groupPart}" in the image's /etc/group`);
      gid = g.gid;
    }
  }

  // Memberships follow the user's name, so a bare uid without a passwd entry has none.
  const gids = [gid];
  if (entry) for (const g of groups) if (g.members.includes(entry.name)) gids.push(g.gid);
  for (const g of req.supplementalGroups) gids.push(checkId(g, req.supplementalField ?? 'supplemental_groups'));
  return { uid, gid, additionalGids: [...new Set(gids)], home: entry?.home || '/' };
}

/** A CRI id (`run_as_user`, `run_as_group`, `supplemental_groups`) as a kernel id. */
export function checkId(id: bigint, field: string): number {
  if (id < 0n || id > BigInt(MAX_ID)) throw new CriError('InvalidArgument', `failed to resolve ${field}: id ${id} out of range`);
  return Number(id);
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}
