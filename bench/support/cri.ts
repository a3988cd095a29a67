/**
 * The CRI calls benchmarks make, identical for mesos-cri and the reference
 * containerd so both run exactly the same workload: a host-network pod with
 * one busybox container, exec, port-forward, teardown. Timing and memory
 * helpers are re-exported so a bench imports one module.
 */
import { randomBytes } from 'node:crypto';
import type { ImageServiceClient } from '../../cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceClient } from '../../cri/generated/runtime/v1/RuntimeService';
import { codeOf, connectCri, type CriClient } from '../../e2e/support/cri-client';

/** gRPC `NOT_FOUND` (bench code stays free of `@grpc/grpc-js`). */
const NOT_FOUND = 5;

export { mbPerSec, ratio, sample, summarize, timed, type Summary } from './stats';
export { memoryOf, mib, processMemory, pssKiB, rssKiB, type Memory, type ProcessMemory } from './memory';

export interface CriEndpoint {
  readonly runtime: CriClient<RuntimeServiceClient>;
  readonly image: CriClient<ImageServiceClient>;
}

export function connect(socket: string, opts: { authority?: string } = {}): CriEndpoint & { close(): void } {
  const { runtime, image } = connectCri(socket, opts);
  return {
    runtime,
    image,
    close: () => {
      runtime.close();
      image.close();
    },
  };
}

export async function pullImage(cri: CriEndpoint, ref: string): Promise<string> {
  const res = await cri.image.call<{ image_ref: string }>('PullImage', { image: { image: ref } }, 120_000);
  return res.image_ref;
}

export interface PodOptions {
  readonly name: string;
  /** Where the runtime writes container logs (`log_directory`). */
  readonly logDir: string;
}

/**
 * A host-network pod: no CNI involved, so both runtimes do the same work.
 * No `hostname`, as kubelet sends none for host-network pods (the pod shares
 * the node's UTS namespace, and runc refuses to set a hostname there).
 */
export function sandboxConfig(o: PodOptions): Record<string, unknown> {
  const uid = randomBytes(8).toString('hex');
  return {
    metadata: { name: o.name, namespace: 'bench', uid, attempt: 0 },
    log_directory: o.logDir,
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

export interface Pod {
  readonly podId: string;
  readonly containerId: string;
}

export interface ContainerOptions {
  readonly image: string;
  /** Default: `sleep 100000`. */
  readonly command?: readonly string[];
}

export async function runPod(cri: CriEndpoint, pod: PodOptions, ctr: ContainerOptions): Promise<Pod> {
  const config = sandboxConfig(pod);
  const { pod_sandbox_id: podId } = await cri.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
  try {
    const { container_id: containerId } = await cri.runtime.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: podId,
      config: {
        metadata: { name: 'c', attempt: 0 },
        image: { image: ctr.image },
        command: ctr.command ?? ['sleep', '100000'],
        log_path: 'c.log',
      },
      sandbox_config: config,
    });
    await cri.runtime.call('StartContainer', { container_id: containerId });
    return { podId, containerId };
  } catch (err) {
    await removePod(cri, podId).catch(() => undefined);
    throw err;
  }
}

export async function containerState(cri: CriEndpoint, containerId: string): Promise<string> {
  const res = await cri.runtime.call<{ status: { state: string } }>('ContainerStatus', { container_id: containerId });
  return res.status.state;
}

/**
 * Stop then remove, idempotently. containerd 1.6 answers NOT_FOUND to a
 * StopPodSandbox after RemovePodSandbox (kubelet tolerates that), so do we.
 */
export async function removePod(cri: CriEndpoint, podId: string): Promise<void> {
  const gone = (err: unknown): void => {
    if (codeOf(err) !== NOT_FOUND) throw err;
  };
  await cri.runtime.call('StopPodSandbox', { pod_sandbox_id: podId }).catch(gone);
  await cri.runtime.call('RemovePodSandbox', { pod_sandbox_id: podId }).catch(gone);
}

export interface ExecSyncResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

export async function execSync(cri: CriEndpoint, containerId: string, cmd: readonly string[], timeoutSec = 10): Promise<ExecSyncResult> {
  const res = await cri.runtime.call<{ exit_code: number; stdout: Buffer; stderr: Buffer }>('ExecSync', { container_id: containerId, cmd, timeout: timeoutSec }, (timeoutSec + 10) * 1000);
  return { exitCode: res.exit_code, stdout: res.stdout, stderr: res.stderr };
}

/** The streaming URL of an exec session (no stdin, no tty). */
export async function execUrl(cri: CriEndpoint, containerId: string, cmd: readonly string[], io: { stdout: boolean; stderr: boolean }): Promise<string> {
  const res = await cri.runtime.call<{ url: string }>('Exec', { container_id: containerId, cmd, tty: false, stdin: false, ...io });
  return res.url;
}

export async function portForwardUrl(cri: CriEndpoint, podId: string, ports: readonly number[]): Promise<string> {
  const res = await cri.runtime.call<{ url: string }>('PortForward', { pod_sandbox_id: podId, port: ports });
  return res.url;
}
