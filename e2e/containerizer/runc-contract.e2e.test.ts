import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { background } from '../../src/common/ctx';
import { procStat } from '../../src/common/native';
import { ociRuntimeContract } from '../../src/mesos-compat/oci-runtime.contract';
import { RuncRuntime } from '../../src/mesos-compat/runc';
import { catatonitBundle, tempBase } from './fixtures';

describe('RuncRuntime (real runc)', () => {
  const base = tempBase('runc-contract-');
  const runtime = new RuncRuntime({ name: 'runc', path: '/usr/sbin/runc', root: join(base, 'root') });
  afterAll(() => {
    for (const id of execFileSync('runc', ['--root', join(base, 'root'), 'list', '-q']).toString().split('\n').filter(Boolean)) {
      execFileSync('runc', ['--root', join(base, 'root'), 'delete', '-f', id]);
    }
    rmSync(base, { recursive: true, force: true });
  });
  const bundle = async (id: string): Promise<string> => {
    const b = join(base, id);
    return existsSync(join(b, 'config.json')) ? b : catatonitBundle(b);
  };
  const create = async (id: string): Promise<number> => {
    const b = await bundle(id);
    execFileSync('runc', ['--root', join(base, 'root'), 'create', '--bundle', b, '--pid-file', join(b, 'pid'), id], { stdio: 'ignore' });
    return Number(readFileSync(join(b, 'pid'), 'utf8'));
  };
  ociRuntimeContract(async () => ({ runtime, create: async (id) => void (await create(id)) }));

  const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!;

  it('starts a created container through its exec fifo, as `runc start` does, once', async () => {
    const id = `fifo-${process.pid}-${Date.now()}`;
    const pid = await create(id);
    expect(cmdline(pid)).toMatch(/runc/);
    expect((await runtime.state(id, background()))?.status).toBe('created');
    await runtime.start(id, background());
    // Started: the exec is under way (its command line shows once the kernel has set it up).
    for (let i = 0; i < 100 && cmdline(pid) !== '/catatonit'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(cmdline(pid)).toBe('/catatonit');
    expect(existsSync(join(base, 'root', id, 'exec.fifo'))).toBe(false);
    expect(await runtime.state(id, background())).toMatchObject({ status: 'running', pid });
    // No fifo any more: `runc start` answers, and refuses.
    await expect(runtime.start(id, background())).rejects.toThrow(/running|stopped|cannot start/i);
  });

  it('fails, rather than waits, to start a created container whose process died', async () => {
    const id = `fifo-dead-${process.pid}-${Date.now()}`;
    const pid = await create(id);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && procStat(pid) && procStat(pid)!.state !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await expect(runtime.start(id, background())).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringMatching(/already dead/) });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
