import { hostname as osHostname } from 'node:os';
import { background, type Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { ContainerConfig, SandboxConfig } from '../launch-config';
import { ANNOTATION, CONTAINER_TYPE } from './annotations';
import { buildCapabilities } from './capabilities';
import { ALLOW_ALL, DENY_ALL, clientDevices, hostDevices } from './devices';
import type { ImageConfig } from './image-config';
import { clientMounts, mergeMounts, podFileMounts, readSelfMountInfo, systemMounts, type MountInfoReader, type SandboxFiles } from './mounts';
import { containerNamespaces } from './namespaces';
import { maskedAndReadonlyPaths } from './paths';
import { buildArgs, buildEnv, workingDir } from './process';
import { buildResources, clampOomScoreAdj } from './resources';
import { resolveAppArmor, type AppArmorHost } from './apparmor';
import { buildSeccomp } from './seccomp';
import { OCI_VERSION, type OciDevice, type OciSpec } from './types';
import { resolveUser, type UserRequest } from './users';
import { prepareImageVolumes } from './volumes';

export interface ContainerSpecInput {
  readonly id: string;
  readonly config: ContainerConfig;
  readonly image: ImageConfig;
  /** The provisioned rootfs; users resolve against its /etc/passwd and /etc/group. */
  readonly rootfs: string;
  readonly sandbox: {
    readonly id: string;
    readonly config: SandboxConfig;
    /** Host pid of the pod's infra process, whose namespaces the container joins. */
    readonly infraPid: number;
    readonly files: SandboxFiles;
    readonly hostNetwork: boolean;
  };
  /** Init pid of the target container when `namespaces.pid` is `target`. */
  readonly targetPid?: number;
  /** cgroupfs path, e.g. `/mesos-cri/<sandboxId>/<containerId>`. */
  readonly cgroupsPath: string;
  readonly oomScoreAdjFloor: number;
  /** Whether the hugetlb controller can limit the container; hugepage limits are dropped without it. */
  readonly hugetlb: boolean;
  /** Test seam: the host's AppArmor (default: the real one). */
  readonly apparmor?: AppArmorHost;
  /** Test seam: where mount propagation of host paths is read from. */
  readonly mountInfo?: MountInfoReader;
}

const SC = 'linux.security_context';
const HOST_SHM = '/dev/shm';

/**
 * The OCI spec of a CRI container, built like containerd's
 * `container_create_linux.go`: the image config and the CRI config merged
 * (CRI wins), joined to its pod's namespaces, with the security defaults of
 * `capabilities.ts`, `paths.ts` and `seccomp-default.ts`. Validation runs
 * before anything touches the disk, except that a missing hostPath source is
 * created (as containerd does) while its mount is validated; creating image
 * volume directories in the container's own rootfs comes last.
 */
export async function buildContainerSpec(input: ContainerSpecInput, ctx: Ctx = background()): Promise<OciSpec> {
  const { config, image, sandbox } = input;
  const sc = config.security;
  if (config.image === '') throw new CriError('InvalidArgument', 'failed to create container: image not specified');
  if (sc.privileged && !sandbox.config.security.privileged) {
    throw new CriError('InvalidArgument', `failed to create container: ${SC}.privileged is set but the sandbox is not privileged`);
  }

  const args = buildArgs(config, image);
  const cwd = workingDir(config, image);
  const user = await resolveUser(input.rootfs, userRequest(config, image));
  const hostname = sandbox.config.hostname || osHostname();
  const env = buildEnv({ hostname, image: image.env, client: config.envs, home: user.home, tty: config.tty });
  const capabilities = buildCapabilities(sc);
  const podNs = sandbox.config.security.namespaces;
  const namespaces = containerNamespaces({
    ns: sc.namespaces,
    pod: sandbox.hostNetwork ? { ...podNs, network: 'node' } : podNs,
    infraPid: sandbox.infraPid,
    ...(input.targetPid !== undefined ? { targetPid: input.targetPid } : {}),
  });

  const client = await clientMounts(config.mounts, ctx, input.mountInfo ?? readSelfMountInfo);
  const mounts = mergeMounts(
    // A pod in the node's IPC namespace uses the node's /dev/shm (containerd binds it too).
    [...systemMounts({ privileged: sc.privileged, shm: podNs.ipc === 'node' ? HOST_SHM : sandbox.files.shm }), ...podFileMounts(sandbox.files, sc.readonlyRootfs)],
    client.mounts,
  );

  const requested = await clientDevices(config.devices, ctx);
  const devices: OciDevice[] = sc.privileged ? await hostDevices(ctx) : [];
  const byPath = new Map(devices.map((d) => [d.path, d]));
  for (const d of requested.devices) byPath.set(d.path, d);
  const resources = buildResources(config.resources, { hugetlb: input.hugetlb });
  resources.devices = sc.privileged ? [ALLOW_ALL] : [DENY_ALL, ...requested.cgroup];

  const seccomp = await buildSeccomp(sc.seccomp, { privileged: sc.privileged, bounding: capabilities.bounding, field: `${SC}.seccomp` }, ctx);
  const apparmorProfile = resolveAppArmor(sc.apparmor ?? { kind: 'unset' }, { privileged: sc.privileged, field: `${SC}.apparmor`, ...(input.apparmor ? { host: input.apparmor } : {}) });

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args,
      env,
      cwd,
      capabilities,
      noNewPrivileges: sc.noNewPrivs,
      oomScoreAdj: clampOomScoreAdj(config.resources?.oomScoreAdj ?? 0, input.oomScoreAdjFloor),
      ...(apparmorProfile ? { apparmorProfile } : {}),
    },
    root: { path: input.rootfs, readonly: sc.readonlyRootfs },
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources,
      ...(byPath.size > 0 ? { devices: [...byPath.values()] } : {}),
      ...maskedAndReadonlyPaths(sc),
      ...(client.rootfsPropagation ? { rootfsPropagation: client.rootfsPropagation } : {}),
      ...(seccomp ? { seccomp } : {}),
    },
    annotations: {
      [ANNOTATION.containerType]: CONTAINER_TYPE.container,
      [ANNOTATION.sandboxId]: sandbox.id,
      [ANNOTATION.containerName]: config.name,
      [ANNOTATION.imageName]: config.image,
      [ANNOTATION.sandboxName]: sandbox.config.name,
      [ANNOTATION.sandboxNamespace]: sandbox.config.namespace,
      [ANNOTATION.sandboxUid]: sandbox.config.uid,
    },
  };

  const covered = new Set(mounts.map((m) => m.destination));
  await prepareImageVolumes(input.rootfs, image.volumes, covered, ctx);
  return spec;
}

/**
 * Who the process runs as, in containerd's precedence (its
 * `generateUserString`): `run_as_username`, else `run_as_user`, else the
 * image's User; `run_as_group` replaces the group of whichever applied, but
 * only of a user the client named: api.proto says the runtime MUST refuse
 * it alone, and containerd does.
 */
function userRequest(config: ContainerConfig, image: ImageConfig): UserRequest {
  const sc = config.security;
  if (sc.runAsGroup !== undefined && sc.runAsUser === undefined && sc.runAsUsername === '') {
    throw new CriError('InvalidArgument', `failed to resolve ${SC}.run_as_group: group ${sc.runAsGroup} is specified without run_as_user or run_as_username`);
  }
  const base = {
    supplementalGroups: sc.supplementalGroups,
    groupField: `${SC}.run_as_group`,
    supplementalField: `${SC}.supplemental_groups`,
    ...(sc.runAsGroup !== undefined ? { group: sc.runAsGroup } : {}),
  };
  if (sc.runAsUsername !== '') return { ...base, user: sc.runAsUsername, field: `${SC}.run_as_username` };
  if (sc.runAsUser !== undefined) {
    if (sc.runAsUser < 0n) throw new CriError('InvalidArgument', `failed to resolve ${SC}.run_as_user: negative uid ${sc.runAsUser}`);
    return { ...base, user: sc.runAsUser.toString(), field: `${SC}.run_as_user` };
  }
  return { ...base, user: image.user, field: 'image config User' };
}
