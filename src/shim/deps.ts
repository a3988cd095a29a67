import type { Config } from './config';

/**
 * What the RuntimeService and ImageService handlers need, declared by their
 * user (containerd `server/service.go`). `src/main.ts` builds it.
 */
export interface RuntimeReadiness {
  /** `undefined` when ready, else the reason and message of a false condition. */
  network(): { ready: boolean; reason: string; message: string };
}

export interface ShimDeps {
  readonly config: Config;
  readonly version: string;
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  readonly readiness: RuntimeReadiness;
}
