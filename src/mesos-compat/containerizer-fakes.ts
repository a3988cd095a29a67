import { idString, type ContainerId } from '../common/container-id';
import { CriError } from '../common/errors';
import type { ContainerConfig, SandboxConfig, SecurityContext } from './launch-config';
import type { FakeOciRuntime } from './fake-oci-runtime';
import type { Cgroups } from './isolators/cgroups';
import type { ExitStatus, Monitor } from './monitor';
import { securityContext } from './oci/test-fixtures';
import type { RootfsProvisioner } from './rootfs-provisioner';

/** Fakes and request builders for the MesosContainerizer unit tests. */
export const sec = (network: 'node' | 'pod' = 'node'): SecurityContext =>
  securityContext({ namespaces: { network, pid: 'container', ipc: 'pod', targetId: '' } });
export const sandbox = (name: string, network: 'node' | 'pod' = 'node'): SandboxConfig => ({
  name, namespace: 'ns', uid: `u-${name}`, attempt: 0, hostname: name, logDirectory: '/logs', portMappings: [], labels: {}, annotations: {},
  cgroupParent: '/kubepods/pod1', sysctls: {}, security: sec(network), runtimeHandler: '',
});
export const container = (name: string, image = 'img'): ContainerConfig => ({
  name, attempt: 0, image, command: ['sh'], args: [], workingDir: '', envs: [], mounts: [], devices: [], labels: {}, annotations: {},
  logPath: '', stdin: false, stdinOnce: false, tty: false, security: sec(), stopSignal: '',
});

export class FakeMonitor implements Monitor {
  readonly exits = new Map<string, ExitStatus>();
  failNext: Error | undefined;
  constructor(private readonly runtime: FakeOciRuntime) {}
  async create(req: { id: string; bundle: string }): Promise<{ pid: number }> {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    return { pid: this.runtime.created(req.id, req.bundle) };
  }
  async exitStatus(req: { persistDir: string }): Promise<ExitStatus | undefined> {
    return this.exits.get(req.persistDir.split('/').at(-2)!);
  }
  async reopenLog(): Promise<void> {}
  attachSocket(b: string): string {
    return `${b}/attach`;
  }
  controlFifo(b: string): string {
    return `${b}/ctl`;
  }
}

export class FakeProvisioner implements RootfsProvisioner {
  readonly live = new Set<string>();
  readonly destroyed: string[] = [];
  known: string[] = [];
  async recover(known: readonly ContainerId[]): Promise<void> {
    this.known = known.map(idString);
  }
  async provision(id: ContainerId, image: string) {
    if (image !== 'img') throw new CriError('NotFound', `image "${image}" not found`);
    this.live.add(idString(id));
    const config = { user: '', env: [], entrypoint: [], cmd: [], workingDir: '', volumes: [], stopSignal: 'SIGQUIT', labels: {}, exposedPorts: [] };
    return { rootfs: '/rootfs', image: { id: 'sha256:abc', repoTags: [], repoDigests: ['img@sha256:def'], config } };
  }
  async destroy(id: ContainerId): Promise<boolean> {
    this.destroyed.push(idString(id));
    return this.live.delete(idString(id));
  }
  async pruneImages(): Promise<void> {}
  async usage() {
    return { bytes: 1n, inodes: 1n };
  }
}

/** A cgroupfs-shaped `Cgroups` that records what it was asked to make, kill and remove in `calls`. */
export const fakeCgroups = (calls: string[] = []): Cgroups =>
  ({
    usage: async () => ({ timestampNs: 1n }),
    remove: async (p: string) => void calls.push(`cgroups.remove ${p}`),
    create: async (p: string) => (calls.push(`cgroups.create ${p}`), []),
    killAll: async (p: string) => void calls.push(`cgroups.killAll ${p}`),
    warmMigrations: () => undefined,
    has: () => false,
    podPath: (parent: string, id: string) => `${parent}/${id}`,
    childPath: (pod: string, id: string) => `${pod}/${id}`,
    checkParent: (p: string) => p,
    adopt: async () => undefined,
  }) as unknown as Cgroups;
