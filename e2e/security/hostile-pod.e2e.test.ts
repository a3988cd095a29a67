import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { existsSync } from 'node:fs';
import { startDaemon, type Daemon } from '../support/daemon';
import { PLUGIN_DIR } from '../cni/helpers';
import { createCtr, ctrConfig, ctrStatus, execSync, readCriLog, failure, GRPC, runPod, tearDown, testCgroupParent, type Pod, type Wire, waitSwept } from '../containerizer/cri-fixture';

/**
 * Hostile pods, each against a canary directory on the host that must stay
 * empty: a root container in a pod sharing its PID namespace walks
 * /proc/N/{root,cwd,fd/*}/.. for every process it sees (the infra process,
 * a sibling container, an exec'd process), ptraces the infra process, and
 * reads another pod's session keys; pods ask for sysctls outside their own
 * namespaces. Every refusal names its field; the node's values stay.
 */

const readSysctl = (k: string): string => readFileSync(`/proc/sys/${k.replace(/\./g, '/')}`, 'utf8');

describe('hostile pods stay inside', () => {
  const cgroupParent = testCgroupParent();
  const canary = mkdtempSync(join(tmpdir(), 'mcri-canary-'));
  const probeDir = mkdtempSync(join(tmpdir(), 'mcri-probe-'));
  let d: Daemon;
  let bb = '';
  let odd = '';
  let pod: Pod;
  let infraPid = 0;
  let a = '';
  let b = '';

  const withProbe = (name: string, command: string[], extra: Wire = {}): Wire =>
    ctrConfig(name, bb, command, {
      mounts: [{ container_path: '/probe', host_path: probeDir, readonly: true }],
      linux: { security_context: { run_as_user: { value: 0 }, namespace_options: { pid: 'POD', network: 'NODE', ipc: 'POD' } } },
      ...extra,
    });

  beforeAll(async () => {
    const built = spawnSync('gcc', ['-static', '-O2', '-o', join(probeDir, 'probe'), join(__dirname, 'probe.c')], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`cannot build the probe: ${built.stderr}`);
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'hostile/busybox:1')).ref;
    // an image shipping a device node at /dev/ptmx (/dev/null's numbers) and a StopSignal that is none
    odd = (await pushBusybox(reg, 'hostile/odd:1', { extra: [{ name: 'dev/ptmx', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }] })).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, '--cni-bin-dir', PLUGIN_DIR] });
    // pods with a network of their own get a loopback-only one
    mkdirSync(join(d.base, 'cni'), { recursive: true });
    writeFileSync(join(d.base, 'cni', '10-lo.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo', plugins: [{ type: 'loopback' }] }));
    await d.image.call('PullImage', { image: { image: bb } });
    await d.image.call('PullImage', { image: { image: odd } });
    pod = await runPod(d, 'hostile', {
      extra: {
        linux: { security_context: { run_as_user: { value: 0 }, namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
      },
    });
    const st = await d.runtime.call<{ info: Record<string, string> }>('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
    infraPid = (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
    a = await createCtr(d, pod, withProbe('a', ['sleep', '3600']));
    b = await createCtr(d, pod, withProbe('b', ['sleep', '3600']));
    for (const id of [a, b]) await d.runtime.call('StartContainer', { container_id: id });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
    rmSync(probeDir, { recursive: true, force: true });
    rmSync(canary, { recursive: true, force: true });
  });

  it('runs the infra as root of the pod with no capability, its own mount namespace and an empty read-only root', () => {
    const st = readFileSync(`/proc/${infraPid}/status`, 'utf8');
    expect(st).toMatch(/^Uid:\s+0\s+0\s+0\s+0$/m);
    for (const c of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(st).toMatch(new RegExp(`^${c}:\\s+0000000000000000$`, 'm'));
    expect(st).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(readFileSync(`/proc/${infraPid}/mountinfo`, 'utf8').trim().split('\n')).toEqual([expect.stringMatching(/ \/ \/ ro,.* - tmpfs infra ro,/)]);
    expect(spawnSync('readlink', [`/proc/${infraPid}/ns/mnt`]).stdout.toString()).not.toBe(spawnSync('readlink', ['/proc/self/ns/mnt']).stdout.toString());
    expect(readdirSync(`/proc/${infraPid}/root`)).toEqual([]);
  });

  it('walks /proc/N/{root,cwd,fd/*}/.. of the infra, a sibling and an exec\'d process without reaching the host', async () => {
    // an exec'd process that stays behind, visible to the pod
    await execSync(d, b, ['sh', '-c', 'sleep 300 >/dev/null 2>&1 </dev/null &']);
    const seen = (await execSync(d, a, ['ps', '-o', 'pid,comm'])).stdout;
    expect(seen).toMatch(/^\s*1 catatonit$/m);
    expect(seen.match(/sleep/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    const r = await execSync(d, a, ['/probe/probe', 'walk', canary], 30);
    expect(r.stdout).not.toContain('ESCAPED');
    expect(r.stdout).toMatch(/tried \d+ escaped 0/);
    expect(readdirSync(canary)).toEqual([]);
    // a shell's redirection, as the issue's report did it
    for (const cmd of [`echo x > /proc/1/root/../../../../../../../../..${canary}/x`, `echo x > /proc/1/cwd/../../../..${canary}/y`, 'readlink /proc/1/fd/0', 'ls /proc/1/root/']) {
      const sh = await execSync(d, a, ['sh', '-c', cmd]);
      expect(sh.exit_code, `${cmd}: ${sh.stdout}${sh.stderr}`).not.toBe(0);
    }
    expect(readdirSync(canary)).toEqual([]);
  });

  it('measures a writable layer that swaps its directories for symlinks to the host without reading the host', async () => {
    // The container swaps /w/d and a symlink to a host tree with the layer's names every 100 us. The tree's
    // directories have their atime 3 days back: a listing of one (getdents) moves it on this relatime mount.
    const tree = mkdtempSync(join(tmpdir(), 'mcri-canary-tree-'));
    const old = new Date(Date.now() - 3 * 86_400_000);
    for (let s = 0; s < 10; s++) {
      mkdirSync(join(tree, `s${s}`));
      for (let f = 0; f < 200; f++) writeFileSync(join(tree, `s${s}`, `g${f}`), '');
      utimesSync(join(tree, `s${s}`), old, old);
    }
    utimesSync(tree, old, old);
    const atimes = (): number[] => [tree, ...Array.from({ length: 10 }, (_, s) => join(tree, `s${s}`))].map((p) => statSync(p).atimeMs);
    const before = atimes();
    const swapper = `mkdir -p /w/d && cd /w/d && for s in 0 1 2 3 4 5 6 7 8 9; do mkdir s$s; for f in $(seq 100); do : > s$s/f$f; done; done && ln -s ${tree} /w/l && touch /w/ready && while [ ! -e /w/go ]; do usleep 10000; done && exec /probe/probe swap /w/d /w/l`;
    const c = await createCtr(d, pod, withProbe('swapper', ['sh', '-c', swapper]));
    await d.runtime.call('StartContainer', { container_id: c });
    for (let i = 0; i < 100 && (await execSync(d, c, ['test', '-e', '/w/ready'])).exit_code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    type Layer = { stats: { writable_layer: { inodes_used: { value: string } | null } | null } };
    const inodes = async (): Promise<bigint> => BigInt((await d.runtime.call<Layer>('ContainerStats', { container_id: c })).stats.writable_layer!.inodes_used!.value);
    // still: the whole layer (/w, d, l, ready, 10 directories of 100 files, and what the runtime made)
    const whole = await inodes();
    expect(whole).toBeGreaterThanOrEqual(1_014n);
    expect(whole).toBeLessThan(1_100n);
    expect((await execSync(d, c, ['touch', '/w/go'])).exit_code).toBe(0);
    // a walk every 2 s (the daemon's cache): three or four walks, each racing the swaps, none reading the host's tree
    const seen: bigint[] = [];
    for (const end = Date.now() + 7_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) seen.push(await inodes());
    const still = await ctrStatus(d, c);
    expect(still.state, readCriLog(still.log_path).map((l) => l.text).join('\n')).toBe('CONTAINER_RUNNING'); // swapping all along
    await d.runtime.call('StopContainer', { container_id: c, timeout: 0 });
    expect(atimes()).toEqual(before);
    // never more than the layer holds (a swap may hide a part of it from a walk: the walk is not atomic)
    for (const n of seen) expect(n).toBeLessThanOrEqual(whole + 1n);
    rmSync(tree, { recursive: true, force: true });
  });

  it('cannot ptrace the infra process', async () => {
    const r = await execSync(d, a, ['/probe/probe', 'ptrace', '1']);
    expect(r.stdout.trim()).toBe('EPERM');
    // the probe itself works: a sibling's process of the same user and capabilities is traceable
    const sib = (await execSync(d, a, ['sh', '-c', "ps -o pid,comm | awk '$2==\"sleep\" {print $1}' | tail -1"])).stdout.trim();
    expect((await execSync(d, a, ['/probe/probe', 'ptrace', sib])).stdout.trim()).toBe('ok');
  });

  it('gives every exec a session keyring of its own: another pod cannot read its keys', async () => {
    const other = await runPod(d, 'hostile-keys', { extra: { linux: { security_context: { run_as_user: { value: 0 }, namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } } });
    const c = await createCtr(d, other, withProbe('c', ['sleep', '3600']));
    await d.runtime.call('StartContainer', { container_id: c });
    const id = (await execSync(d, a, ['/probe/probe', 'addkey'])).stdout.trim();
    expect(id).toMatch(/^\d+$/);
    expect((await execSync(d, c, ['/probe/probe', 'readkey', id])).stdout.trim()).toMatch(/^E(ACCES|NOKEY)$/);
    expect((await execSync(d, a, ['/probe/probe', 'readkey', id])).stdout.trim()).toMatch(/^E(ACCES|NOKEY)$/);
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: other.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: other.id });
  });

  it('refuses sysctls outside the pod\'s namespaces, naming the field, and the node keeps its values', async () => {
    const keys = ['vm.swappiness', 'kernel.core_pattern', 'net.core.somaxconn', 'kernel.shmmax', 'kernel.msgmax'];
    const before = keys.map(readSysctl);
    const cases: Array<[string, string, string]> = [
      ['vm.swappiness', '7', 'POD'],
      ['kernel.core_pattern', '|/tmp/evil', 'POD'],
      ['net.core.somaxconn', '7', 'POD'], // host network
      ['kernel.shmmax', '7', 'NODE'], // host IPC
      ['kernel.msgmax', '7', 'NODE'],
    ];
    for (const [key, value, ipc] of cases) {
      const err = await failure(
        runPod(d, `sysctl-${key.replace(/[._]/g, '-')}`, {
          extra: { linux: { sysctls: { [key]: value }, security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc } } } },
        }),
      );
      expect(err.code).toBe(GRPC.INVALID_ARGUMENT);
      expect(err.details).toContain(`linux.sysctls["${key}"]`);
    }
    expect(keys.map(readSysctl)).toEqual(before);
    const pods = await d.runtime.call<{ items: Array<{ metadata: { name: string } }> }>('ListPodSandbox', {});
    expect(pods.items.map((p) => p.metadata.name).filter((n) => n.startsWith('sysctl-'))).toEqual([]);
  });

  it('applies a value with spaces whole, in the pod\'s own network namespace only', async () => {
    const before = readSysctl('net.ipv4.ping_group_range');
    const p = await runPod(d, 'ping-range', {
      hostNetwork: false,
      extra: { hostname: 'ping-range', linux: { sysctls: { 'net.ipv4.ping_group_range': '0 2147483647', 'kernel.shmmni': '1234' }, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } } },
    });
    const c = await createCtr(d, p, ctrConfig('c', bb, ['sleep', '3600'], { linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } } }));
    await d.runtime.call('StartContainer', { container_id: c });
    const r = await execSync(d, c, ['cat', '/proc/sys/net/ipv4/ping_group_range', '/proc/sys/kernel/shmmni']);
    expect(r.stdout.split(/\s+/).filter(Boolean)).toEqual(['0', '2147483647', '1234']);
    expect(readSysctl('net.ipv4.ping_group_range')).toBe(before);
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: p.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id });
  });

  it('refuses a cgroup_parent that leaves the cgroup root and a log_path that leaves the log directory', async () => {
    const name = `mcri-escape-${process.pid}`;
    const err = await failure(runPod(d, 'cg-escape', { extra: { linux: { cgroup_parent: `/../../../${name}`, security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } } }));
    expect(err.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(err.details).toContain('linux.cgroup_parent');
    expect(existsSync(`/sys/fs/cgroup/${name}`)).toBe(false);
    expect(readdirSync('/sys/fs/cgroup').filter((n) => n.includes('mcri-escape'))).toEqual([]);
    const log = await failure(createCtr(d, pod, ctrConfig('logs', bb, ['true'], { log_path: `../../../../../../../../..${canary}/x.log` })));
    expect(log.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(log.details).toContain('log_path');
    expect(readdirSync(canary)).toEqual([]);
  });

  it('refuses an image StopSignal that is not a signal at create', async () => {
    const reg = await ensureTestRegistry();
    const bad = (await pushBusybox(reg, 'hostile/stopsig:1', { stopSignal: 'SIGFOO' })).ref;
    await d.image.call('PullImage', { image: { image: bad } });
    const err = await failure(createCtr(d, pod, ctrConfig('stopsig', bad, ['sleep', '60'])));
    expect(err.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(err.details).toContain('StopSignal "SIGFOO"');
  });

  it('opens an exec pty from the container\'s devpts only, whatever a root container puts at /dev/ptmx', async () => {
    const c = await createCtr(d, pod, withProbe('ptmx', ['sleep', '3600'], { image: { image: odd } }));
    await d.runtime.call('StartContainer', { container_id: c });
    // root with CAP_MKNOD swaps the /dev/ptmx link for a device node
    expect((await execSync(d, c, ['sh', '-c', 'rm -f /dev/ptmx && mknod /dev/ptmx c 1 3 && ls -l /dev/ptmx'])).stdout).toMatch(/^c/);
    const plan = spawnSync('find', [d.base, '-name', 'exec.plan', '-path', `*${c}*`], { encoding: 'utf8' }).stdout.trim().split('\n')[0]!;
    expect(plan).toMatch(/exec\.plan$/);
    const helper = join(__dirname, '..', '..', 'native', 'bin', 'mesos-cri-exec');
    const r = spawnSync(helper, ['-t', plan, 'sh', '-c', 'tty; stat -c %t:%T "$(tty)"'], { input: '', encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    const [tty, numbers] = r.stdout.trim().split(/\r?\n/);
    expect(tty).toMatch(/^\/dev\/pts\/\d+$/);
    expect(numbers).toMatch(/^88:/); // a unix98 pty slave (major 136 = 0x88)
  });

  it('an ExecSync racing RemoveContainer never leaves a bundle behind', async () => {
    for (let round = 0; round < 5; round++) {
      const c = await createCtr(d, pod, ctrConfig(`race-${round}`, bb, ['sleep', '3600']));
      await d.runtime.call('StartContainer', { container_id: c });
      const execs = Array.from({ length: 4 }, () => execSync(d, c, ['true']).catch(() => undefined));
      await Promise.all([d.runtime.call('RemoveContainer', { container_id: c }), ...execs]);
      await Promise.all(Array.from({ length: 2 }, () => execSync(d, c, ['true']).catch(() => undefined)));
      // The removal's sweep runs behind its reply; once it is done nothing of the container may be left.
      await waitSwept(d);
      const left = spawnSync('find', [d.base, '-path', `*${c}*`], { encoding: 'utf8' }).stdout.trim();
      expect(left, `round ${round}`).toBe('');
    }
  });

  it('refuses AppArmor on a node without it and unknown seccomp profiles; a FIFO or a secret as a profile gets nowhere', async () => {
    const sc = (extra: Wire): Wire => ({ linux: { security_context: { namespace_options: { pid: 'POD', network: 'NODE', ipc: 'POD' }, ...extra } } });
    for (const extra of [{ apparmor: { profile_type: 'RuntimeDefault' } }, { apparmor_profile: 'runtime/default' }, { apparmor: { profile_type: 'Localhost', localhost_ref: 'x' } }]) {
      const err = await failure(createCtr(d, pod, ctrConfig('aa', bb, ['true'], sc(extra))));
      expect(err.code).toBe(GRPC.FAILED_PRECONDITION);
      expect(err.details).toContain('linux.security_context.apparmor: apparmor is not supported');
    }
    const unconfined = await createCtr(d, pod, ctrConfig('aa-unconfined', bb, ['true'], sc({ apparmor: { profile_type: 'Unconfined' } })));
    await d.runtime.call('RemoveContainer', { container_id: unconfined });

    const unknown = await failure(createCtr(d, pod, ctrConfig('sc', bb, ['true'], sc({ seccomp_profile_path: 'not-a-profile' }))));
    expect(unknown.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(unknown.details).toContain('seccomp_profile_path');

    const fifo = join(probeDir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const t = Date.now();
    const viaFifo = await failure(createCtr(d, pod, ctrConfig('sc-fifo', bb, ['true'], sc({ seccomp: { profile_type: 'Localhost', localhost_ref: fifo } }))));
    expect(Date.now() - t).toBeLessThan(5_000);
    expect(viaFifo.details).toContain('not a regular file');
    await d.runtime.call('Version', {});

    const secret = join(probeDir, 'shadow');
    writeFileSync(secret, 'root:$y$j9T$s3cretHash:19000:0:99999:7:::\n');
    const viaSecret = await failure(createCtr(d, pod, ctrConfig('sc-secret', bb, ['true'], sc({ seccomp: { profile_type: 'Localhost', localhost_ref: secret } }))));
    expect(viaSecret.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(viaSecret.details).not.toContain('s3cret');
    expect(d.logs()).not.toContain('s3cret');
  });
});
