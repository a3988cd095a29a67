import { CriError } from '../../common/errors';
import type { SandboxConfig } from '../launch-config';
import { ANNOTATION, CONTAINER_TYPE } from './annotations';
import { buildCapabilities } from './capabilities';
import { ALLOW_ALL } from './devices';
import { systemMounts, type SandboxFiles } from './mounts';
import { sandboxNamespaces } from './namespaces';
import { maskedAndReadonlyPaths } from './paths';
import { DEFAULT_PATH } from './process';
import { clampOomScoreAdj } from './resources';
import { buildSeccompSync } from './seccomp';
import { checkSysctls } from './sysctls';
import { checkId } from './users';
import { OCI_VERSION, type OciMount, type OciSpec } from './types';

export interface SandboxSpecInput {
  readonly id: string;
  readonly config: SandboxConfig;
  /** An (almost empty) directory the containerizer prepares; mounted read-only as `/`. */
  readonly rootfs: string;
  /** Host path of the static `catatonit`, bind-mounted read-only at `INFRA_PATH`. */
  readonly infraPath: string;
  /** The pinned netns from CNI; undefined with host network, or for a loopback-only pod. */
  readonly netnsPath?: string;
  readonly files: SandboxFiles;
  /** cgroupfs path of the pod, e.g. `/mesos-cri/<sandboxId>`; containers nest below it. */
  readonly cgroupsPath: string;
  /** The daemon's own `oom_score_adj`: never request a lower value. */
  readonly oomScoreAdjFloor: number;
}

/**
 * What a pod config must not ask, checked before anything is made (and
 * again by `buildSandboxSpec`). containerd refuses these at RunPodSandbox
 * (sysctls through runc).
 */
export function checkSandboxConfig(config: SandboxConfig): void {
  const sc = config.security;
  // A hostname needs a UTS namespace of the pod's own, and a host-network pod
  // shares the node's. kubelet sends none then; containerd fails such a pod
  // (runc: "unable to set hostname without a private UTS namespace") rather
  // than quietly leave the node's name in place.
  if (sc.namespaces.network === 'node' && config.hostname !== '') {
    throw new CriError('InvalidArgument', `failed to run pod sandbox: hostname "${config.hostname}" is set but the pod uses the node's network and UTS namespaces`);
  }
  // api.proto: run_as_group without run_as_user MUST be refused.
  if (sc.runAsGroup !== undefined && sc.runAsUser === undefined) {
    throw new CriError('InvalidArgument', `failed to run pod sandbox: linux.security_context.run_as_group ${sc.runAsGroup} is specified without run_as_user`);
  }
  checkSysctls(config.sysctls, sc.namespaces);
  checkCgroupParent(config.cgroupParent);
}

/**
 * kubelet's cgroup parent (cgroupfs driver: `/kubepods/burstable/pod<uid>`)
 * is made below the root of every hierarchy: no `.` or `..` component,
 * nothing but the characters cgroup names use, bounded, so it can never
 * name a directory outside cgroupfs.
 */
export function checkCgroupParent(parent: string): void {
  if (parent === '') return;
  const bad = (why: string): CriError => new CriError('InvalidArgument', `failed to run pod sandbox: linux.cgroup_parent ${JSON.stringify(parent.slice(0, 256))}: ${why}`);
  if (parent.length > 1024) throw bad('longer than 1024 bytes');
  if (!/^[A-Za-z0-9_.:@=+,/-]+$/.test(parent)) throw bad('not a cgroup path');
  const parts = parent.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) throw bad('must stay under the cgroup root');
}

/** Where the infra binary appears inside the sandbox. */
export const INFRA_PATH = '/catatonit';

/** What containerd gives the pause container: survive OOM as long as anything in the node. */
const SANDBOX_OOM_SCORE_ADJ = -998;
/** The upstream pause image runs as 65535:65535; so does our infra process unless told otherwise. */
const INFRA_ID = 65535;

/**
 * The OCI spec of a pod's infra process: `catatonit -P` (pause mode: no
 * child, reaps zombies, exits on SIGTERM/SIGINT) holding the pod's
 * namespaces. It runs from a read-only, nearly empty rootfs; the binary is
 * static, so a single bind mount is all it needs. The daemon starts it with
 * the native launcher (`infra.ts`), which takes the process, namespaces,
 * hostname, sysctls and seccomp from here and chroots instead of mounting;
 * the mounts are what an OCI runtime would need for the same process.
 */
export function buildSandboxSpec(input: SandboxSpecInput): OciSpec {
  const { config } = input;
  const sc = config.security;
  checkSandboxConfig(config);
  const capabilities = buildCapabilities(sc);
  // No /etc/passwd here: only numeric ids mean anything to the infra process.
  const field = 'linux.security_context';
  const uid = sc.runAsUser !== undefined ? checkId(sc.runAsUser, `${field}.run_as_user`) : INFRA_ID;
  const gid = sc.runAsGroup !== undefined ? checkId(sc.runAsGroup, `${field}.run_as_group`) : sc.runAsUser !== undefined ? 0 : INFRA_ID;
  const supplemental = sc.supplementalGroups.map((g) => checkId(g, `${field}.supplemental_groups`));
  const additionalGids = [...new Set([gid, ...supplemental])];

  const mounts: OciMount[] = [
    ...systemMounts({ privileged: sc.privileged, shm: input.files.shm }).filter((m) => m.destination !== '/sys/fs/cgroup'),
    { destination: INFRA_PATH, type: 'bind', source: input.infraPath, options: ['bind', 'ro', 'nosuid', 'nodev'] },
  ];
  const seccomp = buildSeccompSync(sc.seccomp, {
    privileged: sc.privileged,
    bounding: capabilities.bounding,
    field: `${field}.seccomp`,
  });
  const sysctl = { ...config.sysctls };

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid, gid, additionalGids },
      args: [INFRA_PATH, '-P'],
      env: [DEFAULT_PATH],
      cwd: '/',
      capabilities,
      noNewPrivileges: true,
      oomScoreAdj: clampOomScoreAdj(SANDBOX_OOM_SCORE_ADJ, input.oomScoreAdjFloor),
    },
    root: { path: input.rootfs, readonly: true },
    mounts,
    linux: {
      namespaces: sandboxNamespaces(sc.namespaces, input.netnsPath),
      cgroupsPath: input.cgroupsPath,
      // NOTE: `cgroupsPath` is the pod-level cgroup and every container's
      // cgroup nests below it, so whatever is set here caps the whole pod.
      // cgroup v1 refuses a child a device its parent denies, and
      // containerd's `cpu.shares = 2` for the pause container would starve
      // the pod; so the pod level stays open and each container's own
      // cgroup carries its limits. The infra process itself is harmless: no
      // capabilities, no_new_privs, and a /dev holding only runc's defaults.
      resources: { devices: [ALLOW_ALL] },
      ...maskedAndReadonlyPaths(sc),
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
    },
    annotations: {
      [ANNOTATION.containerType]: CONTAINER_TYPE.sandbox,
      [ANNOTATION.sandboxId]: input.id,
      [ANNOTATION.sandboxName]: config.name,
      [ANNOTATION.sandboxNamespace]: config.namespace,
      [ANNOTATION.sandboxUid]: config.uid,
      [ANNOTATION.sandboxLogDirectory]: config.logDirectory,
    },
  };
  if (config.hostname !== '') spec.hostname = config.hostname;
  return spec;
}
