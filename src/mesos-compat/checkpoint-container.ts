import { randomBytes } from 'node:crypto';
import { copyFile, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { withTimeout, type Ctx } from '../common/ctx';
import { CriError, findCriError } from '../common/errors';
import { isErrno } from '../common/fsutil';
import { log } from '../common/log';
import { ARCHIVE_FILES, writeArchive, writeRootfsDiff } from './checkpoint-archive';
import { provisionerId } from './launch';
import type { Core } from './core';
import { containerDir } from './paths';
import { containerName } from './registrar';
import type { ContainerRecord } from './state';

export interface CheckpointOptions {
  /** Absolute path of the archive to write (kubelet's `/var/lib/kubelet/checkpoints/checkpoint-<pod>_<ns>-<ctr>-<time>.tar`). */
  readonly location: string;
  /** 0: no limit of our own (the call's deadline still applies). */
  readonly timeoutSeconds: number;
}

const rfc3339 = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

/** The archive's target: an absolute path in an existing directory, not a directory itself. */
async function checkLocation(location: string): Promise<void> {
  if (!location) throw new CriError('InvalidArgument', 'failed to checkpoint container: location is required');
  if (!isAbsolute(location)) throw new CriError('InvalidArgument', `failed to checkpoint container: location "${location}" is not an absolute path`);
  const dir = await stat(dirname(location)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new CriError('InvalidArgument', `failed to checkpoint container: the directory of "${location}" does not exist`);
  const target = await lstat(location).catch(() => undefined);
  if (target?.isDirectory()) throw new CriError('InvalidArgument', `failed to checkpoint container: location "${location}" is a directory`);
}

/**
 * CheckpointContainer (KEP-2008, forensic checkpointing): CRIU dumps the
 * running container through the OCI runtime (`checkpoint
 * --leave-running`: it keeps running), then the archive is assembled in
 * the container's dir and renamed into place, so the location holds a
 * whole archive or nothing. `FailedPrecondition` says why when the
 * container is not running or CRIU cannot work on this host.
 */
export async function checkpointContainer(core: Core, c: ContainerRecord, opts: CheckpointOptions, outer: Ctx): Promise<void> {
  if (c.phase !== 'running') throw new CriError('FailedPrecondition', `failed to checkpoint container ${c.id}: it is ${c.phase}, only running containers can be checkpointed`);
  await checkLocation(opts.location);
  const criu = await core.criu.status();
  if (!criu.ok) throw new CriError('FailedPrecondition', `failed to checkpoint container ${c.id}: ${criu.reason}`);
  const ctx = opts.timeoutSeconds > 0 ? withTimeout(outer, opts.timeoutSeconds * 1000) : outer;
  const sb = core.sandbox(c.sandboxId);
  const work = join(containerDir(core.roots, c.sandboxId, c.id), `checkpoint-${randomBytes(6).toString('hex')}`);
  const tmp = join(dirname(opts.location), `.${basename(opts.location)}.${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(work, { mode: 0o700 });
  try {
    await core.deps.runtime.checkpoint(c.id, { imagePath: join(work, 'checkpoint'), workPath: work }, ctx);
    const checkpointedAt = core.deps.clock.nowNanos();
    const config = {
      id: c.id,
      name: containerName(c.config, sb.config),
      rootfsImage: c.image?.ref ?? c.config.image,
      rootfsImageRef: c.image?.repoDigest || c.image?.id || '',
      rootfsImageName: c.image?.ref ?? c.config.image,
      runtime: core.deps.runtime.name,
      createdTime: rfc3339(c.createdAt),
      checkpointedTime: rfc3339(checkpointedAt),
    };
    await writeFile(join(work, 'config.dump'), JSON.stringify(config), { mode: 0o600 });
    await copyFile(join(core.bundleOf(c), 'config.json'), join(work, 'spec.dump'));
    const writable = core.deps.provisioner.writable?.(provisionerId(c));
    if (!writable) throw new CriError('FailedPrecondition', `failed to checkpoint container ${c.id}: its rootfs backend cannot tell its changes`);
    const deleted = await writeRootfsDiff(writable, join(work, 'rootfs-diff.tar'), ctx);
    if (deleted.length > 0) await writeFile(join(work, 'deleted.files'), JSON.stringify(deleted), { mode: 0o600 });
    const present = new Set(await readdir(work));
    await writeArchive(core.deps.exec, work, ARCHIVE_FILES.filter((f) => present.has(f)), tmp, ctx);
    await rename(tmp, opts.location);
    log.info({ containerId: c.id, location: opts.location }, 'wrote checkpoint archive');
  } catch (err) {
    if (ctx.signal.aborted && !outer.signal.aborted) {
      throw new CriError('DeadlineExceeded', `failed to checkpoint container ${c.id}: not done within ${opts.timeoutSeconds}s`, { cause: err });
    }
    throw findCriError(err) ?? (outer.signal.aborted ? err : new CriError('Internal', `failed to checkpoint container ${c.id}`, { cause: err }));
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(tmp, { force: true }).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) log.warn({ err, tmp }, 'failed to remove a partial checkpoint archive');
    });
  }
}
