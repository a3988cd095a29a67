import type { Containerizer } from '../mesos-compat/containerizer';
import type { Config } from './config';
import type { ImageStoreView } from './image/store';

/**
 * What the RuntimeService and ImageService handlers need, declared by their
 * user (containerd `server/service.go`). `src/main.ts` builds it.
 */
export interface RuntimeReadiness {
  /** `undefined` when ready, else the reason and message of a false condition. */
  network(): { ready: boolean; reason: string; message: string };
}

/** The streaming server's URL side (`src/streaming/server.ts`). */
export interface StreamingUrls {
  getExec(req: { containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): string;
  getAttach(req: { containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): string;
  getPortForward(req: { podSandboxId: string; ports: number[] }): string;
  /** The base URL once started (reported by `Status` verbose, `mesos-cri status`). */
  readonly url?: string;
}

export interface ShimDeps {
  readonly config: Config;
  readonly version: string;
  /** The default runtime handler's name. */
  readonly runtimeName: string;
  /** Every runtime handler RunPodSandbox accepts, the default first; absent: `runtimeName` alone. */
  readonly runtimeHandlers?: readonly string[];
  readonly runtimeVersion: string;
  readonly readiness: RuntimeReadiness;
  /**
   * The containerizer behind the RuntimeService lifecycle RPCs (built by
   * `createContainerizer` in `src/mesos-compat`, recovered before serving).
   * Optional only so the daemon can be composed without one; those RPCs
   * then answer UNAVAILABLE.
   */
  readonly containerizer?: Containerizer;
  /** Issues Exec/Attach/PortForward URLs; those RPCs answer UNAVAILABLE without it. */
  readonly streaming?: StreamingUrls;
  /** The image store, for the image names ContainerStatus reports (without it: the created-with name). */
  readonly images?: Pick<ImageStoreView, 'resolve'>;
}
