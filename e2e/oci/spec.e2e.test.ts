import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../src/common/ctx';
import { DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES } from '../../src/mesos-compat/oci/capabilities';
import { Cgroups } from '../../src/mesos-compat/isolators/cgroups';
import { buildContainerSpec } from '../../src/mesos-compat/oci/container-spec';
import { buildSandboxSpec } from '../../src/mesos-compat/oci/sandbox-spec';
import { containerConfig, imageConfig, sandboxConfig, securityContext } from '../../src/mesos-compat/oci/test-fixtures';
import { busyboxRootfs, cgroupExists, Harness, writeBundle } from './harness';

/**
 * Proves real runc accepts what the spec builders produce: a catatonit
 * sandbox (in a pinned netns, and on the host network) and busybox
 * containers joining it, checked from inside the container.
 */

const usable = process.getuid?.() === 0 && existsSync('/usr/bin/catatonit') && existsSync('/bin/busybox') &&
  (() => { try { execFileSync('runc', ['--version']); return true; } catch { return false; } })();

/** As the containerizer decides it: whether hugepage limits can be set on this host. */
const HUGETLB = new Cgroups().has('hugetlb');

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\ntester:x:1234:1234:Tester:/home/tester:/bin/sh\n';
const GROUP = 'root:x:0:\ntester:x:1234:\naudio:x:29:tester\n';

/** The `Cap*` mask a list of capability names produces in /proc/<pid>/status. */
const mask = (caps: readonly string[]): string =>
  caps.reduce((m, c) => m | (1n << BigInt(KNOWN_CAPABILITIES.indexOf(c))), 0n).toString(16).padStart(16, '0');

/** Lines `KEY=value` printed by the probe script, as a map. */
const parse = (out: string): Map<string, string> =>
  new Map(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));

const PROBE = [
  'echo "ID=$(id)"',
  'echo "HOST=$(hostname)"',
  'grep -E "^Cap(Bnd|Eff)" /proc/self/status | sed "s/:\\s*/=/"',
  'echo "SECCOMP=$(grep ^Seccomp: /proc/self/status | cut -f2)"',
  'echo "OOM=$(cat /proc/self/oom_score_adj)"',
  'echo "NETNS=$(readlink /proc/self/ns/net)"',
  'echo "PID1=$(tr "\\0" " " < /proc/1/cmdline)"',
  // Masked files are /dev/null binds and masked directories empty tmpfs: both show up as mounts.
  'echo "MASKED=$(grep -cE " /proc/(keys|timer_list|acpi) " /proc/self/mountinfo)"',
  'echo "TIMER_LIST_SIZE=$(wc -c < /proc/timer_list 2>/dev/null || echo denied)"',
  'echo "PROC_SYS_RO=$(grep " /proc/sys " /proc/self/mountinfo | grep -c " ro,")"',
  'if touch /rootfs-write 2>/dev/null; then echo ROOTFS=writable; else echo ROOTFS=readonly; fi',
  'if touch /vol/x 2>/dev/null; then echo VOLUME=writable; else echo VOLUME=readonly; fi',
  'echo "MEMLIMIT=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
  'echo "ETCHOSTS=$(cat /etc/hosts | head -n1)"',
  'echo "DATA=$(cat /data/hello)"',
  'echo "ENV=$GREETING"',
  'echo "CWD=$(pwd)"',
].join('; ');

describe.skipIf(!usable)('OCI specs on real runc', () => {
  let tmp: string;
  let h: Harness;
  let floor: number;
  /** The first pod, reused by later tests. */
  let pod1: { config: ReturnType<typeof sandboxConfig>; infraPid: number; files: Awaited<ReturnType<typeof podFiles>>['files'] } | undefined;
  const parent = `mesos-cri-oci-e2e-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'oci-e2e-'));
    h = new Harness(join(tmp, 'runc'), parent);
    floor = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
  });

  afterAll(async () => {
    await h?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
    expect(await cgroupExists(parent)).toBe(false);
  });

  /** Sandbox files of one pod: its own hostname/hosts/resolv.conf and a shm directory. */
  async function podFiles(name: string) {
    const dir = join(tmp, name);
    await mkdir(join(dir, 'shm'), { recursive: true });
    await mkdir(join(dir, 'rootfs'), { recursive: true });
    await writeFile(join(dir, 'hostname'), `${name}\n`);
    await writeFile(join(dir, 'hosts'), `127.0.0.1 localhost ${name}\n`);
    await writeFile(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    return { dir, files: { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf'), shm: join(dir, 'shm') } };
  }

  it('runs a pod in a pinned netns and a restricted container joining it', async () => {
    const pod = await podFiles('e2e-pod');
    const netns = await h.pinNetns(join(tmp, 'netns-e2e-pod'));
    const sbConfig = sandboxConfig({
      hostname: 'e2e-pod',
      security: securityContext({ namespaces: { network: 'pod', pid: 'pod', ipc: 'pod', targetId: '' }, seccomp: { kind: 'runtime-default' } }),
    });
    const sbSpec = buildSandboxSpec({
      id: 'sb1', config: sbConfig, rootfs: join(pod.dir, 'rootfs'), infraPath: '/usr/bin/catatonit', netnsPath: netns,
      files: pod.files, cgroupsPath: `/${parent}/sb1`, oomScoreAdjFloor: floor,
    });
    const infraPid = await h.runDetached(`${parent}-sb1`, await writeBundle(join(pod.dir, 'bundle'), sbSpec));
    expect(infraPid).toBeGreaterThan(0);
    // The infra process sits in the pinned netns.
    const [a, b] = await Promise.all([stat(netns), stat(`/proc/${infraPid}/ns/net`)]);
    expect(b.ino).toBe(a.ino);
    expect((await readFile(`/proc/${infraPid}/oom_score_adj`, 'utf8')).trim()).toBe(String(Math.max(-998, floor)));
    pod1 = { config: sbConfig, infraPid, files: pod.files };

    const data = join(tmp, 'data');
    await mkdir(data);
    await writeFile(join(data, 'hello'), 'from-host');
    const rootfs = await busyboxRootfs(join(tmp, 'ctr1', 'rootfs'), { passwd: PASSWD, group: GROUP });
    const spec = await buildContainerSpec({
      id: 'c1',
      config: containerConfig({
        command: ['/bin/sh', '-c', PROBE],
        workingDir: '/home',
        envs: [['GREETING', 'hi']],
        mounts: [{ containerPath: '/data', hostPath: data, readonly: true, propagation: 'private' }],
        resources: {
          cpuPeriod: 100_000n, cpuQuota: 50_000n, cpuShares: 512n, memoryLimitBytes: 64n << 20n, memorySwapLimitBytes: 0n,
          oomScoreAdj: -500, cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {},
        },
        security: securityContext({
          namespaces: { network: 'pod', pid: 'pod', ipc: 'pod', targetId: '' },
          runAsUsername: 'tester', supplementalGroups: [4000n], readonlyRootfs: true, noNewPrivs: true,
          capabilities: { add: ['NET_ADMIN'], drop: ['MKNOD'], addAmbient: [] },
          seccomp: { kind: 'runtime-default' },
        }),
      }),
      image: imageConfig({ volumes: ['/vol', '/home'] }),
      rootfs,
      sandbox: { id: 'sb1', config: sbConfig, infraPid, files: pod.files, hostNetwork: false },
      cgroupsPath: `/${parent}/sb1/c1`,
      oomScoreAdjFloor: floor,
      hugetlb: HUGETLB,
    }, background());
    const res = await h.runForeground(`${parent}-c1`, await writeBundle(join(tmp, 'ctr1', 'bundle'), spec));
    const out = parse(res.stdout.toString());
    expect(res.code, res.stderr.toString()).toBe(0);

    expect(out.get('ID')).toBe('uid=1234(tester) gid=1234(tester) groups=29(audio),1234(tester),4000');
    expect(out.get('HOST')).toBe('e2e-pod');
    const caps = [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN'];
    expect(out.get('CapBnd')).toBe(mask(caps));
    expect(out.get('CapEff')).toBe('0000000000000000'); // non-root: the kernel clears them at exec
    expect(out.get('SECCOMP')).toBe('2');
    expect(out.get('OOM')).toBe(String(Math.max(-500, floor)));
    expect(out.get('NETNS')).toBe(`net:[${a.ino}]`);
    expect(out.get('PID1')).toBe('/catatonit -P');
    expect(out.get('MASKED')).toBe('3');
    expect(out.get('TIMER_LIST_SIZE')).toBe('0');
    expect(out.get('PROC_SYS_RO')).toBe('1');
    expect(out.get('ROOTFS')).toBe('readonly');
    expect(out.get('MEMLIMIT')).toBe(String(64 << 20));
    expect(out.get('ETCHOSTS')).toBe('127.0.0.1 localhost e2e-pod');
    expect(out.get('DATA')).toBe('from-host');
    expect(out.get('ENV')).toBe('hi');
    expect(out.get('CWD')).toBe('/home');
    // The image volume exists (made in the rootfs before it went read-only) but is read-only with it.
    expect(out.get('VOLUME')).toBe('readonly');
    expect((await stat(join(rootfs, 'vol'))).isDirectory()).toBe(true);
    // The container's cgroup is nested under the pod's and runc removed it on delete.
    expect(existsSync(`/sys/fs/cgroup/memory/${parent}/sb1`)).toBe(true);
    expect(existsSync(`/sys/fs/cgroup/memory/${parent}/sb1/c1`)).toBe(false);
  });

  it('runs a host-network pod with a privileged root container', async () => {
    const pod = await podFiles('e2e-hostnet');
    const privileged = securityContext({ privileged: true, namespaces: { network: 'node', pid: 'container', ipc: 'pod', targetId: '' } });
    // kubelet sends no hostname for a host-network pod (containerd and we refuse one).
    const sbConfig = sandboxConfig({ hostname: '', security: privileged });
    const sbSpec = buildSandboxSpec({
      id: 'sb2', config: sbConfig, rootfs: join(pod.dir, 'rootfs'), infraPath: '/usr/bin/catatonit',
      files: pod.files, cgroupsPath: `/${parent}/sb2`, oomScoreAdjFloor: floor,
    });
    const infraPid = await h.runDetached(`${parent}-sb2`, await writeBundle(join(pod.dir, 'bundle'), sbSpec));
    expect(await readlink(`/proc/${infraPid}/ns/net`)).toBe(await readlink('/proc/self/ns/net'));

    const rootfs = await busyboxRootfs(join(tmp, 'ctr2', 'rootfs'), { passwd: PASSWD, group: GROUP });
    const spec = await buildContainerSpec({
      id: 'c2',
      config: containerConfig({
        command: ['/bin/sh', '-c', `${PROBE}; echo "DEVNULL=$(ls /dev/ | grep -c '^null$')"; echo "SYSRW=$(grep ' /sys ' /proc/self/mountinfo | grep -c ' rw,')"`],
        resources: {
          cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, memoryLimitBytes: 0n, memorySwapLimitBytes: 0n,
          oomScoreAdj: Math.max(floor, 700), cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {},
        },
        security: privileged,
      }),
      image: imageConfig(),
      rootfs,
      sandbox: { id: 'sb2', config: sbConfig, infraPid, files: pod.files, hostNetwork: true },
      cgroupsPath: `/${parent}/sb2/c2`,
      oomScoreAdjFloor: floor,
      hugetlb: HUGETLB,
    }, background());
    const res = await h.runForeground(`${parent}-c2`, await writeBundle(join(tmp, 'ctr2', 'bundle'), spec));
    const out = parse(res.stdout.toString());
    expect(res.code, res.stderr.toString()).toBe(0);

    expect(out.get('ID')).toBe('uid=0(root) gid=0(root) groups=0(root)');
    expect(out.get('NETNS')).toBe(await readlink('/proc/self/ns/net'));
    expect(out.get('CapBnd')).toBe(mask(spec.process.capabilities.bounding));
    expect(out.get('CapEff')).toBe(out.get('CapBnd'));
    expect(out.get('SECCOMP')).toBe('0');
    expect(out.get('OOM')).toBe(String(Math.max(floor, 700)));
    expect(out.get('MASKED')).toBe('0');
    expect(Number(out.get('TIMER_LIST_SIZE'))).toBeGreaterThan(0);
    expect(out.get('PROC_SYS_RO')).toBe('0');
    expect(out.get('ROOTFS')).toBe('writable');
    expect(out.get('PID1')).toBe(`/bin/sh -c ${spec.process.args[2]!}`.trim()); // its own pid namespace
    expect(out.get('DEVNULL')).toBe('1');
    expect(out.get('SYSRW')).toBe('1');
  });

  it('joins a target container\'s pid namespace', async () => {
    expect(pod1).toBeDefined();
    const { config, infraPid, files } = pod1!;
    const rootfs = await busyboxRootfs(join(tmp, 'ctr3', 'rootfs'), { passwd: PASSWD, group: GROUP });
    const base = {
      image: imageConfig(),
      rootfs,
      sandbox: { id: 'sb1', config, infraPid, files, hostNetwork: false },
      oomScoreAdjFloor: floor,
      hugetlb: HUGETLB,
    };
    const target = await buildContainerSpec({
      ...base,
      id: 'c3',
      config: containerConfig({ command: ['/bin/sleep', '300'] }), // own pid namespace (the fixture's default)
      cgroupsPath: `/${parent}/sb1/c3`,
    }, background());
    const targetPid = await h.runDetached(`${parent}-c3`, await writeBundle(join(tmp, 'ctr3', 'bundle'), target));

    const rootfs4 = await busyboxRootfs(join(tmp, 'ctr4', 'rootfs'), { passwd: PASSWD, group: GROUP });
    const debug = await buildContainerSpec({
      ...base,
      rootfs: rootfs4,
      id: 'c4',
      config: containerConfig({
        command: ['/bin/sh', '-c', PROBE],
        security: securityContext({ namespaces: { network: 'pod', pid: 'target', ipc: 'pod', targetId: 'c3' } }),
      }),
      targetPid,
      cgroupsPath: `/${parent}/sb1/c4`,
    }, background());
    const res = await h.runForeground(`${parent}-c4`, await writeBundle(join(tmp, 'ctr4', 'bundle'), debug));
    expect(res.code, res.stderr.toString()).toBe(0);
    const out = parse(res.stdout.toString());
    expect(out.get('PID1')).toBe('/bin/sleep 300');
    expect(out.get('ID')).toBe('uid=0(root) gid=0(root) groups=0(root)');
    expect(out.get('CapEff')).toBe(mask(DEFAULT_CAPABILITIES));
    await h.runc(['delete', '-f', `${parent}-c3`]);
  });

  it('leaves the runc root clean after delete', async () => {
    const res = await h.runc(['list', '-q']);
    const ids = res.stdout.toString().split('\n').filter(Boolean);
    expect(ids.every((id) => id.endsWith('-sb1') || id.endsWith('-sb2'))).toBe(true);
  });
});
