import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CriError } from '../common/errors';
import type { OciResources } from './oci/types';
import type { InfraLauncher, InfraPlanInput, InfraProcess } from './infra';
import type { OciRuntime, OciState } from './oci-runtime';

type Op = 'start' | 'state' | 'list' | 'kill' | 'delete' | 'update' | 'checkpoint';

/**
 * A hand-written `OciRuntime` for unit tests (STYLE.md 17): records calls,
 * fails the next call of an operation on demand, and keeps states in memory.
 * `create` has no CLI counterpart here (the monitor does it): tests call
 * `created(id)` to stand in for it.
 */
export class FakeOciRuntime implements OciRuntime {
  readonly name = 'fake';
  readonly path = '/bin/false';
  readonly root = '/nonexistent';
  readonly calls: string[] = [];
  readonly failNext = new Map<Op, Error>();
  readonly updates = new Map<string, OciResources>();
  readonly #states = new Map<string, { status: OciState['status']; pid: number; bundle: string }>();
  #nextPid = 1000;

  created(id: string, bundle = '/bundle'): number {
    const pid = this.#nextPid++;
    this.#states.set(id, { status: 'created', pid, bundle });
    return pid;
  }

  #step(op: Op, id: string): void {
    this.calls.push(`${op} ${id}`.trim());
    const err = this.failNext.get(op);
    if (err) {
      this.failNext.delete(op);
      throw err;
    }
  }

  async start(id: string): Promise<void> {
    this.#step('start', id);
    const s = this.#states.get(id);
    if (!s) throw new CriError('NotFound', `container ${id} does not exist`);
    if (s.status !== 'created') throw new Error(`cannot start a container in state ${s.status}`);
    s.status = 'running';
  }

  async state(id: string): Promise<OciState | undefined> {
    this.#step('state', id);
    const s = this.#states.get(id);
    return s ? { id, ...s } : undefined;
  }

  async list(): Promise<OciState[]> {
    this.#step('list', '');
    return [...this.#states].map(([id, s]) => ({ id, ...s }));
  }

  async kill(id: string, signal: string): Promise<boolean> {
    this.#step('kill', `${id} ${signal}`);
    const s = this.#states.get(id);
    if (!s || s.status === 'stopped') return false;
    if (signal === 'SIGKILL' || signal === 'KILL' || signal === '9') s.status = 'stopped';
    return true;
  }

  async delete(id: string): Promise<boolean> {
    this.#step('delete', id);
    return this.#states.delete(id);
  }

  async update(id: string, resources: OciResources): Promise<void> {
    this.#step('update', id);
    if (!this.#states.has(id)) throw new CriError('NotFound', `container ${id} does not exist`);
    this.updates.set(id, resources);
  }

  /** Writes an image file as CRIU would, and leaves the container as it was. */
  async checkpoint(id: string, opts: { imagePath: string; workPath: string }): Promise<void> {
    this.#step('checkpoint', id);
    if (this.#states.get(id)?.status !== 'running') throw new CriError('FailedPrecondition', `container ${id} is not running`);
    await mkdir(opts.imagePath, { recursive: true });
    await writeFile(join(opts.imagePath, 'inventory.img'), 'fake criu image');
    await writeFile(join(opts.workPath, 'dump.log'), 'fake dump log\n');
  }

  /** Test hook: the container's process exits on its own. */
  exit(id: string): void {
    const s = this.#states.get(id);
    if (s) s.status = 'stopped';
  }
}


/**
 * A hand-written `InfraLauncher` for unit tests: records calls, fails the
 * next start on demand, and hands out pids nothing else uses (never
 * signalled: `kill` only forgets them).
 */
export class FakeInfraLauncher implements InfraLauncher {
  readonly calls: string[] = [];
  failNext: Error | undefined;
  readonly #live = new Set<number>();
  #nextPid = 500_000;

  async start(input: InfraPlanInput): Promise<InfraProcess> {
    this.calls.push(`start ${input.bundle}`);
    const err = this.failNext;
    this.failNext = undefined;
    if (err) throw err;
    const pid = this.#nextPid++;
    this.#live.add(pid);
    return { pid, startTime: '1' };
  }

  alive(p: InfraProcess): boolean {
    return this.#live.has(p.pid);
  }

  async kill(p: InfraProcess): Promise<void> {
    if (this.#live.delete(p.pid)) this.calls.push(`kill ${p.pid}`);
  }
}
