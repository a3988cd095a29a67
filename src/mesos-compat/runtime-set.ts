import type { Ctx } from '../common/ctx';
import { log } from '../common/log';
import type { OciResources } from './oci/types';
import type { OciRuntime, OciState } from './oci-runtime';

const MAX_PLACED = 8192;

/**
 * The node's named runtime handlers (containerd's `runtimes` map, CRI-O's
 * `runtimes` table) behind the one `OciRuntime` the containerizer holds.
 * Each call goes to the runtime of the pod the container belongs to, as
 * `handlerOf` names it (the handler checkpointed in the sandbox record);
 * an id no record names (an orphan, a half-made container during recovery,
 * one whose record was just dropped) is asked of every runtime, so teardown
 * finds it wherever it lives. With one handler this is that handler.
 */
export class RuntimeSet implements OciRuntime {
  readonly #byName: ReadonlyMap<string, OciRuntime>;
  readonly #default: OciRuntime;
  readonly #placed = new Map<string, OciRuntime>();
  /** Handler of the pod `id` (a container or sandbox id) belongs to; `undefined`: unknown. Set once the containerizer exists. */
  handlerOf: (id: string) => string | undefined = () => undefined;

  /** Every handler runs with `--systemd-cgroup` (the node's cgroup driver is systemd). */
  readonly systemdCgroup: boolean;

  constructor(runtimes: ReadonlyMap<string, OciRuntime>, defaultName: string, systemdCgroup = false) {
    this.systemdCgroup = systemdCgroup;
    const def = runtimes.get(defaultName);
    if (!def) throw new Error(`runtime handler ${JSON.stringify(defaultName)} is not configured`);
    this.#byName = runtimes;
    this.#default = def;
  }

  get name(): string {
    return this.#default.name;
  }

  get path(): string {
    return this.#default.path;
  }

  get root(): string {
    return this.#default.root;
  }

  /** Every handler name, the default first. */
  names(): string[] {
    const def = [...this.#byName].find(([, r]) => r === this.#default)![0];
    return [def, ...[...this.#byName.keys()].filter((n) => n !== def)];
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /**
   * The runtime of `id`'s pod; `undefined` when no record names one and no
   * earlier call or `list` placed it (callers then ask them all). Placements
   * are remembered until a delete finds nothing left, so the teardown that follows a
   * record's removal (`tombstones.ts`) still goes to the right runtime.
   */
  #known(id: string): OciRuntime | undefined {
    const name = this.handlerOf(id);
    if (name === undefined) return this.#placed.get(id);
    let rt = name === '' ? this.#default : this.#byName.get(name);
    if (!rt) {
      log.warn({ id, handler: name }, 'the pod\'s runtime handler is no longer configured; using the default');
      rt = this.#default;
    }
    if (this.#byName.size > 1) this.#place(id, rt);
    return rt;
  }

  /** Remembers where `id` lives; the oldest placements go past `MAX_PLACED` (a miss only costs asking every runtime). */
  #place(id: string, rt: OciRuntime): void {
    this.#placed.delete(id);
    this.#placed.set(id, rt);
    if (this.#placed.size > MAX_PLACED) this.#placed.delete(this.#placed.keys().next().value!);
  }

  /** The runtime `id` is (to be) created with: the conmon side (`-r`, `--root`). */
  for(id: string): OciRuntime {
    return this.#known(id) ?? this.#default;
  }

  #distinct(): OciRuntime[] {
    const seen = new Set<string>();
    return [...new Set(this.#byName.values())].filter((r) => {
      const key = `${r.path}\0${r.root}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  start(id: string, ctx: Ctx): Promise<void> {
    return this.for(id).start(id, ctx);
  }

  async state(id: string, ctx: Ctx): Promise<OciState | undefined> {
    const rt = this.#known(id);
    if (rt) return rt.state(id, ctx);
    for (const r of this.#distinct()) {
      const st = await r.state(id, ctx);
      if (st) return st;
    }
    return undefined;
  }

  async list(ctx: Ctx): Promise<OciState[]> {
    const runtimes = this.#distinct();
    const lists = await Promise.all(runtimes.map((r) => r.list(ctx)));
    if (runtimes.length > 1) lists.forEach((l, i) => l.forEach((st) => this.#placed.has(st.id) || this.#place(st.id, runtimes[i]!)));
    return lists.flat();
  }

  async kill(id: string, signal: string, ctx: Ctx, opts?: { all?: boolean }): Promise<boolean> {
    const rt = this.#known(id);
    if (rt) return rt.kill(id, signal, ctx, opts);
    for (const r of this.#distinct()) if (await r.kill(id, signal, ctx, opts)) return true;
    return false;
  }

  async delete(id: string, ctx: Ctx): Promise<boolean> {
    const rt = this.#known(id);
    if (rt) {
      const gone = await rt.delete(id, ctx);
      // Teardown deletes more than once (`tombstones.ts`): forget the id once nothing was left.
      if (!gone) this.#placed.delete(id);
      return gone;
    }
    let any = false;
    for (const r of this.#distinct()) any = (await r.delete(id, ctx)) || any;
    return any;
  }

  update(id: string, resources: OciResources, ctx: Ctx): Promise<void> {
    return this.for(id).update(id, resources, ctx);
  }

  checkpoint(id: string, opts: { imagePath: string; workPath: string }, ctx: Ctx): Promise<void> {
    return this.for(id).checkpoint(id, opts, ctx);
  }
}
