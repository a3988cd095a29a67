import { CriError } from '../../common/errors';
import { DbusConnection, DbusError } from '../../common/dbus/connection';
import { variant, type Variant } from '../../common/dbus/wire';
import type { OciResources } from '../oci/types';
import { sharesToWeight } from './cgroup-v2';

/**
 * The `systemd` cgroup driver (kubelet `cgroupDriver: systemd`, runc
 * `--systemd-cgroup`). Pod cgroups are slices, named by kubelet
 * (`kubepods-burstable-pod<uid>.slice`, each dash a level:
 * kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice);
 * containers are transient scopes `<prefix>-<id>.scope` in them. An OCI
 * spec names the scope as `<slice>:<prefix>:<id>` and runc asks systemd
 * for it; what the daemon itself places (the infra process, slices of pods
 * that name no parent) it asks systemd for over D-Bus
 * (`org.freedesktop.systemd1.Manager`: StartTransientUnit, StopUnit).
 */

/** The scope prefix of the daemon's units (containerd uses `cri-containerd`, CRI-O `crio`). */
export const SCOPE_PREFIX = 'mesos-cri';

const SLICE_NAME = /^[A-Za-z0-9_.:@\\-]+\.slice$/;
const UNIT_PART = /^[A-Za-z0-9_.:@\\-]+$/;

/**
 * A slice's cgroupfs path relative to the root (systemd's
 * `unit_name_to_path`, runc's `ExpandSlice`): `a-b-c.slice` →
 * `a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root (""). Refuses
 * what is no slice name (InvalidArgument): a `/`, an empty level (`--`,
 * leading or trailing `-`).
 */
export function expandSlice(slice: string): string {
  const bad = (why: string): CriError => new CriError('InvalidArgument', `cgroup parent ${JSON.stringify(slice.slice(0, 256))} is not a systemd slice: ${why}`);
  if (slice === '-.slice') return '';
  if (slice.length > 255) throw bad('longer than 255 bytes');
  if (!SLICE_NAME.test(slice)) throw bad('a slice is a unit name ending in ".slice" without "/"');
  const name = slice.slice(0, -'.slice'.length);
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--')) throw bad('each "-" must separate two non-empty levels');
  const levels: string[] = [];
  let prefix = '';
  for (const part of name.split('-')) {
    prefix = prefix === '' ? part : `${prefix}-${part}`;
    levels.push(`${prefix}.slice`);
  }
  return levels.join('/');
}

/** runc's `slice:prefix:name` form of an OCI `cgroupsPath` under the systemd driver. */
export function systemdCgroupsPath(slice: string, id: string, prefix = SCOPE_PREFIX): string {
  expandSlice(slice);
  if (!UNIT_PART.test(id) || !UNIT_PART.test(prefix)) throw new CriError('InvalidArgument', `"${prefix}-${id}" is not a systemd unit name`);
  return `${slice}:${prefix}:${id}`;
}

/** Whether `path` is in runc's systemd form (`slice:prefix:name`) rather than a cgroupfs path. */
export const isSystemdCgroupsPath = (path: string): boolean => /^[^/:]+:[^/:]+:[^/:]+$/.test(path);

/** The scope unit a `slice:prefix:name` path names, and its cgroupfs path relative to the root. */
export function resolveSystemdCgroupsPath(path: string): { slice: string; unit: string; fsPath: string } {
  const [slice, prefix, name] = path.split(':') as [string, string, string];
  systemdCgroupsPath(slice, name, prefix);
  const unit = `${prefix}-${name}.scope`;
  const base = expandSlice(slice);
  return { slice, unit, fsPath: base === '' ? unit : `${base}/${unit}` };
}

/**
 * A unit's resource properties, what runc's systemd managers send:
 * v2 `MemoryMax`, `CPUWeight` (shares converted as runc does), `TasksMax`;
 * v1 `MemoryLimit`, `CPUShares`; both `CPUQuotaPerSecUSec` (quota per
 * second, rounded up to systemd's 10 ms granularity) and, for a
 * non-default period, `CPUQuotaPeriodUSec`. Swap, cpusets and hugepages
 * have no property here: they are left to the cgroup files.
 */
export function resourceProperties(r: OciResources | undefined, v2: boolean): Array<[string, Variant]> {
  const out: Array<[string, Variant]> = [];
  if (!r) return out;
  if (r.memory?.limit !== undefined && r.memory.limit > 0) out.push([v2 ? 'MemoryMax' : 'MemoryLimit', variant('t', BigInt(r.memory.limit))]);
  if (r.cpu?.shares !== undefined && r.cpu.shares > 0) {
    out.push(v2 ? ['CPUWeight', variant('t', BigInt(sharesToWeight(r.cpu.shares)))] : ['CPUShares', variant('t', BigInt(r.cpu.shares))]);
  }
  const period = r.cpu?.period ?? 100_000;
  if (r.cpu?.period !== undefined && r.cpu.period !== 100_000) out.push(['CPUQuotaPeriodUSec', variant('t', BigInt(period))]);
  if (r.cpu?.quota !== undefined && r.cpu.quota !== 0) {
    let perSec = r.cpu.quota < 0 ? 2n ** 64n - 1n : (BigInt(r.cpu.quota) * 1_000_000n) / BigInt(period);
    if (r.cpu.quota > 0 && perSec % 10_000n !== 0n) perSec = (perSec / 10_000n + 1n) * 10_000n;
    out.push(['CPUQuotaPerSecUSec', variant('t', perSec)]);
  }
  if (r.pids !== undefined) out.push(['TasksMax', variant('t', r.pids.limit <= 0 ? 2n ** 64n - 1n : BigInt(r.pids.limit))]);
  return out;
}

export interface SystemdManagerOptions {
  /** `/run/systemd/private` (systemd itself, root only) or the system bus, `/run/dbus/system_bus_socket`. */
  readonly socketPath: string;
  /** Whether the socket is a message bus (send Hello and AddMatch) rather than systemd's private socket. */
  readonly bus: boolean;
  /** Whether the host is cgroup v2 unified (property names differ). */
  readonly v2: boolean;
  /** How long to wait for a unit's job to finish (runc waits 30 s). */
  readonly jobTimeoutMs?: number;
}

const DEST = 'org.freedesktop.systemd1';
const PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';

/** systemd's D-Bus Manager, for transient units. One connection, made on first use and remade after a failure. */
export class SystemdManager {
  readonly #opts: SystemdManagerOptions;
  #conn: Promise<DbusConnection> | undefined;
  /** JobRemoved results seen, by job path, for jobs whose reply has not been read yet. */
  readonly #removed = new Map<string, string>();
  readonly #waiting = new Map<string, (result: string) => void>();

  constructor(opts: SystemdManagerOptions) {
    this.#opts = opts;
  }

  #connect(): Promise<DbusConnection> {
    this.#conn ??= (async () => {
      const { socketPath, bus } = this.#opts;
      let conn: DbusConnection;
      try {
        conn = await DbusConnection.connect(socketPath, { hello: bus });
      } catch (err) {
        throw new CriError('Unavailable', `failed to reach systemd at ${socketPath}: ${(err as Error).message}`, { cause: err });
      }
      conn.onSignal((m) => {
        if (m.interface !== MANAGER || m.member !== 'JobRemoved') return;
        const [, job, , result] = m.body as [number, string, string, string];
        const w = this.#waiting.get(job);
        if (w) w(result);
        else {
          this.#removed.set(job, result);
          if (this.#removed.size > 1024) this.#removed.delete(this.#removed.keys().next().value!);
        }
      });
      try {
        if (bus) {
          await conn.call({
            destination: 'org.freedesktop.DBus',
            path: '/org/freedesktop/DBus',
            interface: 'org.freedesktop.DBus',
            member: 'AddMatch',
            signature: 's',
            body: [`type='signal',sender='${DEST}',path='${PATH}',interface='${MANAGER}',member='JobRemoved'`],
          });
        }
        await conn.call({ destination: DEST, path: PATH, interface: MANAGER, member: 'Subscribe' });
      } catch (err) {
        conn.close();
        throw mapError(err, 'subscribe to systemd');
      }
      return conn;
    })();
    this.#conn.catch(() => {
      this.#conn = undefined;
    });
    return this.#conn;
  }

  async #call(member: string, signature: string, body: unknown[], what: string): Promise<unknown[]> {
    const conn = await this.#connect();
    try {
      return await conn.call({ destination: DEST, path: PATH, interface: MANAGER, member, signature, body });
    } catch (err) {
      if (!(err instanceof DbusError)) {
        conn.close();
        this.#conn = undefined;
      }
      throw mapError(err, what);
    }
  }

  /** Starts a transient unit and waits for its job (a unit that exists already is AlreadyExists). */
  async #start(unit: string, props: Array<[string, Variant]>): Promise<void> {
    const what = `start unit ${unit}`;
    const [job] = (await this.#call('StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', props, []], what)) as [string];
    const seen = this.#removed.get(job);
    this.#removed.delete(job);
    const result =
      seen ??
      (await new Promise<string>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiting.delete(job);
          resolve('timeout');
        }, this.#opts.jobTimeoutMs ?? 30_000);
        this.#waiting.set(job, (r) => {
          clearTimeout(timer);
          this.#waiting.delete(job);
          resolve(r);
        });
      }));
    if (result !== 'done') throw new CriError('Internal', `failed to ${what}: systemd's job ended with "${result}"`);
  }

  /**
   * A scope for processes the daemon started itself (runc makes the
   * containers' scopes): `Delegate` so nothing below it is systemd's,
   * `PIDs` moves them in, `DefaultDependencies=no` as runc sets.
   */
  async startScope(unit: string, slice: string, pids: readonly number[], r: OciResources | undefined, description: string): Promise<void> {
    if (!/^[A-Za-z0-9_.:@\\-]+\.scope$/.test(unit)) throw new CriError('InvalidArgument', `"${unit}" is not a scope unit name`);
    expandSlice(slice);
    await this.#start(unit, [
      ['Description', variant('s', description)],
      ['Slice', variant('s', slice)],
      ['Delegate', variant('b', true)],
      ['PIDs', variant('au', [...pids])],
      ['DefaultDependencies', variant('b', false)],
      ['MemoryAccounting', variant('b', true)],
      ['CPUAccounting', variant('b', true)],
      ['TasksAccounting', variant('b', true)],
      ...resourceProperties(r, this.#opts.v2),
    ]);
  }

  /** A slice for a pod that names no parent (its place follows from its name). */
  async startSlice(unit: string, r: OciResources | undefined, description: string): Promise<void> {
    expandSlice(unit);
    await this.#start(unit, [
      ['Description', variant('s', description)],
      ['DefaultDependencies', variant('b', false)],
      ['MemoryAccounting', variant('b', true)],
      ['CPUAccounting', variant('b', true)],
      ['TasksAccounting', variant('b', true)],
      ...resourceProperties(r, this.#opts.v2),
    ]);
  }

  /** Stops a unit; one that is not loaded (already gone) is not an error. */
  async stopUnit(unit: string): Promise<void> {
    try {
      await this.#call('StopUnit', 'ss', [unit, 'replace'], `stop unit ${unit}`);
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof DbusError && (cause.name === 'org.freedesktop.systemd1.NoSuchUnit' || cause.name === 'org.freedesktop.systemd1.LoadFailed')) return;
      throw err;
    }
  }

  close(): void {
    void this.#conn?.then((c) => c.close()).catch(() => undefined);
    this.#conn = undefined;
  }
}

/** A D-Bus failure as a CRI error: refusals keep their meaning, the rest is Internal/Unavailable. */
function mapError(err: unknown, what: string): CriError {
  if (err instanceof CriError) return err;
  if (err instanceof DbusError) {
    const msg = `failed to ${what}: ${err.name}${err.message ? `: ${err.message}` : ''}`;
    if (err.name === 'org.freedesktop.systemd1.UnitExists') return new CriError('AlreadyExists', msg, { cause: err });
    if (err.name === 'org.freedesktop.DBus.Error.AccessDenied' || err.name === 'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired') {
      return new CriError('PermissionDenied', msg, { cause: err });
    }
    if (err.name === 'org.freedesktop.DBus.Error.InvalidArgs') return new CriError('InvalidArgument', msg, { cause: err });
    return new CriError('Internal', msg, { cause: err });
  }
  return new CriError('Unavailable', `failed to ${what}: ${(err as Error).message}`, { cause: err });
}
