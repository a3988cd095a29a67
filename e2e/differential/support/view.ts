/**
 * What a container saw, as the probe printed it, normalised so that two
 * runtimes' views compare equal when they gave the container the same
 * world: ids, IPs, inode numbers, mount ids and runtime-private paths are
 * replaced by what they stand for ("the pod's network namespace", "<ip>",
 * "<rt>"); everything else is kept verbatim.
 */

/** Section name -> normalised lines. */
export type View = Record<string, string[]>;

/** What a runtime's own names and numbers stand for, to replace them. */
export interface Context {
  /** Literal strings to replace, longest first: ids, IPs, runtime dirs. */
  readonly replace: ReadonlyArray<readonly [string, string]>;
  /** Namespace inode (as `kind:[inode]`) -> what it is: host, pod, target. */
  readonly namespaces: ReadonlyMap<string, string>;
  /** The runtime's infra process command line (`/pause -P`, `/catatonit -P`). */
  readonly infraCmdlines: readonly string[];
}

/** Sections compared in order; every other one is compared as a set of lines. */
export const ORDERED = new Set(['env', 'arg', 'file']);

export function parseProbe(text: string): { lines: Array<[string, string]>; complete: boolean } {
  const lines: Array<[string, string]> = [];
  let complete = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const section = line.slice(0, tab);
    const rest = line.slice(tab + 1);
    if (section === 'end') complete = true;
    lines.push([section, rest]);
  }
  return { lines, complete };
}

export const subst = (s: string, ctx: Context): string => {
  let out = s;
  for (const [from, to] of ctx.replace) if (from) out = out.split(from).join(to);
  return out;
};

export function normalise(text: string, ctx: Context): View {
  const view: View = {};
  const { lines, complete } = parseProbe(text);
  const add = (section: string, line: string): void => {
    (view[section] ??= []).push(line);
  };
  for (const [section, raw] of lines) {
    const line = subst(raw, ctx);
    switch (section) {
      case 'begin':
      case 'end':
        break;
      case 'ns':
        add(section, namespaceLine(raw, ctx));
        break;
      case 'mount':
        add(section, mountLine(line));
        break;
      case 'cgroup':
        add(section, cgroupLine(line));
        break;
      case 'pid':
        // Only whether the container is pid 1 of its namespace and has no parent there.
        add(section, line.replace(/self=(\d+)/, (_, n: string) => `self=${n === '1' ? '1' : '>1'}`).replace(/ppid=(\d+)/, (_, n: string) => `ppid=${n === '0' ? '0' : '>0'}`));
        break;
      case 'pid1': {
        const cmd = raw.trim();
        add(section, ctx.infraCmdlines.includes(cmd) ? '<infra>' : cmd);
        break;
      }
      case 'tty':
        add(section, line.replace(/^\/dev\/pts\/\d+$/, '/dev/pts/<n>'));
        break;
      default:
        add(section, line);
    }
  }
  if (!complete) add('probe', 'incomplete output');
  // What kubectl logs shows: whether a tty's carriage returns reach the log.
  add('log', `lines ending in CR: ${text.split('\n').filter((l) => l.endsWith('\r')).length > 0 ? 'yes' : 'no'}`);
  for (const [k, v] of Object.entries(view)) if (!ORDERED.has(k)) view[k] = [...v].sort();
  return view;
}

function namespaceLine(raw: string, ctx: Context): string {
  const [kind = '', link = ''] = raw.split(' ');
  return `${kind} ${ctx.namespaces.get(link) ?? (link === '<none>' ? '<none>' : 'own')}`;
}

/**
 * A mountinfo line without its ids, device numbers and the path inside the
 * mounted filesystem when that is a runtime's own (a bind of a sandbox
 * file, a cgroup directory); propagation peer groups reduced to their kind;
 * overlay layer paths dropped.
 */
export function mountLine(line: string): string {
  const f = line.split(' ');
  const sep = f.indexOf('-');
  if (sep < 6) return line;
  const root = f[3]!;
  const point = f[4]!;
  const opts = f[5]!;
  const optional = f.slice(6, sep).map((o) => o.replace(/:\d+$/, '')).join(',');
  const [fstype = '', source = '', superOpts = ''] = f.slice(sep + 1);
  const superKept = superOpts
    .split(',')
    // Layer paths are the runtime's; `uuid=` is overlayfs' own choice (uuid=auto, from the upper
    // dir's history), not something a request controls.
    .filter((o) => !/^(lowerdir|upperdir|workdir|uuid)=/.test(o))
    .join(',');
  const rootShown = fstype === 'cgroup' || fstype === 'cgroup2' || root.includes('<') ? '<rt>' : root;
  return `${point} ${fstype} src=${source} root=${rootShown} opts=${opts} tags=${optional || '-'} super=${superKept}`;
}

/** `N:controllers:path` with the path reduced to whether it is the container's own cgroup. */
function cgroupLine(line: string): string {
  const m = /^\d+:([^:]*):(.*)$/.exec(line);
  if (!m) return line;
  const path = m[2]!;
  return `${m[1] || '<v2>'} ${path.endsWith('/<ctr>') ? '<own>' : path === '/' ? '/' : '<other>'}`;
}

/** Lines only one side has, per section: the differences to explain. */
export interface Difference {
  readonly section: string;
  /** Present on this side only; `order` when both have the same lines in another order. */
  readonly side: 'containerd' | 'mesos-cri' | 'order';
  readonly line: string;
}

export function diff(containerd: View, ours: View): Difference[] {
  const out: Difference[] = [];
  const sections = [...new Set([...Object.keys(containerd), ...Object.keys(ours)])].sort();
  for (const s of sections) {
    const a = containerd[s] ?? [];
    const b = ours[s] ?? [];
    const left = new Map<string, number>();
    for (const l of a) left.set(l, (left.get(l) ?? 0) + 1);
    const onlyB: string[] = [];
    for (const l of b) {
      const n = left.get(l) ?? 0;
      if (n > 0) left.set(l, n - 1);
      else onlyB.push(l);
    }
    for (const [l, n] of left) for (let i = 0; i < n; i++) out.push({ section: s, side: 'containerd', line: l });
    for (const l of onlyB) out.push({ section: s, side: 'mesos-cri', line: l });
    if (ORDERED.has(s) && out.every((d) => d.section !== s) && a.join('\n') !== b.join('\n')) {
      out.push({ section: s, side: 'order', line: `containerd: ${a.join(' | ')} ; mesos-cri: ${b.join(' | ')}` });
    }
  }
  return out;
}
