import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startContainerd, type Containerd } from '../../../bench/support/containerd';
import { pushPause } from '../../../bench/support/pause-image';
import { netFixture, type NetFixture } from '../../cni/helpers';
import { removeCgroupTree } from '../../containerizer/cri-fixture';
import { startDaemon, unmountUnder, type Daemon } from '../../support/daemon';
import { ensureTestRegistry, stopTestRegistry } from '../../support/images';
import type { Kit } from '../cases/types';
import { CrictlDriver } from './driver';
import { buildProbe, pushDiffImages } from './images';
import type { RuntimeSide } from './run';

/**
 * Both runtimes side by side on this node: containerd 1.6 on private dirs
 * and its own socket (bench/support/containerd.ts; never the node's
 * service), the real mesos-cri daemon on temp dirs, each with its own CNI
 * bridge (no masquerading) and its own cgroup root for kubelet-style cgroup
 * parents, one loopback registry with the suite's images, and one host dir
 * of hostPath sources and kubelet files that both see at the same path.
 */
export interface DiffEnv {
  readonly kit: Kit;
  readonly containerd: RuntimeSide;
  readonly mesosCri: RuntimeSide;
  /** The daemon, for its log when a case needs explaining. */
  readonly daemon: Daemon;
  readonly ctrd: Containerd;
  stop(): Promise<void>;
}

export async function startDiffEnv(): Promise<DiffEnv> {
  const tag = randomBytes(3).toString('hex');
  const base = mkdtempSync(join(tmpdir(), 'mcri-diff-'));
  const hostDir = join(base, 'host');
  mkdirSync(hostDir, { recursive: true });
  const cgroupTop = `/mcri-diff-${tag}`;
  const undo: Array<() => Promise<void> | void> = [
    () => {
      unmountUnder(base);
      rmSync(base, { recursive: true, force: true });
    },
    () => removeCgroupTree(cgroupTop),
  ];
  const stop = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const u of undo.reverse()) await Promise.resolve(u()).catch((e: unknown) => errors.push(e));
    undo.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, 'failed to tear the differential environment down');
  };
  try {
    const reg = await ensureTestRegistry();
    undo.push(() => stopTestRegistry());
    const probe = buildProbe(base);
    const images = await pushDiffImages(reg, probe);
    const pause = await pushPause(reg, 'diff/pause:3.6');

    const netC: NetFixture = await netFixture({ bridge: `mcdc${tag}`, subnet: '10.213.1.0/24', network: 'diff-ctrd' });
    undo.push(() => netC.cleanup());
    const netM: NetFixture = await netFixture({ bridge: `mcdm${tag}`, subnet: '10.213.2.0/24', network: 'diff-mcri' });
    undo.push(() => netM.cleanup());
    netM.writeConf('10-diff.conflist', netM.conflist());
    // A new network namespace copies the node's ip_forward, which the bridge plugin turns on at
    // its first ADD: on from the start, every pod of either runtime sees the same (the fixtures
    // put the old value back).
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');

    const ctrd = await startContainerd({ registry: reg, pauseRef: pause, cniConflist: netC.conflist() });
    undo.push(() => ctrd.stop());
    const daemon = await startDaemon({ args: ['--cni-conf-dir', netM.confDir, '--cgroup-parent', `${cgroupTop}/mesos-cri-pods`] });
    undo.push(() => daemon.cleanup());

    const containerd: RuntimeSide = {
      driver: new CrictlDriver('containerd', ctrd.socket, base),
      privateDirs: [ctrd.layout.base],
      logRoot: join(base, 'logs', 'containerd'),
      cgroupRoot: `${cgroupTop}/c`,
    };
    const mesosCri: RuntimeSide = {
      driver: new CrictlDriver('mesos-cri', daemon.socket, base),
      privateDirs: [daemon.base],
      logRoot: join(base, 'logs', 'mesos-cri'),
      cgroupRoot: `${cgroupTop}/m`,
    };
    for (const side of [containerd, mesosCri]) {
      for (const ref of [...Object.values(images.refs), images.probeAlias]) await side.driver.pull(ref);
    }
    writeKubeletFiles(hostDir);
    writeHostFiles(hostDir);
    return { kit: { images, hostDir }, containerd, mesosCri, daemon, ctrd, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * hostPath sources (a dir, a file, a link to the dir, a dangling link whose
 * target must never appear, a shared mount for propagation), and seccomp
 * profiles in OCI and Docker format.
 */
function writeHostFiles(hostDir: string): void {
  for (const d of ['data', 'data2', 'canary', 'seccomp', 'shared', 'created']) mkdirSync(join(hostDir, d), { recursive: true });
  writeFileSync(join(hostDir, 'data', 'hello'), 'from the host\n');
  writeFileSync(join(hostDir, 'file.txt'), 'a host file\n');
  symlinkSync(join(hostDir, 'data'), join(hostDir, 'link-to-data'));
  symlinkSync(join(hostDir, 'canary', 'target'), join(hostDir, 'dangling'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'diff-shared', join(hostDir, 'shared')]);
  execFileSync('mount', ['--make-shared', join(hostDir, 'shared')]);
  writeFileSync(
    join(hostDir, 'seccomp', 'oci.json'),
    JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chroot', 'keyctl'], action: 'SCMP_ACT_ERRNO', errnoRet: 95 }] }),
  );
  writeFileSync(
    join(hostDir, 'seccomp', 'docker.json'),
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
      syscalls: [
        { names: ['chroot'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['setns'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_SYS_CHROOT'] } },
        { names: ['keyctl'], action: 'SCMP_ACT_ERRNO' },
      ],
    }),
  );
}

/** The files kubelet bind-mounts into every container: its /etc/hosts, the termination log, a service account token. */
function writeKubeletFiles(hostDir: string): void {
  const k = join(hostDir, 'kubelet');
  mkdirSync(join(k, 'serviceaccount'), { recursive: true });
  writeFileSync(join(k, 'etc-hosts'), '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tpod-name\n');
  writeFileSync(join(k, 'termination-log'), '');
  writeFileSync(join(k, 'serviceaccount', 'token'), 'not-a-real-token\n');
  writeFileSync(join(k, 'serviceaccount', 'namespace'), 'diff\n');
}
