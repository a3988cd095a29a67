import { readFileSync } from 'node:fs';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import { log } from '../common/log';
import type { Core } from './core';
import { infraProcessOf } from './infra';
import { parseSignal } from './signals';
import { stopwatch } from './stopwatch';
import { unmade, type ContainerRecord, type SandboxRecord } from './state';

// Destroy (Mesos `destroy`, CRI StopPodSandbox and StopContainer): a
// sandbox's and a container's stop, side by side.

const stopSignalOf = (c: ContainerRecord): string => parseSignal(c.config.stopSignal || c.image?.config.stopSignal || '') ?? 'SIGTERM';

/**
 * StopPodSandbox: its containers are killed, then the infra process and
 * what the isolators hold (`cleanupSandbox`); records stay for
 * RemovePodSandbox. Idempotent. Called under the sandbox's lock.
 */
export async function stopSandbox(core: Core, sb: SandboxRecord, ctx: Ctx): Promise<void> {
  for (const c of [...core.containers.values()].filter((x) => x.sandboxId === sb.id)) {
    await core.containerLock(c.id, () => stopContainer(core, c, { timeoutSeconds: 0 }, ctx));
  }
  // A stopped sandbox was cleaned up before it was marked stopped.
  if (sb.phase === 'stopped') return;
  await cleanupSandbox(core, sb, ctx);
  sb.phase = 'stopped';
  await core.saveSandbox(sb);
  core.emit('stopped', sb.id, sb.id);
}

/**
 * Waits until the container exited or `ms` passed: woken by the exit
 * watcher's event (conmon's exit file, through inotify), polling the
 * monitor's exit record behind it in case an event is lost.
 */
async function waitExit(core: Core, c: ContainerRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let wake: (() => void) | undefined;
  const off = core.events.subscribe((e) => {
    if (e.type === 'stopped' && e.containerId === c.id) wake?.();
  });
  try {
    for (let step = 10; ; step = Math.min(step * 2, 100)) {
      if (await core.refreshExit(c)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(step, Math.max(1, deadline - Date.now())));
      });
    }
  } finally {
    off();
  }
}

/**
 * True while `pid` is in the container's own cgroup (a pid the kernel
 * recycled is not): then it is still the container's process to signal.
 */
function stillIn(c: ContainerRecord, pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .some((l) => l.endsWith(`:${c.cgroupsPath}`));
  } catch {
    return false;
  }
}

/**
 * Sends `signal` to the container's init, as `runtime kill` does, without
 * a runtime process while the init is provably still the container's;
 * `all` (SIGKILL only): to every process in the container's cgroup, as
 * `runtime kill --all`, twice, so a child forked between the first read and
 * its parent's death is in the second. What might still slip through dies
 * with the runtime's delete, which signals the whole cgroup too.
 */
async function signalContainer(core: Core, c: ContainerRecord, signal: string, ctx: Ctx, all = false): Promise<boolean> {
  if (c.pid !== undefined && (!all || signal === 'SIGKILL') && stillIn(c, c.pid)) {
    try {
      if (!all) process.kill(c.pid, signal as NodeJS.Signals);
      else for (let round = 0; round < 2; round++) await core.deps.cgroups.killAll(c.cgroupsPath);
      return true;
    } catch {
      // Gone meanwhile, or a signal Node cannot name: the runtime says what is left.
    }
  }
  return core.deps.runtime.kill(c.id, signal, ctx, all ? { all: true } : {});
}

/**
 * StopContainer: the stop signal, then SIGKILL to every process after the
 * grace period (api.proto `StopContainerRequest.timeout`). Idempotent.
 */
export async function stopContainer(core: Core, c: ContainerRecord, opts: { timeoutSeconds: number; signal?: string }, ctx: Ctx): Promise<void> {
  if (c.phase !== 'created' && c.phase !== 'running') return;
  // Not made in the runtime yet (StartContainer makes it): nothing runs, and
  // the container stays CREATED, as containerd leaves a container without a task.
  if (unmade(c)) return;
  if (await core.refreshExit(c)) return;
  const rt = core.deps.runtime;
  if (opts.timeoutSeconds > 0 && c.phase === 'running') {
    // Nothing about the stop signal may keep the SIGKILL from coming.
    const sent = await signalContainer(core, c, (opts.signal && parseSignal(opts.signal)) ?? stopSignalOf(c), ctx).catch((err: unknown) => {
      log.warn({ containerId: c.id, err }, 'the stop signal could not be sent; killing');
      return false;
    });
    if (sent && (await waitExit(core, c, opts.timeoutSeconds * 1000))) return core.sweeper.exited(c.id);
  }
  await signalContainer(core, c, 'SIGKILL', ctx, true);
  if (await waitExit(core, c, 30_000)) return core.sweeper.exited(c.id);
  // The monitor died without recording an exit: trust the runtime.
  const st = await rt.state(c.id, ctx);
  if (st && st.status !== 'stopped') throw new CriError('Internal', `failed to stop container ${c.id}: still ${st.status} after SIGKILL`);
  core.markExited(c, { code: 137, at: core.deps.clock.nowNanos(), reason: 'Error', message: 'the container monitor did not record an exit status' });
  await core.saveContainer(c);
}

/**
 * Tears down what a sandbox holds on the host (infra process, then the
 * isolators in reverse: cgroups, network, shm) without touching its
 * containers or records. Idempotent.
 */
export async function cleanupSandbox(core: Core, rec: SandboxRecord, ctx: Ctx): Promise<void> {
  const lap = stopwatch();
  if (rec.infraPid) await core.deps.infra.kill(infraProcessOf(rec));
  lap('infra');
  await core.isolators.cleanup(rec, ctx, { done: (iso) => lap(iso.name) });
  if (log.trace('lifecycle')) log.info({ sandboxId: rec.id, ms: lap.totals() }, 'sandbox cleanup timings');
}
