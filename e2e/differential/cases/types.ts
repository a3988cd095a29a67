import type { Wire } from '../support/driver';
import type { PushedImages } from '../support/images';

/** What case builders may use: the images and the host paths shared by both runtimes. */
export interface Kit {
  readonly images: PushedImages;
  /** A host directory for hostPath sources, kubelet's files and seccomp profiles (the same path for both runtimes). */
  readonly hostDir: string;
}

/** One container request, run on both runtimes inside its group's pod. */
export interface CaseSpec {
  /** Unique across the catalogue. */
  readonly name: string;
  /** The CreateContainer config; `<sleeper>` in a `target_id` is replaced by the group's sleeper container. */
  readonly container: (kit: Kit) => Wire;
  /** Reviewed differences this case shows (ids from `exceptions.ts`). */
  readonly exceptions?: readonly string[];
}

/** One pod and the containers run in it. */
export interface GroupSpec {
  readonly name: string;
  /** The RunPodSandbox config, without `log_directory` (each runtime gets its own). */
  readonly pod: (kit: Kit) => Wire;
  readonly cases: readonly CaseSpec[];
  /** Start a long-running container first, for cases that join its pid namespace. */
  readonly sleeper?: boolean;
  /** Reviewed differences of the pod itself. */
  readonly podExceptions?: readonly string[];
}
