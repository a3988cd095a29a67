import type { Ctx } from '../common/ctx';
import type { ContainerConfig, SandboxConfig } from './config';
import type { ImageConfig } from './oci/image-config';
import type { OciSpec } from './oci/types';
import type { SandboxFiles } from './state';

/** What the sandbox's OCI spec is built from (`oci/` `buildSandboxSpec`). */
export interface SandboxSpecInput {
  readonly id: string;
  readonly config: SandboxConfig;
  readonly rootfs: string;
  readonly infraPath: string;
  readonly netnsPath?: string;
  readonly files: SandboxFiles;
  readonly cgroupsPath: string;
  readonly oomScoreAdjFloor: number;
}

/** What a nested container's OCI spec is built from (`oci/` `buildContainerSpec`). */
export interface ContainerSpecInput {
  readonly id: string;
  readonly config: ContainerConfig;
  readonly image: ImageConfig;
  readonly rootfs: string;
  readonly sandbox: {
    readonly id: string;
    readonly config: SandboxConfig;
    readonly infraPid: number;
    readonly files: SandboxFiles;
    readonly hostNetwork: boolean;
  };
  /** Pid of the container whose pid namespace is joined (`NamespaceMode` TARGET). */
  readonly targetPid?: number;
  readonly cgroupsPath: string;
  readonly oomScoreAdjFloor: number;
}

/**
 * The OCI spec generator, injected so the containerizer does not depend on
 * how specs are made (the composition root passes `oci/`'s builders).
 */
export interface SpecBuilder {
  sandbox(input: SandboxSpecInput): OciSpec;
  container(input: ContainerSpecInput, ctx: Ctx): Promise<OciSpec>;
}
