import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import { createCtr, ctrConfig, ctrStatus, failure, GRPC, logText, readCriLog, runPod, tearDown, testCgroupParent, until, waitExited } from './cri-fixture';

/**
 * Issue 15: StartContainer's hand-off through runc's exec fifo survives a
 * kill of the daemon at any instant. The instant that matters is after the
 * fifo was read (the process runs) and before it was removed: runc then
 * still says "created". Here the test does the hand-off itself, as the
 * killed daemon would have, and leaves the fifo.
 */

async function pidOf(d: Daemon, id: string): Promise<number> {
  const r = await d.runtime.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
  return (JSON.parse(r.info.info ?? '{}') as { pid?: number }).pid ?? 0;
}

/** What `runtime.start` does up to the instant of the kill: read the fifo's byte, leave the fifo. */
const handOff = (d: Daemon, id: string): void => {
  execFileSync('head', ['-c1', join(d.runDir, 'runc', id, 'exec.fifo')], { timeout: 10_000, stdio: ['ignore', 'ignore', 'inherit'] });
};

describe('a StartContainer cut short between the fifo hand-off and its removal', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'startcrash/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
  });

  it('recovers the container as RUNNING, answers a later start without hanging, and keeps a never-started one CREATED', async () => {
    const pod = await runPod(d, 'startcrash');
    const cmd = ['sh', '-c', 'echo started; exec sleep 1000'];
    const handed = await createCtr(d, pod, ctrConfig('handed', bb, cmd));
    const untouched = await createCtr(d, pod, ctrConfig('untouched', bb, ['sh', '-c', 'echo late']));
    await d.kill9();
    handOff(d, handed);
    expect(existsSync(join(d.runDir, 'runc', handed, 'exec.fifo'))).toBe(true);

    d = await d.restart();
    const st = await ctrStatus(d, handed);
    expect(st).toMatchObject({ state: 'CONTAINER_RUNNING' });
    expect(BigInt(st.started_at)).toBeGreaterThan(0n);
    expect(BigInt(st.started_at)).toBeGreaterThanOrEqual(BigInt(st.created_at));
    const pid = await pidOf(d, handed);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
    await until('its output', () => (logText(readCriLog(st.log_path)).includes('started') ? true : undefined), 10_000);
    const t0 = Date.now();
    expect((await failure(d.runtime.call('StartContainer', { container_id: handed }))).code).toBe(GRPC.FAILED_PRECONDITION);
    expect(Date.now() - t0).toBeLessThan(5_000);

    // The one whose start never began is still CREATED and starts.
    expect(await ctrStatus(d, untouched)).toMatchObject({ state: 'CONTAINER_CREATED', started_at: '0' });
    await d.runtime.call('StartContainer', { container_id: untouched });
    expect(await waitExited(d, untouched)).toMatchObject({ exit_code: 0 });

    await d.runtime.call('StopContainer', { container_id: handed, timeout: '1' });
    expect(await ctrStatus(d, handed)).toMatchObject({ state: 'CONTAINER_EXITED' });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });

  it('answers a StartContainer whose fifo was already handed off without hanging, while the daemon runs', async () => {
    const pod = await runPod(d, 'startcrash-live');
    const id = await createCtr(d, pod, ctrConfig('live', bb, ['sleep', '1000']));
    handOff(d, id);
    const t0 = Date.now();
    const f = await failure(d.runtime.call('StartContainer', { container_id: id }, 20_000));
    expect(f.code).toBe(GRPC.FAILED_PRECONDITION);
    expect(f.details).toMatch(/started already/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // And the stale fifo is gone: runc reports the truth.
    expect(existsSync(join(d.runDir, 'runc', id, 'exec.fifo'))).toBe(false);
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });
});
