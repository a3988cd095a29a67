import type { Duplex } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { sessionOpened } from '../../common/metrics';
import { attachSession } from './attach-session';
import { execSession } from './exec-session';
import { portForwardSession } from './port-forward-session';
import type { SessionIO } from './session-io';
import type { IoTargets } from './targets';

/** Port-forward connections (one helper process each) open at once, node-wide. */
export const MAX_PORT_FORWARDS = 128;

export interface ContainerSessionsOptions {
  /** Default `MAX_PORT_FORWARDS`. */
  readonly maxPortForwards?: number;
}

/**
 * The IO switchboard's session side (Mesos DEBUG container sessions and
 * `ATTACH_CONTAINER_*`): exec, attach and port-forward against the
 * containerizer's live containers, which it reaches only through `IoTargets`.
 * The streaming server calls it through its `StreamRuntime` interface, which
 * this class satisfies structurally.
 */
export class ContainerSessions {
  readonly #targets: IoTargets;
  readonly #maxPortForwards: number;
  #portForwards = 0;

  constructor(targets: IoTargets, opts: ContainerSessionsOptions = {}) {
    this.#targets = targets;
    this.#maxPortForwards = opts.maxPortForwards ?? MAX_PORT_FORWARDS;
  }

  async exec(containerId: string, cmd: readonly string[], io: SessionIO, ctx: Ctx): Promise<number> {
    const { containerId: id, helper, plan, spawner } = await this.#targets.execTarget(containerId);
    const closed = sessionOpened('exec');
    return execSession({ helper, plan, containerId: id, cmd, spawner }, io, ctx).finally(closed);
  }

  async attach(containerId: string, io: SessionIO, ctx: Ctx): Promise<void> {
    const t = await this.#targets.attachTarget(containerId);
    const closed = sessionOpened('attach');
    await attachSession({ attachSocket: t.attachSocket, ctlFifo: t.ctlFifo, tty: t.tty, stdinOnce: t.stdinOnce }, io, ctx).finally(closed);
  }

  async portForward(sandboxId: string, port: number, stream: Duplex, ctx: Ctx): Promise<void> {
    const { netnsPath } = await this.#targets.portForwardTarget(sandboxId);
    // Each connection is a helper process: a client opening streams in a loop must not fork the node to death.
    if (this.#portForwards >= this.#maxPortForwards) {
      throw new CriError('ResourceExhausted', `failed to forward port ${port}: ${this.#maxPortForwards} port-forward connections are already open`);
    }
    this.#portForwards++;
    const closed = sessionOpened('port_forward');
    await portForwardSession({ netnsPath, port }, stream, ctx).finally(() => {
      this.#portForwards--;
      closed();
    });
  }
}
