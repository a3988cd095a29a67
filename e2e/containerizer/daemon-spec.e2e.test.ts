import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, unmountUnder, type Daemon } from '../support/daemon';
import {
  createCtr,
  ctrConfig,
  ctrStatus,
  execSync,
  failure,
  GRPC,
  mountsUnder,
  readCriLog,
  removeCgroupTree,
  runPod,
  runToExit,
  testCgroupParent,
  until,
  waitExited,
  type Pod,
} from './cri-fixture';

/**
 * Issue 4's container-spec checks through the daemon socket: every
 * container is pulled from the loopback registry, created, started and
 * observed the way kubelet would, and its own output proves the setting.
 */

const CAP = { CHOWN: 0, NET_ADMIN: 12, SYS_ADMIN: 21 } as const;
const capSet = (line: string | undefined): bigint => BigInt(`0x${(line ?? '').split(/\s+/).pop() ?? '0'}`);
const has = (caps: bigint, bit: number): boolean => ((caps >> BigInt(bit)) & 1n) === 1n;

describe('container spec through the daemon', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let ep = '';
  let pod: Pod;
  let priv: Pod;
  let host = '';

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'spec/busybox:1')).ref;
    ep = (
      await pushBusybox(reg, 'spec/ep:1', {
        entrypoint: ['/bin/echo', 'ep'],
        cmd: ['img-cmd'],
        env: ['PATH=/bin', 'FROM_IMAGE=img'],
        workingDir: '/tmp',
        user: 'nobody',
        stopSignal: 'SIGUSR1',
      })
    ).ref;
    host = mkdtempSync(join(tmpdir(), 'mcri-spec-host-'));
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    for (const image of [bb, ep]) await d.image.call('PullImage', { image: { image } });
    pod = await runPod(d, 'spec');
    priv = await runPod(d, 'priv', { privileged: true });
  });

  afterAll(async () => {
    for (const p of [pod, priv]) {
      if (!p) continue;
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    }
    await d?.cleanup();
    if (host) {
      unmountUnder(host);
      rmSync(host, { recursive: true, force: true });
    }
    removeCgroupTree(cgroupParent);
    await stopTestRegistry();
  });

  it('merges command, args, env and working dir from the image and the config', async () => {
    const a = await runToExit(d, pod, ctrConfig('ep-default', ep, undefined));
    expect(a.st).toMatchObject({ exit_code: 0, reason: 'Completed' });
    expect(a.out).toEqual(['ep img-cmd']);
    const b = await runToExit(d, pod, ctrConfig('ep-args', ep, undefined, { args: ['a1', 'a2'] }));
    expect(b.out).toEqual(['ep a1 a2']);
    const c = await runToExit(
      d,
      pod,
      ctrConfig('cmd', ep, ['/bin/sh', '-c'], {
        args: ['echo "$FOO|$FROM_IMAGE|$HOSTNAME"; pwd'],
        envs: [
          { key: 'FOO', value: Buffer.from('bar baz') },
          { key: 'FROM_IMAGE', value: Buffer.from('overridden') },
        ],
      }),
    );
    // A host-network pod: HOSTNAME is the node's.
    expect(c.out).toEqual([`bar baz|overridden|${hostname()}`, '/tmp']);
    const w = await runToExit(d, pod, ctrConfig('workdir', ep, ['/bin/sh', '-c', 'pwd; echo $FROM_IMAGE'], { working_dir: '/etc' }));
    expect(w.out).toEqual(['/etc', 'img']);
  });

  it('runs as the image user, or as the security context says', async () => {
    const img = await runToExit(d, pod, ctrConfig('user-img', ep, ['/bin/sh', '-c', 'id -u; id -g; echo $HOME']));
    expect(img.out).toEqual(['65534', '65534', '/home']);
    const sc = await runToExit(
      d,
      pod,
      ctrConfig('user-sc', ep, ['/bin/sh', '-c', 'id -u; id -g; id -G'], {
        linux: { security_context: { run_as_user: { value: '1000' }, run_as_group: { value: '100' }, supplemental_groups: ['4242'] } },
      }),
    );
    expect(sc.out.slice(0, 2)).toEqual(['1000', '100']);
    expect(sc.out[2]!.split(' ')).toContain('4242');
    const byName = await runToExit(d, pod, ctrConfig('user-name', ep, ['/bin/sh', '-c', 'id -u; id -g'], { linux: { security_context: { run_as_username: 'root' } } }));
    expect(byName.out).toEqual(['0', '0']);
  });

  it('makes the rootfs read-only but keeps /dev/shm writable', async () => {
    const r = await runToExit(
      d,
      pod,
      ctrConfig('ro', bb, ['sh', '-c', 'touch /x 2>/dev/null && echo rw || echo ro; touch /dev/shm/x && echo shm-rw'], {
        linux: { security_context: { readonly_rootfs: true } },
      }),
    );
    expect(r.out).toEqual(['ro', 'shm-rw']);
    const w = await runToExit(d, pod, ctrConfig('rw', bb, ['sh', '-c', 'touch /x 2>/dev/null && echo rw || echo ro']));
    expect(w.out).toEqual(['rw']);
  });

  const pathProbe = [
    'sh',
    '-c',
    'for p in /proc/timer_list /proc/uptime; do if [ -c $p ]; then echo "$p masked"; else echo "$p open"; fi; done;' +
      ' for m in /proc/sys /proc/fs; do o=$(awk -v m=$m \'$2==m{print substr($4,1,2)}\' /proc/self/mounts); echo "$m ${o:-none}"; done',
  ];

  it('masks and write-protects /proc paths: the client lists, none without lists (as containerd) or when privileged', async () => {
    const def = await runToExit(d, pod, ctrConfig('paths-default', bb, pathProbe, { linux: { security_context: { run_as_user: { value: '0' } } } }));
    expect(def.out).toEqual(['/proc/timer_list open', '/proc/uptime open', '/proc/sys none', '/proc/fs none']);
    const own = await runToExit(
      d,
      pod,
      ctrConfig('paths-own', bb, pathProbe, { linux: { security_context: { masked_paths: ['/proc/uptime'], readonly_paths: ['/proc/fs'] } } }),
    );
    expect(own.out).toEqual(['/proc/timer_list open', '/proc/uptime masked', '/proc/sys none', '/proc/fs ro']);
    const p = await runToExit(d, priv, ctrConfig('paths-priv', bb, pathProbe, { linux: { security_context: { privileged: true } } }));
    expect(p.out).toEqual(['/proc/timer_list open', '/proc/uptime open', '/proc/sys none', '/proc/fs none']);
  });

  it('adds and drops capabilities', async () => {
    const probe = ['sh', '-c', 'grep CapEff /proc/self/status; touch /tmp/f; chown 65534 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied'];
    const def = await runToExit(d, pod, ctrConfig('caps-default', bb, probe));
    const defCaps = capSet(def.out[0]);
    expect(has(defCaps, CAP.CHOWN)).toBe(true);
    expect(has(defCaps, CAP.NET_ADMIN)).toBe(false);
    expect(has(defCaps, CAP.SYS_ADMIN)).toBe(false);
    expect(def.out[1]).toBe('chown-ok');
    const mod = await runToExit(
      d,
      pod,
      ctrConfig('caps-mod', bb, probe, { linux: { security_context: { capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['CHOWN'] } } } }),
    );
    const modCaps = capSet(mod.out[0]);
    expect(has(modCaps, CAP.NET_ADMIN)).toBe(true);
    expect(has(modCaps, CAP.CHOWN)).toBe(false);
    expect(mod.out[1]).toBe('chown-denied');
  });

  it('gives a privileged container every capability, writable /sys, host devices and mount rights', async () => {
    // A host device no container gets by default.
    const dev = ['loop-control', 'kmsg', 'mem', 'fuse', 'vda', 'sda'].find((x) => existsSync(`/dev/${x}`)) ?? 'null';
    const probe = [
      'sh',
      '-c',
      `grep CapEff /proc/self/status; awk '$2=="/sys"{print substr($4,1,2)}' /proc/self/mounts; [ -e /dev/${dev} ] && echo host-devs || echo no-host-devs;` +
        ' mkdir -p /tmp/m && mount -t tmpfs t /tmp/m 2>/dev/null && echo mount-ok || echo mount-denied',
    ];
    const p = await runToExit(d, priv, ctrConfig('privileged', bb, probe, { linux: { security_context: { privileged: true } } }));
    expect(has(capSet(p.out[0]), CAP.SYS_ADMIN)).toBe(true);
    expect(p.out.slice(1)).toEqual(['rw', 'host-devs', 'mount-ok']);
    // The same pod, an unprivileged container: none of it.
    const u = await runToExit(d, priv, ctrConfig('unprivileged', bb, probe));
    expect(has(capSet(u.out[0]), CAP.SYS_ADMIN)).toBe(false);
    expect(u.out.slice(1)).toEqual(['ro', 'no-host-devs', 'mount-denied']);
  });

  it('binds host paths read-only and read-write', async () => {
    mkdirSync(join(host, 'ro'));
    mkdirSync(join(host, 'rw'));
    writeFileSync(join(host, 'ro', 'f'), 'from-host\n');
    const r = await runToExit(
      d,
      pod,
      ctrConfig('binds', bb, ['sh', '-c', 'cat /data/ro/f; touch /data/ro/x 2>/dev/null && echo ro-writable || echo ro-readonly; echo from-ctr > /data/rw/out'], {
        mounts: [
          { container_path: '/data/ro', host_path: join(host, 'ro'), readonly: true },
          { container_path: '/data/rw', host_path: join(host, 'rw') },
        ],
      }),
    );
    expect(r.out).toEqual(['from-host', 'ro-readonly']);
    expect(readFileSync(join(host, 'rw', 'out'), 'utf8')).toBe('from-ctr\n');
    const st = await ctrStatus(d, r.id);
    expect(st).toMatchObject({ state: 'CONTAINER_EXITED' });
  });

  it('propagates mounts host→container (rslave) and container→host (rshared), and refuses rshared on a private mount', async () => {
    const shared = join(host, 'shared');
    const priv8 = join(host, 'private');
    mkdirSync(shared);
    mkdirSync(priv8);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mcri-shared', shared]);
    execFileSync('mount', ['--make-shared', shared]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mcri-private', priv8]);
    execFileSync('mount', ['--make-private', priv8]);

    const slave = await createCtr(
      d,
      pod,
      ctrConfig('hs', bb, ['sleep', '1000'], { mounts: [{ container_path: '/hs', host_path: shared, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] }),
    );
    await d.runtime.call('StartContainer', { container_id: slave });
    mkdirSync(join(shared, 'late'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mcri-late', join(shared, 'late')]);
    const seen = await execSync(d, slave, ['sh', '-c', 'awk \'$2=="/hs/late"{print $1}\' /proc/self/mounts']);
    expect(seen.stdout.trim()).toBe('mcri-late');

    const bidi = await createCtr(
      d,
      priv,
      ctrConfig('bs', bb, ['sh', '-c', 'mkdir -p /bs/inner && mount -t tmpfs mcri-inner /bs/inner && echo mounted; exec sleep 1000'], {
        mounts: [{ container_path: '/bs', host_path: shared, propagation: 'PROPAGATION_BIDIRECTIONAL' }],
        linux: { security_context: { privileged: true } },
      }),
    );
    await d.runtime.call('StartContainer', { container_id: bidi });
    await until('the container mount to reach the host', () => (mountsUnder(join(shared, 'inner')).length > 0 ? true : undefined), 10_000);

    const refused = await failure(
      createCtr(d, priv, ctrConfig('bs-private', bb, ['true'], { mounts: [{ container_path: '/bs', host_path: priv8, propagation: 'PROPAGATION_BIDIRECTIONAL' }] })),
    );
    expect(refused.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(refused.details).toMatch(/mounts\[0\]\.propagation.*not a shared mount/);

    for (const id of [slave, bidi]) await d.runtime.call('RemoveContainer', { container_id: id });
    spawnSync('umount', ['-R', '-l', shared]);
    spawnSync('umount', ['-l', priv8]);
  });

  const cgroupFile = (pod: Pod, cid: string, controller: string, file: string): string =>
    readFileSync(join('/sys/fs/cgroup', controller, cgroupParent, pod.id, cid, file), 'utf8').trim();

  it('writes resource limits into the cgroup and updates them', async () => {
    const resources = { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(64 << 20) };
    const id = await createCtr(d, pod, ctrConfig('limits', bb, ['sleep', '1000'], { linux: { resources } }));
    await d.runtime.call('StartContainer', { container_id: id });
    expect(cgroupFile(pod, id, 'memory', 'memory.limit_in_bytes')).toBe(String(64 << 20));
    expect(cgroupFile(pod, id, 'cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(cgroupFile(pod, id, 'cpu', 'cpu.cfs_period_us')).toBe('100000');
    expect(cgroupFile(pod, id, 'cpu', 'cpu.shares')).toBe('512');
    // The container's own pid is in that cgroup.
    const pid = (await execSync(d, id, ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'])).stdout.trim();
    expect(pid).toBe(String(64 << 20));

    await d.runtime.call('UpdateContainerResources', {
      container_id: id,
      linux: { ...resources, cpu_quota: '20000', memory_limit_in_bytes: String(96 << 20) },
    });
    expect(cgroupFile(pod, id, 'memory', 'memory.limit_in_bytes')).toBe(String(96 << 20));
    expect(cgroupFile(pod, id, 'cpu', 'cpu.cfs_quota_us')).toBe('20000');
    const st = await ctrStatus(d, id);
    expect(st.resources?.linux).toMatchObject({ cpu_quota: '20000', memory_limit_in_bytes: String(96 << 20) });
    await d.runtime.call('RemoveContainer', { container_id: id });
  });

  it('reports an OOM kill as OOMKilled', async () => {
    const r = await runToExit(
      d,
      pod,
      ctrConfig('oom', bb, ['sh', '-c', 'x=y; while true; do x="$x$x"; done'], { linux: { resources: { memory_limit_in_bytes: String(32 << 20) } } }),
      60_000,
    );
    expect(r.st).toMatchObject({ exit_code: 137, reason: 'OOMKilled' });
  });

  it('reports exit codes, reasons and timestamps; stops with the image StopSignal, then SIGKILL', async () => {
    const ok = await runToExit(d, pod, ctrConfig('exit0', bb, ['true']));
    expect(ok.st).toMatchObject({ exit_code: 0, reason: 'Completed' });
    expect(BigInt(ok.st.started_at)).toBeGreaterThan(BigInt(ok.st.created_at));
    expect(BigInt(ok.st.finished_at)).toBeGreaterThanOrEqual(BigInt(ok.st.started_at));
    expect((await runToExit(d, pod, ctrConfig('exit42', bb, ['sh', '-c', 'exit 42']))).st).toMatchObject({ exit_code: 42, reason: 'Error' });
    expect((await runToExit(d, pod, ctrConfig('killed', bb, ['sh', '-c', 'kill -9 $$']))).st).toMatchObject({ exit_code: 137, reason: 'Error' });

    // The ep image says StopSignal SIGUSR1: StopContainer must send it, not SIGTERM.
    const usr1 = await createCtr(d, pod, ctrConfig('usr1', ep, ['/bin/sh', '-c', 'trap "echo got-usr1; exit 7" USR1; echo ready; while true; do sleep 0.1; done']));
    await d.runtime.call('StartContainer', { container_id: usr1 });
    const st1 = await ctrStatus(d, usr1);
    await until('ready', () => (readCriLog(st1.log_path).some((l) => l.text === 'ready') ? true : undefined));
    await d.runtime.call('StopContainer', { container_id: usr1, timeout: '10' });
    const done1 = await waitExited(d, usr1);
    expect(done1).toMatchObject({ exit_code: 7, reason: 'Error' });
    expect(readCriLog(done1.log_path).map((l) => l.text)).toContain('got-usr1');

    const stubborn = await createCtr(d, pod, ctrConfig('stubborn', bb, ['sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 0.1; done']));
    await d.runtime.call('StartContainer', { container_id: stubborn });
    const st2 = await ctrStatus(d, stubborn);
    await until('ready', () => (readCriLog(st2.log_path).some((l) => l.text === 'ready') ? true : undefined));
    const t0 = Date.now();
    await d.runtime.call('StopContainer', { container_id: stubborn, timeout: '1' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(await ctrStatus(d, stubborn)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137 });
    await d.runtime.call('StopContainer', { container_id: stubborn, timeout: '1' });
  });
});
