import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nested, topLevel } from '../../src/common/container-id';
import { background } from '../../src/common/ctx';
import { createContainerizer, type MesosContainerizer } from '../../src/mesos-compat';
import type { ContainerEvent } from '../../src/mesos-compat/events';
import { Cgroups } from '../../src/mesos-compat/isolators/cgroups';
import { containerConfig, sandboxConfig, security } from './configs';
import { BusyboxProvisioner, cgroupExists, mountsUnder, tempBase } from './fixtures';

const ctx = background();
const newId = (): string => randomBytes(32).toString('hex');

describe('containerizer on real runc + conmon (host network)', () => {
  let base: string;
  let cz: MesosContainerizer;
  let prov: BusyboxProvisioner;
  const events: ContainerEvent[] = [];
  const sandboxes: string[] = [];
  const cgroupParent = `/mesos-cri-e2e-${process.pid}`;

  const make = (): MesosContainerizer =>
    createContainerizer({
      workDir: join(base, 'lib'),
      runDir: join(base, 'run'),
      runtime: { name: 'auto', path: '', root: '' },
      conmon: '/usr/bin/conmon',
      infra: '/usr/bin/catatonit',
      cgroupParent,
      restrictOomScoreAdj: true,
      provisioner: prov,
    });

  beforeAll(async () => {
    base = tempBase('cz-e2e-');
    prov = new BusyboxProvisioner(join(base, 'rootfs'));
    cz = make();
    await cz.recover(ctx);
    cz.subscribe((e) => events.push(e));
  });

  afterAll(async () => {
    for (const sid of sandboxes) await cz.remove(topLevel(sid), ctx).catch(() => undefined);
    await cz.swept();
    cz.close();
    expect(mountsUnder(base)).toEqual([]);
    for (const sid of sandboxes) expect(cgroupExists(`${cgroupParent}/${sid}`)).toBe(false);
    await new Cgroups().remove(cgroupParent);
    rmSync(base, { recursive: true, force: true });
  });

  async function runPod(name: string): Promise<string> {
    const sid = newId();
    sandboxes.push(sid);
    expect(await cz.launch(topLevel(sid), { kind: 'sandbox', config: sandboxConfig(name, join(base, 'logs', name)) }, ctx)).toBe('launched');
    return sid;
  }

  it('runs a pod and a container: logs in CRI format, exit code, reason, timestamps, events', async () => {
    const sid = await runPod('pod1');
    const st = cz.status(topLevel(sid));
    expect(st).toMatchObject({ kind: 'sandbox', state: 'ready', hostNetwork: true });
    const cid = newId();
    const id = nested(topLevel(sid), cid);
    const long = 'x'.repeat(20000);
    await cz.launch(id, { kind: 'container', config: containerConfig('c1', ['sh', '-c', `echo hello; echo oops >&2; printf ${long}; echo; printf partial; exit 3`]) }, ctx);
    expect(cz.status(id)).toMatchObject({ state: 'created', startedAt: 0n });
    await cz.start(id, ctx);
    const done = await cz.wait(id, { signal: AbortSignal.timeout(20_000) });
    expect(done).toMatchObject({ state: 'exited', exitCode: 3, reason: 'Error' });
    expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt);
    expect(done.startedAt).toBeGreaterThan(done.createdAt);
    const log = readFileSync(done.logPath, 'utf8').split('\n').filter(Boolean);
    const re = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d (stdout|stderr) [PF] /;
    for (const l of log) expect(l).toMatch(re);
    expect(log.some((l) => / stdout F hello$/.test(l))).toBe(true);
    expect(log.some((l) => / stderr F oops$/.test(l))).toBe(true);
    expect(log.some((l) => / stdout P partial$/.test(l))).toBe(true);
    // The 20000-char line arrives in pieces: P parts then an F, whose contents join back to it.
    const parts = log.filter((l) => / stdout [PF] x+$/.test(l)).map((l) => l.replace(re, ''));
    expect(parts.join('')).toBe(long);
    expect(events.filter((e) => e.containerId === cid).map((e) => e.type)).toEqual(['created', 'started', 'stopped']);

    expect(await cz.remove(id, ctx)).toBe(true);
    expect(await cz.remove(id, ctx)).toBe(false);
    expect(() => cz.status(id)).toThrow(/not found/);
    expect(events.at(-1)).toMatchObject({ type: 'deleted', containerId: cid });
    expect(existsSync(done.logPath)).toBe(true);
  });

  it('stops a running container with the stop signal, then SIGKILL after the timeout', async () => {
    const sid = await runPod('pod2');
    const a = nested(topLevel(sid), newId());
    await cz.launch(a, { kind: 'container', config: containerConfig('term', ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done']) }, ctx);
    await cz.start(a, ctx);
    await new Promise((r) => setTimeout(r, 300));
    await cz.kill(a, { timeoutSeconds: 10 }, ctx);
    expect(cz.status(a)).toMatchObject({ state: 'exited', exitCode: 0, reason: 'Completed' });

    const b = nested(topLevel(sid), newId());
    await cz.launch(b, { kind: 'container', config: containerConfig('stubborn', ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']) }, ctx);
    await cz.start(b, ctx);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await cz.kill(b, { timeoutSeconds: 1 }, ctx);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(cz.status(b)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
    await cz.kill(b, { timeoutSeconds: 1 }, ctx); // idempotent
  });

  it.each(['container', 'pod'] as const)('SIGKILLs every process of a container (pid namespace: %s) and nothing else', async (pid) => {
    // Children that ignore TERM and left the foreground included; here
    // without a runtime process (the container's cgroup, or its init's pid namespace).
    const sec = security({ namespaces: { network: 'node', pid, ipc: 'pod', targetId: '' } });
    const sid = newId();
    sandboxes.push(sid);
    await cz.launch(topLevel(sid), { kind: 'sandbox', config: sandboxConfig(`spread-${pid}`, join(base, 'logs', `spread-${pid}`), { security: sec }) }, ctx);
    const c = nested(topLevel(sid), newId());
    const spread = 'trap "" TERM; (trap "" TERM; sleep 1000) & (trap "" TERM; sleep 1001) & while true; do sleep 0.1; done';
    await cz.launch(c, { kind: 'container', config: containerConfig('spread', ['sh', '-c', spread], { security: sec }) }, ctx);
    await cz.start(c, ctx);
    const procs = `/sys/fs/cgroup/pids${cgroupParent}/${sid}/${c.value}/cgroup.procs`;
    let pids: number[] = [];
    for (let i = 0; i < 100 && pids.length < 4; i++) {
      await new Promise((r) => setTimeout(r, 50));
      pids = readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
    }
    expect(pids.length).toBeGreaterThanOrEqual(4);
    const bystander = spawn('sleep', ['1000'], { stdio: 'ignore' });
    try {
      await cz.kill(c, { timeoutSeconds: 0 }, ctx);
      expect(cz.status(c)).toMatchObject({ state: 'exited', exitCode: 137 });
      await new Promise((r) => setTimeout(r, 100));
      const alive = (p: number): boolean => existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ');
      expect(pids.filter(alive)).toEqual([]);
      expect(alive(bystander.pid!)).toBe(true);
      expect(cz.status(topLevel(sid))).toMatchObject({ state: 'ready' });
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('refuses a duplicate name, an unknown image and a stopped sandbox, leaving nothing behind', async () => {
    const sid = await runPod('pod3');
    const cfg = containerConfig('dup', ['sleep', '100']);
    const first = nested(topLevel(sid), newId());
    await cz.launch(first, { kind: 'container', config: cfg }, ctx);
    await expect(cz.launch(nested(topLevel(sid), newId()), { kind: 'container', config: cfg }, ctx)).rejects.toMatchObject({ code: 'AlreadyExists' });
    const before = cz.containers().length;
    await expect(cz.launch(nested(topLevel(sid), newId()), { kind: 'container', config: containerConfig('x', ['true'], { image: 'nope' }) }, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    expect(cz.containers().length).toBe(before);
    await expect(cz.launch(topLevel(newId()), { kind: 'sandbox', config: sandboxConfig('pod3', join(base, 'logs', 'pod3')) }, ctx)).rejects.toMatchObject({ code: 'AlreadyExists' });

    expect(await cz.destroy(topLevel(sid), ctx)).toBe(true);
    expect(cz.status(topLevel(sid))).toMatchObject({ state: 'notready' });
    // Never started: nothing ran, so it stays CREATED (as containerd), and cannot start in a stopped pod.
    expect(cz.status(first)).toMatchObject({ state: 'created' });
    await expect(cz.start(first, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(cz.launch(nested(topLevel(sid), newId()), { kind: 'container', config: containerConfig('late', ['true']) }, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await cz.destroy(topLevel(sid), ctx)).toBe(true);
    expect(await cz.remove(topLevel(sid), ctx)).toBe(true);
    expect(await cz.remove(topLevel(sid), ctx)).toBe(false);
    await cz.swept();
    expect(cgroupExists(`${cgroupParent}/${sid}`)).toBe(false);
    expect(mountsUnder(join(base, 'run', 'shm', sid))).toEqual([]);
  });

  it('reports cgroup usage and reopens the log', async () => {
    const sid = await runPod('pod4');
    const id = nested(topLevel(sid), newId());
    await cz.launch(id, { kind: 'container', config: containerConfig('stats', ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done']) }, ctx);
    await cz.start(id, ctx);
    await new Promise((r) => setTimeout(r, 300));
    const u = await cz.usage(id, ctx);
    expect(u.memoryUsageBytes).toBeGreaterThan(0n);
    expect(u.cpuUsageNs).toBeGreaterThan(0n);
    expect(u.writableLayer?.bytes).toBe(4096n);
    const pod = await cz.usage(topLevel(sid), ctx);
    expect(pod.memoryUsageBytes).toBeGreaterThanOrEqual(u.memoryUsageBytes!);

    const logPath = (cz.status(id) as { logPath: string }).logPath;
    rmSync(logPath);
    await cz.reopenLog(id, ctx);
    for (let i = 0; i < 100 && !(existsSync(logPath) && readFileSync(logPath, 'utf8').includes('line')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(logPath, 'utf8')).toMatch(/stdout F line\d+/);
  });
});

describe('containerizer: security, resources, OOM and ExecSync on real runc', () => {
  let base: string;
  let cz: MesosContainerizer;
  let sid: string;
  const cgroupParent = `/mesos-cri-e2e-sec-${process.pid}`;
  beforeAll(async () => {
    base = tempBase('cz-sec-');
    cz = createContainerizer({
      workDir: join(base, 'lib'),
      runDir: join(base, 'run'),
      runtime: { name: 'auto', path: '', root: '' },
      conmon: '/usr/bin/conmon',
      infra: '/usr/bin/catatonit',
      cgroupParent,
      restrictOomScoreAdj: true,
      provisioner: new BusyboxProvisioner(join(base, 'rootfs')),
    });
    await cz.recover(ctx);
    sid = newId();
    await cz.launch(topLevel(sid), { kind: 'sandbox', config: sandboxConfig('sec', join(base, 'logs')) }, ctx);
  });
  afterAll(async () => {
    await cz.remove(topLevel(sid), ctx).catch(() => undefined);
    cz.close();
    expect(mountsUnder(base)).toEqual([]);
    await new Cgroups().remove(cgroupParent);
    rmSync(base, { recursive: true, force: true });
  });

  const runToExit = async (name: string, cmd: string[], over: Parameters<typeof containerConfig>[2] = {}) => {
    const id = nested(topLevel(sid), newId());
    await cz.launch(id, { kind: 'container', config: containerConfig(name, cmd, over) }, ctx);
    await cz.start(id, ctx);
    const st = await cz.wait(id, { signal: AbortSignal.timeout(30_000) });
    const out = readFileSync(st.logPath, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(3).join(' '));
    return { st, out };
  };

  it('applies user, group and a read-only rootfs from the security context', async () => {
    const { st, out } = await runToExit('user', ['sh', '-c', 'id -u; id -g; touch /x 2>/dev/null && echo writable || echo readonly'], {
      security: { ...containerConfig('x', []).security, runAsUser: 1000n, runAsGroup: 100n, readonlyRootfs: true },
    });
    expect(st.exitCode).toBe(0);
    expect(out).toEqual(['1000', '100', 'readonly']);
  });

  it('writes the memory limit into the cgroup and reports an OOM kill as OOMKilled', async () => {
    const limit = 32n * 1024n * 1024n;
    const resources = { cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, memoryLimitBytes: limit, memorySwapLimitBytes: 0n, oomScoreAdj: 0, cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {} };
    const id = nested(topLevel(sid), newId());
    await cz.launch(id, { kind: 'container', config: containerConfig('oom', ['sh', '-c', 'sleep 0.5; x=y; while true; do x="$x$x"; done'], { resources }) }, ctx);
    await cz.start(id, ctx);
    const cg = `/sys/fs/cgroup/memory${cgroupParent}/${sid}/${id.value}/memory.limit_in_bytes`;
    if (existsSync(cg)) expect(readFileSync(cg, 'utf8').trim()).toBe(limit.toString());
    const st = await cz.wait(id, { signal: AbortSignal.timeout(60_000) });
    expect(st).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' });
  });

  it('applies UpdateContainerResources made before StartContainer when the runtime makes the container', async () => {
    const res = (memoryLimitBytes: bigint) => ({ cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, memoryLimitBytes, memorySwapLimitBytes: 0n, oomScoreAdj: 0, cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {} });
    const id = nested(topLevel(sid), newId());
    await cz.launch(id, { kind: 'container', config: containerConfig('upd', ['sleep', '1000'], { resources: res(64n << 20n) }) }, ctx);
    await cz.update(id, res(48n << 20n), ctx);
    await cz.start(id, ctx);
    expect(readFileSync(`/sys/fs/cgroup/memory${cgroupParent}/${sid}/${id.value}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(48 << 20));
    await cz.kill(id, { timeoutSeconds: 0 }, ctx);
  });

  it('runs ExecSync with captured output, exit code and an exact timeout', async () => {
    const id = nested(topLevel(sid), newId());
    await cz.launch(id, { kind: 'container', config: containerConfig('exec', ['sleep', '1000']) }, ctx);
    await cz.start(id, ctx);
    const r = await cz.execSync(id, ['sh', '-c', 'echo out; echo err >&2; exit 4'], { timeoutSeconds: 10 }, ctx);
    expect(r).toMatchObject({ exitCode: 4 });
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    const t0 = Date.now();
    await expect(cz.execSync(id, ['sleep', '30'], { timeoutSeconds: 1 }, ctx)).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(Date.now() - t0).toBeLessThan(5000);
    const ps = await cz.execSync(id, ['sh', '-c', 'ls /proc | grep -c "^[0-9]"'], { timeoutSeconds: 10 }, ctx);
    // Only init and this shell (+ its grep/ls) remain: the timed-out sleep was killed.
    expect(Number(ps.stdout.toString().trim())).toBeLessThanOrEqual(4);
    await cz.kill(id, { timeoutSeconds: 0 }, ctx);
  });
});
