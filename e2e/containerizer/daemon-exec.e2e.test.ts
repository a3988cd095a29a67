import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import { createCtr, ctrConfig, execSync, tearDown, runPod, testCgroupParent, until, type Pod, type Wire } from './cri-fixture';

/**
 * ExecSync runs through the native exec helper, not `runc exec`. These
 * tests hold the helper to runc: the same command, run both ways in the
 * same container, must see the same credentials, capabilities,
 * no_new_privs, seccomp, cgroups, namespaces, limits, env and cwd.
 */

/** Everything a process can see of how it was set up, one fact per line. */
const PROBE = [
  'grep -E "^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status',
  'cat /proc/self/cgroup',
  'for n in cgroup ipc mnt net pid uts; do echo "$n $(readlink /proc/self/ns/$n)"; done',
  'cat /proc/self/limits',
  'echo "cwd $(pwd) umask $(umask)"',
  'env | grep -v "^PWD=\\|^SHLVL=\\|^_=" | sort',
].join('; ');

describe('ExecSync through the native exec helper', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let pod: Pod;
  let dir = '';

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'exec/busybox:1', { env: ['PATH=/bin', 'FROM_IMAGE=a b'], workingDir: '/tmp' })).ref;
    dir = mkdtempSync(join(tmpdir(), 'mcri-exec-'));
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    pod = await runPod(d, 'exec', { extra: { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } } });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    if (dir) rmSync(dir, { recursive: true, force: true });
    await stopTestRegistry();
  });

  async function started(name: string, extra: Wire): Promise<string> {
    const id = await createCtr(d, pod, ctrConfig(name, bb, ['sleep', '3600'], extra));
    await d.runtime.call('StartContainer', { container_id: id });
    return id;
  }

  function runcExec(id: string, cmd: string[]): { stdout: string; status: number } {
    try {
      const stdout = execFileSync('runc', ['--root', join(d.runDir, 'runc'), 'exec', id, ...cmd], { encoding: 'utf8' });
      return { stdout, status: 0 };
    } catch (err) {
      const e = err as { stdout?: string; status?: number };
      return { stdout: e.stdout ?? '', status: e.status ?? -1 };
    }
  }

  const cases: Array<[string, () => Wire]> = [
    ['image defaults, no seccomp', () => ({ envs: [{ key: 'MULTI', value: Buffer.from('line1\nline2 \\ end') }] })],
    [
      'RuntimeDefault seccomp, a user with groups, capabilities changed, no_new_privs',
      () => ({
        working_dir: '/',
        linux: {
          security_context: {
            run_as_user: { value: 1000 },
            run_as_group: { value: 1000 },
            supplemental_groups: [4000, 4001],
            capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['CHOWN'] },
            no_new_privs: true,
            seccomp: { profile_type: 'RuntimeDefault' },
          },
        },
      }),
    ],
  ];

  for (const [name, extra] of cases) {
    it(`sees what runc exec sees: ${name}`, async () => {
      const id = await started(`same-${cases.findIndex((c) => c[0] === name)}`, extra());
      const ours = await execSync(d, id, ['sh', '-c', PROBE]);
      const runc = runcExec(id, ['sh', '-c', PROBE]);
      expect(runc.status).toBe(0);
      expect(ours.exit_code).toBe(0);
      // Only the pid-dependent parts differ; the probe has none.
      expect(ours.stdout).toBe(runc.stdout);
      expect(ours.stdout).toMatch(/^CapBnd:\s+[0-9a-f]+$/m);
      expect(ours.stdout).toMatch(/^cwd \//m);
    });
  }

  it('applies a Localhost seccomp profile to the exec, as runc does', async () => {
    const profile = join(dir, 'deny-mkdir.json');
    writeFileSync(profile, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
    }));
    const id = await started('seccomp-local', { linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: profile } } } });
    const ours = await execSync(d, id, ['sh', '-c', 'mkdir /tmp/denied; echo "rc=$?"; touch /tmp/allowed && echo touched']);
    const runc = runcExec(id, ['sh', '-c', 'mkdir /tmp/denied2; echo "rc=$?"; touch /tmp/allowed2 && echo touched']);
    expect(ours.stdout).toBe('rc=1\ntouched\n');
    expect(ours.stderr).toMatch(/Permission denied/);
    expect(runc.stdout).toBe(ours.stdout);
  });

  it('reports a missing executable as an error, and a container that exited as not running', async () => {
    const id = await started('missing', {});
    const err = await d.runtime.call('ExecSync', { container_id: id, cmd: ['/no/such/binary'], timeout: 5 }).catch((e: unknown) => e as { code: number; details: string });
    expect(err).toMatchObject({ details: expect.stringMatching(/no\/such\/binary.*No such file/) });
    const short = await started('short', { command: ['sh', '-c', 'sleep 0.3'] });
    await until('the container to exit', async () => {
      const st = await d.runtime.call<{ status: { state: string } }>('ContainerStatus', { container_id: short });
      return st.status.state === 'CONTAINER_EXITED' ? true : undefined;
    });
    const gone = await d.runtime.call('ExecSync', { container_id: short, cmd: ['true'], timeout: 5 }).catch((e: unknown) => e as { code: number });
    expect(gone).toMatchObject({ code: 9 });
  });

  it('kills the whole process group at the timeout, background children too', async () => {
    const id = await started('timeout', {});
    const t0 = Date.now();
    const err = await d.runtime
      .call('ExecSync', { container_id: id, cmd: ['sh', '-c', 'sleep 300 & sleep 301'], timeout: 1 })
      .catch((e: unknown) => e as { code: number });
    expect(err).toMatchObject({ code: 4 });
    expect(Date.now() - t0).toBeLessThan(4_000);
    const ps = await execSync(d, id, ['ps', '-o', 'args']);
    expect(ps.stdout).not.toMatch(/sleep 30[01]/);
  });
});
