import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { idString, type ContainerId } from '../../src/common/container-id';
import { CriError } from '../../src/common/errors';
import type { ProvisionedImage, RootfsProvisioner } from '../../src/mesos-compat/rootfs-provisioner';
import type { ImageConfig } from '../../src/mesos-compat/oci/image-config';

export const BUSYBOX = '/bin/busybox';

/**
 * A stand-in provisioner for containerizer tests that must not depend on the
 * registry: each "image" is a tiny rootfs with the static busybox and its
 * applets, copied per container. The daemon-level tests use the real one.
 */
export class BusyboxProvisioner implements RootfsProvisioner {
  readonly images = new Map<string, Partial<ImageConfig>>([['busybox', {}]]);
  readonly destroyed: string[] = [];
  constructor(readonly dir: string) {}

  async recover(known: readonly ContainerId[]): Promise<void> {
    const keep = new Set(known.map(idString));
    for (const name of existsSync(this.dir) ? readdirSync(this.dir) : []) if (!keep.has(name)) rmSync(join(this.dir, name), { recursive: true, force: true });
  }

  async provision(id: ContainerId, image: string): Promise<{ rootfs: string; image: ProvisionedImage }> {
    const cfg = this.images.get(image);
    if (!cfg) throw new CriError('NotFound', `image "${image}" not found`);
    const rootfs = join(this.dir, idString(id));
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await mkdir(join(rootfs, 'tmp'), { recursive: true, mode: 0o1777 });
    await copyFile('/usr/bin/busybox', join(rootfs, 'bin', 'busybox'));
    for (const a of ['sh', 'sleep', 'cat', 'echo', 'id', 'ls', 'true', 'false', 'touch', 'dd', 'head', 'tail', 'yes']) {
      execFileSync('ln', ['-sf', 'busybox', join(rootfs, 'bin', a)]);
    }
    writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\nuser:x:1000:1000:u:/:/bin/sh\n');
    writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\nusers:x:100:user\nuser:x:1000:\n');
    const config: ImageConfig = { user: '', env: ['PATH=/bin'], entrypoint: [], cmd: ['sh'], workingDir: '', volumes: [], stopSignal: '', labels: {}, exposedPorts: [], ...cfg };
    return { rootfs, image: { id: `sha256:${'0'.repeat(64)}`, repoTags: [`${image}:latest`], repoDigests: [], config } };
  }

  async destroy(id: ContainerId): Promise<boolean> {
    const p = join(this.dir, idString(id));
    const had = existsSync(p);
    await rm(p, { recursive: true, force: true });
    this.destroyed.push(idString(id));
    return had;
  }

  async pruneImages(): Promise<void> {}

  async usage(): Promise<{ bytes: bigint; inodes: bigint }> {
    return { bytes: 4096n, inodes: 1n };
  }
}

export function tempBase(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Mounts under `dir` (from our mountinfo), for leak checks. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(dir));
}

export function cgroupExists(path: string): boolean {
  return existsSync(join('/sys/fs/cgroup/memory', path)) || existsSync(join('/sys/fs/cgroup/cpu', path)) || existsSync(join('/sys/fs/cgroup', path, 'cgroup.procs'));
}

export function ensureDir(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}

/** An OCI bundle in `dir` (made by `runc spec`) whose process is a bind-mounted `catatonit -P`, running until killed. */
export function catatonitBundle(dir: string): string {
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  execFileSync('runc', ['spec', '-b', dir]);
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/catatonit', '-P'];
  spec.root = { path: join(dir, 'rootfs'), readonly: true };
  spec.mounts.push({ destination: '/catatonit', type: 'bind', source: '/usr/bin/catatonit', options: ['rbind', 'ro'] });
  writeFileSync(join(dir, 'rootfs', 'catatonit'), '');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

/** Every path below `dir`, relative to it, sorted; `[]` when `dir` does not exist. */
export function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (p: string): void => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const child = join(p, e.name);
      out.push(relative(dir, child));
      if (e.isDirectory()) walk(child);
    }
  };
  walk(dir);
  return out.sort();
}
