import type { Ctx } from '../common/ctx';
import type { ContainerSpecInput } from './oci/container-spec';
import type { SandboxSpecInput } from './oci/sandbox-spec';
import type { OciSpec } from './oci/types';

// The inputs are the `oci/` builders' own types: one definition, no drift.
export type { ContainerSpecInput } from './oci/container-spec';
export type { SandboxSpecInput } from './oci/sandbox-spec';

/**
 * The OCI spec generator, injected so the containerizer does not depend on
 * how specs are made (the composition root passes `oci/`'s builders).
 */
export interface SpecBuilder {
  sandbox(input: SandboxSpecInput): OciSpec;
  container(input: ContainerSpecInput, ctx: Ctx): Promise<OciSpec>;
}
