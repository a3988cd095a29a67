import type { Duplex } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { sessionOpened } from '../../common/metrics';
import { ConmonMonitor } from '../conmon';
import type { ContainerStatus, SandboxStatus } from '../containerizer';
import { chooseRuntime, type ContainerizerOptions } from '../index';
import type { MesosContainerizer } from '../mesos-containerizer';
import { exitsDir, runtimeRoot, socketsDir } from '../paths';
import { attachSession } from './attach-session';
import { execSession } from './exec-session';
import { portForwardSession } from './port-forward-session';
import type { SessionIO } from './session-io';

/**
 * The IO switchboard's session side (Mesos DEBUG container sessions and
 * `ATTACH_CONTAINER_*`): exec, attach and port-forward against the
 * containerizer's live containers. The streaming server calls it through its
 * `StreamRuntime` interface, which this class satisfies structurally.
 */
/** Port-forward connections (one helper process each) open at once, node-wide. */
export const MAX_PORT_FORWARDS = 128;

export class ContainerSessions {
  readonly #cz: MesosContainerizer;
  #portForwards = 0;
  readonly #runtime: { path: string; root: string };
  readonly #monitor: Pick<ConmonMonitor, 'attachSocket' | 'controlFifo'>;

  constructor(opts: ContainerizerOptions, containerizer: MesosContainerizer) {
    const roots = { workDir: opts.workDir, runDir: opts.runDir };
    const rt = chooseRuntime(opts.runtime);
    this.#runtime = { path: rt.path, root: opts.runtime.root || runtimeRoot(roots) };
    this.#monitor = new ConmonMonitor({ path: opts.conmon, runtime: this.#runtime, exitDir: exitsDir(roots), socketDir: socketsDir(roots) });
    this.#cz = containerizer;
  }

  /** A running container, or the CRI error kubelet should see. */
  #running(containerId: string): ContainerStatus {
    const id = this.#cz.lookup(containerId);
    const st = id?.parent ? (this.#cz.status(id) as ContainerStatus) : undefined;
    if (!st) throw new CriError('NotFound', `container ${JSON.stringify(containerId)} not found`);
    if (st.state !== 'running') throw new CriError('FailedPrecondition', `container ${JSON.stringify(containerId)} is not running`);
    return st;
  }

  async exec(containerId: string, cmd: readonly string[], io: SessionIO, ctx: Ctx): Promise<number> {
    const st = this.#running(containerId);
    const { helper, plan } = await this.#cz.execTarget(st.id);
    const closed = sessionOpened('exec');
    return execSession({ helper, plan, containerId: st.id, cmd }, io, ctx).finally(closed);
  }

  async attach(containerId: string, io: SessionIO, ctx: Ctx): Promise<void> {
    const st = this.#running(containerId);
    const bundle = this.#cz.bundleOf(st.id);
    const closed = sessionOpened('attach');
    await attachSession(
      { attachSocket: this.#monitor.attachSocket(bundle), ctlFifo: this.#monitor.controlFifo(bundle), tty: st.config.tty, stdinOnce: st.config.stdinOnce },
      io,
      ctx,
    ).finally(closed);
  }

  async portForward(sandboxId: string, port: number, stream: Duplex, ctx: Ctx): Promise<void> {
    const id = this.#cz.lookup(sandboxId);
    const st = id && !id.parent ? (this.#cz.status(id) as SandboxStatus) : undefined;
    if (!st) throw new CriError('NotFound', `pod sandbox ${JSON.stringify(sandboxId)} not found`);
    if (st.state !== 'ready') throw new CriError('FailedPrecondition', `pod sandbox ${JSON.stringify(sandboxId)} is not ready`);
    // Each connection is a helper process: a client opening streams in a loop must not fork the node to death.
    if (this.#portForwards >= MAX_PORT_FORWARDS) {
      throw new CriError('ResourceExhausted', `failed to forward port ${port}: ${MAX_PORT_FORWARDS} port-forward connections are already open`);
    }
    this.#portForwards++;
    const closed = sessionOpened('port_forward');
    await portForwardSession({ netnsPath: st.hostNetwork ? undefined : st.netnsPath, port }, stream, ctx).finally(() => {
      this.#portForwards--;
      closed();
    });
  }
}
