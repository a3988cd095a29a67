import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { GroupSpec, Kit } from '../cases/types';
import type { Driver, Outcome, Wire } from './driver';
import { normalise, subst, type Context, type View } from './view';

/** What a case gave on one runtime: refused at some call, or ran and showed a view. */
export type CaseResult =
  | { readonly kind: 'refused'; readonly stage: 'RunPodSandbox' | 'CreateContainer' | 'StartContainer'; readonly code: string; readonly message: string }
  | { readonly kind: 'ran'; readonly view: View; readonly raw: string };

export interface GroupResult {
  readonly pod: Outcome<string>;
  readonly cases: ReadonlyMap<string, CaseResult>;
}

/** Where one runtime keeps what the suite must tell apart from the container's view. */
export interface RuntimeSide {
  readonly driver: Driver;
  /** The runtime's private dirs (state, sandboxes, rootfses): replaced by `<rt>`. */
  readonly privateDirs: readonly string[];
  /** Pod log directories go below this. */
  readonly logRoot: string;
  /** Prefixed to kubelet-style cgroup parents, so each runtime's pods have their own. */
  readonly cgroupRoot: string;
}

const NS_KINDS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'pid_for_children', 'user', 'uts'];
const INFRA = ['/pause -P', '/catatonit -P'];
const SLEEPER_CMD = ['/bin/sleep', '3600'];

function nsOf(pid: number | 'self'): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of NS_KINDS) {
    try {
      out.set(k, readlinkSync(`/proc/${pid}/ns/${k}`));
    } catch {
      // process gone or kind unsupported
    }
  }
  return out;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
const obj = (v: unknown): Wire => (v && typeof v === 'object' ? (v as Wire) : {});

/** The CRI log file's text, the probe's stdout (and stderr) lines joined back from the log format. */
export function readCriLog(path: string): string {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return '';
  }
  let out = '';
  for (const line of text.split('\n')) {
    // A tty's lines end in \r\n; the \r stays in the content (and `.` would stop at it).
    const m = /^\S+ (stdout|stderr) ([PF]) ([\s\S]*)$/.exec(line);
    if (!m) continue;
    out += m[3];
    if (m[2] === 'F') out += '\n';
  }
  return out;
}

/** The pod config as this runtime gets it: its own log dir, its own cgroup parent root. */
export function podFor(side: RuntimeSide, group: GroupSpec, kit: Kit): Wire {
  const pod = group.pod(kit);
  const linux = obj(pod.linux);
  const parent = str(linux.cgroup_parent);
  return {
    ...pod,
    log_directory: join(side.logRoot, group.name),
    ...(pod.linux ? { linux: { ...linux, ...(parent ? { cgroup_parent: `${side.cgroupRoot}${parent}` } : {}) } } : {}),
  };
}

/**
 * Runs one group on one runtime: the pod, a sleeper when asked, every case's
 * container created and started, all awaited to exit, then their logs,
 * statuses and list entries read, normalised against this runtime's ids.
 */
export async function runGroup(side: RuntimeSide, group: GroupSpec, kit: Kit): Promise<GroupResult> {
  const d = side.driver;
  const podConfig = podFor(side, group, kit);
  const pod = await d.runPod(podConfig);
  const cases = new Map<string, CaseResult>();
  if (!pod.ok) {
    for (const c of group.cases) cases.set(c.name, { kind: 'refused', stage: 'RunPodSandbox', code: pod.code, message: pod.message });
    return { pod, cases };
  }
  const podId = pod.value;
  try {
    let sleeper = '';
    if (group.sleeper) {
      const s = await d.createContainer(podId, { metadata: { name: 'sleeper', attempt: 0 }, image: { image: kit.images.refs.probe }, command: SLEEPER_CMD, log_path: 'sleeper.log' }, podConfig);
      if (!s.ok) throw new Error(`${d.name}: sleeper of ${group.name}: ${s.code} ${s.message}`);
      sleeper = s.value;
      const st = await d.startContainer(sleeper);
      if (!st.ok) throw new Error(`${d.name}: sleeper of ${group.name} did not start: ${st.code} ${st.message}`);
    }
    const ids = new Map<string, string>();
    for (const c of group.cases) {
      const json = JSON.stringify(c.container(kit)).split('<sleeper>').join(sleeper).split('<runtime>').join(d.name);
      const config = JSON.parse(json) as Wire;
      const r = await d.createContainer(podId, config, podConfig);
      if (r.ok) ids.set(c.name, r.value);
      else cases.set(c.name, { kind: 'refused', stage: 'CreateContainer', code: r.code, message: r.message });
    }
    for (const [name, cid] of [...ids]) {
      const r = await d.startContainer(cid);
      if (!r.ok) {
        cases.set(name, { kind: 'refused', stage: 'StartContainer', code: r.code, message: r.message });
        ids.delete(name);
      }
    }
    const listed = await waitExited(d, podId, new Set(ids.values()));
    const podStatus = await d.podStatus(podId);
    const infraPid = Number(obj(podStatus.info).pid ?? 0);
    const sleeperPid = sleeper ? Number(obj((await d.containerStatus(sleeper)).info).pid ?? 0) : 0;
    const host = nsOf('self');
    const namespaces = new Map<string, string>();
    for (const v of host.values()) namespaces.set(v, 'host');
    for (const [pid, label] of [[infraPid, 'pod'], [sleeperPid, 'sleeper']] as const) {
      if (pid <= 0) continue;
      for (const v of nsOf(pid).values()) if (!namespaces.has(v)) namespaces.set(v, label);
    }
    const ip = str(obj(obj(podStatus.status).network).ip);
    const podLines = podView(obj(podStatus.status));
    for (const [name, cid] of ids) {
      const st = await d.containerStatus(cid);
      const status = obj(st.status);
      const raw = readCriLog(str(status.log_path));
      const others = [...ids.values()].filter((x) => x !== cid);
      const pairs: Array<readonly [string, string]> = [
        ...side.privateDirs.map((p) => [p, '<rt>'] as const),
        [side.cgroupRoot, '<cgroot>'],
        [join(kit.hostDir, 'created', d.name), join(kit.hostDir, 'created', '<runtime>')],
        [cid, '<ctr>'],
        ...others.map((o) => [o, '<ctr-other>'] as const),
        [podId, '<pod>'],
      ];
      if (sleeper) pairs.push([sleeper, '<sleeper>']);
      if (ip) pairs.push([ip, '<ip>']);
      const ctx: Context = {
        replace: pairs.sort((a, b) => b[0].length - a[0].length),
        namespaces,
        infraCmdlines: INFRA,
      };
      const view = normalise(raw, ctx);
      view.cri = criView(status, listed.get(cid) ?? {}).map((l) => subst(l, ctx));
      view.pod = podLines;
      cases.set(name, { kind: 'ran', view, raw });
    }
  } finally {
    await d.removePod(podId);
  }
  return { pod, cases };
}

async function waitExited(d: Driver, podId: string, ids: ReadonlySet<string>): Promise<Map<string, Wire>> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const list = await d.listContainers(podId);
    const byId = new Map(list.map((c) => [str(c.id), c]));
    if ([...ids].every((i) => str(byId.get(i)?.state) === 'CONTAINER_EXITED')) return byId;
    if (Date.now() > deadline) return byId;
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The CRI status fields a client reads, one line each. */
function criView(status: Wire, listed: Wire): string[] {
  const image = obj(status.image);
  const mounts = Array.isArray(status.mounts) ? (status.mounts as Wire[]) : [];
  const lines = [
    `state ${str(status.state)}`,
    `exit_code ${str(status.exit_code ?? 0)}`,
    `reason ${str(status.reason)}`,
    `image ${str(image.image)}`,
    `image_ref ${str(status.image_ref)}`,
    `list.image ${str(obj(listed.image).image)}`,
    `list.image_ref ${str(listed.image_ref)}`,
    ...mounts.map((m) => `mount ${str(m.container_path)} ${str(m.host_path)} ro=${String(m.readonly === true)} ${str(m.propagation) || 'PROPAGATION_PRIVATE'}`),
    ...Object.entries(obj(status.labels)).map(([k, v]) => `label ${k}=${str(v)}`),
    ...Object.entries(obj(status.annotations)).map(([k, v]) => `annotation ${k}=${str(v)}`),
  ];
  return lines.sort();
}

function podView(status: Wire): string[] {
  const ns = obj(obj(obj(status.linux).namespaces).options);
  const net = obj(status.network);
  return [
    `state ${str(status.state)}`,
    `ip ${str(net.ip) ? 'set' : 'none'}`,
    `namespaces network=${str(ns.network) || 'POD'} pid=${str(ns.pid) || 'POD'} ipc=${str(ns.ipc) || 'POD'}`,
    ...Object.entries(obj(status.labels)).map(([k, v]) => `label ${k}=${str(v)}`),
    ...Object.entries(obj(status.annotations)).map(([k, v]) => `annotation ${k}=${str(v)}`),
  ].sort();
}
