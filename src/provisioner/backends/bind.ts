import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { Backend, LayerRef } from './backend';
import { Mounter, mountsUnder } from './mounts';

/** Mesos `BindBackend`: a single-layer image bind-mounted read-only. */
export class BindBackend implements Backend {
  readonly name = 'bind' as const;

  constructor(private readonly mounter = new Mounter()) {}

  writable(dir: string): string {
    return join(dir, 'rootfs');
  }

  async provision(layers: readonly LayerRef[], dir: string, ctx: Ctx): Promise<string> {
    if (layers.length !== 1)
      throw new CriError('FailedPrecondition', `failed to provision rootfs: the bind backend supports single-layer images only (image has ${layers.length})`);
    const rootfs = join(dir, 'rootfs');
    if ((await mountsUnder(rootfs)).includes(rootfs)) return rootfs;
    await mkdir(rootfs, { recursive: true });
    await this.mounter.mount(['--bind', layers[0]!.rootfs, rootfs], ctx);
    await this.mounter.mount(['-o', 'remount,bind,ro', rootfs], ctx);
    return rootfs;
  }

  destroy(dir: string, ctx: Ctx): Promise<boolean> {
    return this.mounter.destroyBackendDir(dir, ctx);
  }
}
