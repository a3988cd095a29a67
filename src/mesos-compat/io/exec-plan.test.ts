import { describe, expect, it } from 'vitest';
import type { OciSpec } from '../oci/types';
import { cgroupDirs, cgroupMounts, execPlanText } from './exec-plan';

const spec = (over: Partial<OciSpec['process']> = {}, linux: Partial<OciSpec['linux']> = {}): OciSpec => ({
  ociVersion: '1.0.2',
  process: {
    terminal: false,
    user: { uid: 1000, gid: 1001, additionalGids: [4000, 4001], umask: 0o027 },
    args: ['sleep', '1'],
    env: ['PATH=/bin', 'MULTI=a\nb\\c'],
    cwd: '/work dir',
    capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: [], ambient: [] },
    noNewPrivileges: true,
    oomScoreAdj: -5,
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2 ** 64 }],
    ...over,
  },
  root: { path: '/rootfs', readonly: false },
  mounts: [],
  linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/x' }, { type: 'mount' }], ...linux },
  annotations: {},
});

describe('execPlanText', () => {
  it('writes the process spec as plan records, escaping strings and masking capabilities', () => {
    const text = execPlanText(spec(), { pid: 42, startTime: '777' }, ['/sys/fs/cgroup/memory/a b']);
    expect(text.split('\n')).toEqual([
      'pid 42 777',
      'ns pid', 'ns net', 'ns mnt',
      'cgroup /sys/fs/cgroup/memory/a b',
      'cwd /work dir',
      'env PATH=/bin',
      'env MULTI=a\\nb\\\\c',
      'user 1000 1001 4000 4001',
      'umask 027',
      // CHOWN is bit 0, KILL bit 5
      'caps 0x21 0x20 0x20 0x0 0x0',
      'nnp 1',
      // RLIMIT_NOFILE is 7; 2^64 is clamped to RLIM_INFINITY
      'rlimit 7 1024 18446744073709551615',
      'oom -5',
      '',
    ]);
  });

  it('turns the seccomp profile into libseccomp actions, architectures and argument checks', () => {
    const text = execPlanText(spec({}, {
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
        syscalls: [
          { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
          { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' }] },
          { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['ptrace'], action: 'SCMP_ACT_KILL_PROCESS' },
        ],
      },
    }), { pid: 1, startTime: '2' }, []);
    const lines = text.split('\n').filter((l) => l.startsWith('sc') || l.startsWith('seccomp'));
    expect(lines).toEqual([
      `seccomp ${0x00050000 | 38}`,
      'scarch x86_64',
      'scarch x32',
      `scrule read ${0x7fff0000} 0`,
      `scrule write ${0x7fff0000} 0`,
      `scrule personality ${0x7fff0000} 1 0 4 4294967295 0`,
      `scrule clone ${0x00050001} 1 0 7 2114060288 0`,
      `scrule ptrace ${0x80000000} 0`,
    ]);
  });

  it('refuses what the helper cannot do instead of running without it', () => {
    expect(() => execPlanText(spec({}, { seccomp: { defaultAction: 'SCMP_ACT_NOTIFY' as never } }), { pid: 1, startTime: '2' }, [])).toThrow(/SCMP_ACT_NOTIFY/);
    expect(() => execPlanText(spec({ rlimits: [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }] }), { pid: 1, startTime: '2' }, [])).toThrow(/RLIMIT_BOGUS/);
  });
});

describe('cgroupDirs', () => {
  const mountinfo = [
    '25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
    '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    '27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd',
    '30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
    '31 25 0:28 /inner /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
    '40 22 0:40 / /tmp/with\\040space rw - tmpfs tmpfs rw',
  ].join('\n');

  it('maps each hierarchy of /proc/<pid>/cgroup to its directory on the host', () => {
    const proc = ['12:name=systemd:/pod/c', '4:cpu,cpuacct:/pod/c', '3:memory:/inner/pod/c', '2:pids:/pod/c', '0::/pod/c', ''].join('\n');
    expect(cgroupDirs(proc, cgroupMounts(mountinfo))).toEqual([
      '/sys/fs/cgroup/systemd/pod/c',
      '/sys/fs/cgroup/cpu,cpuacct/pod/c',
      '/sys/fs/cgroup/memory/pod/c',
      '/sys/fs/cgroup/unified/pod/c',
    ]);
  });
});
