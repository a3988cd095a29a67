import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { background, type Ctx } from '../../src/common/ctx';
import { Mounter } from '../../src/provisioner/backends/mounts';
import { createProvisioner } from '../../src/provisioner/provisioner';
import type { ProvisionerOptions } from '../../src/provisioner/types';

export const ctx: Ctx = background();

/** A provisioner on a fresh temp work dir; `cleanup` unmounts and removes everything. */
export async function tempProvisioner(opts: Partial<ProvisionerOptions> = {}) {
  const workDir = await mkdtemp(join(tmpdir(), 'mesos-cri-prov-'));
  const made = await createProvisioner({
    workDir,
    backend: 'auto',
    mirrors: {},
    insecure: [],
    pullProgressTimeoutSec: 60,
    maxConcurrentDownloads: 3,
    ...opts,
  });
  return {
    ...made,
    workDir,
    cleanup: async (): Promise<void> => {
      await new Mounter().unmountAll(workDir, ctx).catch(() => undefined);
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
