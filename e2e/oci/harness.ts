import { spawn } from 'node:child_process';
import { copyFile, mkdir, open, readFile, readdir, rmdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { background, withTimeout } from '../../src/common/ctx';
import { exec, type ExecResult } from '../../src/common/exec';
import { exists } from '../../src/common/fsutil';
import type { OciSpec } from '../../src/mesos-compat/oci/types';

/** Helpers for driving real runc with generated specs; everything they make is cleaned by `Harness.cleanup`. */

const ctx = () => withTimeout(background(), 60_000);

/** A bundle directory holding `config.json`. */
export async function writeBundle(dir: string, spec: OciSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

/** A busybox rootfs: the static binary, a symlink per applet, and the given passwd/group files. */
export async function busyboxRootfs(dir: string, etc: { passwd: string; group: string }): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  const list = (await exec('/bin/busybox', ['--list'], ctx())).stdout.toString().split('\n').filter((a) => /^[\w.-]+$/.test(a));
  for (const applet of list) if (applet !== 'busybox') await symlink('busybox', join(dir, 'bin', applet));
  await writeFile(join(dir, 'etc/passwd'), etc.passwd);
  await writeFile(join(dir, 'etc/group'), etc.group);
  return dir;
}

export class Harness {
  readonly #ids: string[] = [];
  readonly #netns: string[] = [];

  constructor(readonly runcRoot: string, readonly cgroupParent: string) {}

  async runc(args: readonly string[], opts: { check?: boolean } = {}): Promise<ExecResult> {
    return exec('runc', ['--root', this.runcRoot, ...args], ctx(), { check: opts.check ?? true });
  }

  /**
   * `runc run -d`: the container inherits runc's stdio, so it gets files, not
   * pipes (a pipe would stay open for the container's whole life).
   */
  async runDetached(id: string, bundle: string): Promise<number> {
    this.#ids.push(id);
    const out = await open(join(bundle, 'runc.out'), 'w');
    const pidFile = join(bundle, 'pid');
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn('runc', ['--root', this.runcRoot, 'run', '-d', '--pid-file', pidFile, '-b', bundle, id], {
          stdio: ['ignore', out.fd, out.fd],
        });
        child.on('error', reject);
        child.on('exit', (c) => resolve(c ?? -1));
      });
      if (code !== 0) throw new Error(`runc run -d ${id} exited ${code}: ${await readFile(join(bundle, 'runc.out'), 'utf8')}`);
    } finally {
      await out.close();
    }
    return Number((await readFile(pidFile, 'utf8')).trim());
  }

  /** Registers a container made some other way (e.g. under conmon) for `cleanup`. */
  track(id: string): void {
    this.#ids.push(id);
  }

  /** `runc run` in the foreground: returns what the container printed and its exit code. */
  async runForeground(id: string, bundle: string): Promise<ExecResult> {
    this.#ids.push(id);
    const res = await exec('runc', ['--root', this.runcRoot, 'run', '-b', bundle, id], ctx(), { check: false });
    await this.runc(['delete', '-f', id], { check: false });
    return res;
  }

  /** A fresh network namespace pinned on a file (what CNI's netns pinning produces). */
  async pinNetns(file: string): Promise<string> {
    await writeFile(file, '');
    this.#netns.push(file);
    await exec('unshare', [`--net=${file}`, 'true'], ctx());
    return file;
  }

  /** Idempotent; tolerates anything half-made. */
  async cleanup(): Promise<void> {
    for (const id of this.#ids.reverse()) await this.runc(['delete', '-f', id], { check: false }).catch(() => undefined);
    for (const file of this.#netns) await exec('umount', [file], background(), { check: false }).catch(() => undefined);
    await removeCgroupTree(this.cgroupParent);
  }
}

/** Removes `/sys/fs/cgroup/<hierarchy>/<parent>` bottom-up in every hierarchy (cgroupfs only allows rmdir). */
export async function removeCgroupTree(parent: string): Promise<void> {
  for (const hierarchy of await readdir('/sys/fs/cgroup')) {
    const top = join('/sys/fs/cgroup', hierarchy, parent);
    if (await exists(top)) await rmdirTree(top);
  }
}

async function rmdirTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await rmdirTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}

export async function cgroupExists(parent: string): Promise<boolean> {
  return exists(join('/sys/fs/cgroup/memory', parent));
}
