import { topLevel } from '../../common/container-id';
import type { ContainerEventResponse } from '../../../cri/generated/runtime/v1/ContainerEventResponse';
import type { ContainerEvent } from '../../mesos-compat/events';
import type { SandboxStatus } from '../../mesos-compat/containerizer';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerStatus, podSandboxStatus } from '../translate/cri-status';
import { containerizerOf } from './lookup';

const TYPES = {
  created: 'CONTAINER_CREATED_EVENT',
  started: 'CONTAINER_STARTED_EVENT',
  stopped: 'CONTAINER_STOPPED_EVENT',
  deleted: 'CONTAINER_DELETED_EVENT',
} as const;

/** Events beyond this many unsent ones are dropped: a stalled client must not grow the daemon. */
const MAX_PENDING = 10_000;

/**
 * `GetContainerEvents`: streams lifecycle events as they happen, with the
 * pod's status and its containers' statuses as of sending, until the client
 * cancels.
 */
export const getContainerEvents =
  (deps: ShimDeps): RuntimeHandler<'GetContainerEvents'> =>
  async (_req, send, ctx) => {
    const cz = containerizerOf(deps);
    const pending: ContainerEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = cz.subscribe((e) => {
      if (pending.length < MAX_PENDING) pending.push(e);
      wake?.();
    });
    const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    try {
      while (!ctx.signal.aborted) {
        const e = pending.shift();
        if (!e) {
          await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
          wake = undefined;
          continue;
        }
        let sandbox: SandboxStatus | undefined;
        try {
          sandbox = cz.status(topLevel(e.sandboxId)) as SandboxStatus;
        } catch {
          sandbox = undefined;
        }
        const members = cz.containers({ kind: 'container', sandboxId: e.sandboxId });
        const res: ContainerEventResponse = {
          container_id: e.containerId,
          container_event_type: TYPES[e.type],
          created_at: e.at.toString(),
          pod_sandbox_status: sandbox ? podSandboxStatus(sandbox) : null,
          containers_statuses: members.map((c) => containerStatus(c)),
        };
        await send(res);
      }
    } finally {
      unsubscribe();
    }
  };
