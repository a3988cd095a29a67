import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import { createCtr, ctrConfig, ctrStatus, failure, GRPC, logText, readCriLog, runPod, tearDown, testCgroupParent, until, waitExited } from './cri-fixture';

/**
 * Issue 15: StartContainer survives a kill of the daemon at any instant.
 * StartContainer makes the container in the runtime (conmon, `runc
 * create`), then lets its process go through runc's exec fifo. Here `runc
 * create` is held (a wrapper) so the kill lands inside a start: a start
 * cut short before the hand-off is undone (the container stays CREATED and
 * starts later), one whose process was let go (here the test does the
 * hand-off, as the killed daemon would have) is recovered as RUNNING.
 */

async function pidOf(d: Daemon, id: string): Promise<number> {
  const r = await d.runtime.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
  return (JSON.parse(r.info.info ?? '{}') as { pid?: number }).pid ?? 0;
}

/** What `runtime.start` does up to the instant of the kill: read the fifo's byte, leave the fifo. */
const handOff = (d: Daemon, id: string): void => {
  execFileSync('head', ['-c1', join(d.runDir, 'runc', id, 'exec.fifo')], { timeout: 10_000, stdio: ['ignore', 'ignore', 'inherit'] });
};

describe('a StartContainer cut short inside runtime create or after the fifo hand-off', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let gates = '';

  /** Holds `runc create` of `id` (after it made the container) until `release`. */
  const hold = (id: string): void => writeFileSync(join(gates, id), '');
  const release = (id: string): void => rmSync(join(gates, id), { force: true });
  const made = (id: string): Promise<true> => until(`runc create of ${id}`, () => (existsSync(join(d.runDir, 'runc', id, 'exec.fifo')) ? true : undefined), 20_000);

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'startcrash/busybox:1')).ref;
    const base = mkdtempSync(join(tmpdir(), 'mcri-'));
    gates = join(base, 'gates');
    mkdirSync(gates);
    const wrapper = join(base, 'runc-gated');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        'id=""; create=""',
        'for a in "$@"; do id="$a"; [ "$a" = create ] && create=1; done',
        'runc "$@"; rc=$?',
        `if [ -n "$create" ]; then while [ -e '${gates}'/"$id" ]; do sleep 0.02; done; fi`,
        'exit $rc',
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
    d = await startDaemon({ dirs: { base }, args: ['--cgroup-parent', cgroupParent, '--runtime', 'runc', '--runtime-path', wrapper] });
    await d.image.call('PullImage', { image: { image: bb } });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
  });

  it('undoes a start cut short in runtime create, recovers a handed-off one as RUNNING, keeps a never-started one CREATED', async () => {
    const pod = await runPod(d, 'startcrash');
    const handed = await createCtr(d, pod, ctrConfig('handed', bb, ['sh', '-c', 'echo started; exec sleep 1000']));
    // In a pod of its own: a start holds its pod's lock, so two starts in one pod go one after the other.
    const pod2 = await runPod(d, 'startcrash-2');
    const undone = await createCtr(d, pod2, ctrConfig('undone', bb, ['sh', '-c', 'echo undone-ran']));
    const untouched = await createCtr(d, pod, ctrConfig('untouched', bb, ['sh', '-c', 'echo late']));
    // CreateContainer makes nothing in the runtime: that is StartContainer's.
    expect(existsSync(join(d.runDir, 'runc', handed))).toBe(false);
    hold(handed);
    hold(undone);
    const starts = [handed, undone].map((id) => d.runtime.call('StartContainer', { container_id: id }, 60_000).catch((e: unknown) => e));
    await made(handed);
    await made(undone);
    await d.kill9();
    await Promise.all(starts);
    handOff(d, handed);
    release(handed);
    release(undone);
    expect(existsSync(join(d.runDir, 'runc', handed, 'exec.fifo'))).toBe(true);

    d = await d.restart();
    const st = await ctrStatus(d, handed);
    expect(st).toMatchObject({ state: 'CONTAINER_RUNNING' });
    expect(BigInt(st.started_at)).toBeGreaterThan(0n);
    expect(BigInt(st.started_at)).toBeGreaterThanOrEqual(BigInt(st.created_at));
    const pid = await pidOf(d, handed);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
    const t0 = Date.now();
    expect((await failure(d.runtime.call('StartContainer', { container_id: handed }))).code).toBe(GRPC.FAILED_PRECONDITION);
    expect(Date.now() - t0).toBeLessThan(5_000);

    // The start cut short inside runtime create: undone (no runc state, no
    // monitor), still CREATED, and it starts for real, once.
    expect(await ctrStatus(d, undone)).toMatchObject({ state: 'CONTAINER_CREATED', started_at: '0' });
    expect(existsSync(join(d.runDir, 'runc', undone))).toBe(false);
    expect(d.logs()).toMatch(/undid a start cut short by the restart/);
    await d.runtime.call('StartContainer', { container_id: undone });
    const ran = await waitExited(d, undone);
    expect(ran).toMatchObject({ exit_code: 0 });
    expect(logText(readCriLog(ran.log_path))).toEqual(['undone-ran']);

    // The one whose start never began is still CREATED and starts.
    expect(await ctrStatus(d, untouched)).toMatchObject({ state: 'CONTAINER_CREATED', started_at: '0' });
    await d.runtime.call('StartContainer', { container_id: untouched });
    expect(await waitExited(d, untouched)).toMatchObject({ exit_code: 0 });

    await d.runtime.call('StopContainer', { container_id: handed, timeout: '1' });
    expect(await ctrStatus(d, handed)).toMatchObject({ state: 'CONTAINER_EXITED' });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod2.id });
  });

  it('answers a StartContainer whose fifo was handed off behind its back without hanging, while the daemon runs', async () => {
    const pod = await runPod(d, 'startcrash-live');
    const id = await createCtr(d, pod, ctrConfig('live', bb, ['sleep', '1000']));
    hold(id);
    const t0 = Date.now();
    const start = failure(d.runtime.call('StartContainer', { container_id: id }, 20_000));
    await made(id);
    handOff(d, id);
    release(id);
    const f = await start;
    expect(f.code).toBe(GRPC.FAILED_PRECONDITION);
    expect(f.details).toMatch(/started already/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // And the stale fifo is gone: runc reports the truth.
    expect(existsSync(join(d.runDir, 'runc', id, 'exec.fifo'))).toBe(false);
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  });
});
