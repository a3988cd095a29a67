/**
 * OCI runtime-spec generation for the containerizer: pure translation of
 * our domain configs (`../config.ts`) into `config.json`, plus the security
 * defaults (capabilities, masked paths, seccomp) it applies. Nothing here
 * starts processes or mounts anything; the only disk writes are image
 * volume directories inside a container's own rootfs and the directories of
 * missing hostPath sources (as containerd creates them).
 */
export { buildSandboxSpec, checkSandboxConfig, INFRA_PATH, type SandboxSpecInput } from './sandbox-spec';
export { buildContainerSpec, type ContainerSpecInput } from './container-spec';
export type { ImageConfig } from './image-config';
export type { SandboxFiles } from './mounts';
export { ANNOTATION, CONTAINER_TYPE } from './annotations';
export { clampOomScoreAdj, ownOomScoreAdj } from './resources';
export { resolveInRoot } from './rootfs-path';
export { runtimeDefaultSeccomp } from './seccomp';
export * from './types';
