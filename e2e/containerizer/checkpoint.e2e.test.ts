import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { createCtr, ctrConfig, ctrStatus, execSync, failure, GRPC, runPod, runToExit, tearDown, testCgroupParent, type Pod } from './cri-fixture';

/**
 * CheckpointContainer through the daemon with Debian's CRIU. Where `criu
 * check` passes, the archive at the location has kubelet's layout and the
 * container keeps running; where it fails (CRIU 3.17 cannot read the vDSO
 * of much newer kernels, as on our test machines), the call answers
 * FAILED_PRECONDITION with CRIU's reason, writes nothing, and the container
 * keeps running too. Either way the outcome is asserted, not skipped.
 */
describe('CheckpointContainer', () => {
  const cgroupParent = testCgroupParent();
  const check = spawnSync('criu', ['check'], { encoding: 'utf8' });
  const criuWorks = check.status === 0;
  let d: Daemon;
  let bb = '';
  let pod: Pod;
  let ctr = '';
  let outDir = '';

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'mcri-ckpt-out-'));
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'checkpoint/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    pod = await runPod(d, 'ckpt');
    ctr = await createCtr(d, pod, ctrConfig('counter', bb, ['sh', '-c', 'echo state > /written; rm /etc/group; i=0; while true; do i=$((i+1)); sleep 0.1; done']));
    await d.runtime.call('StartContainer', { container_id: ctr });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
    rmSync(outDir, { recursive: true, force: true });
  });

  it(`checkpoints a running container into the archive, or says why CRIU cannot (criu check: ${criuWorks ? 'passes' : 'fails'})`, async () => {
    const location = join(outDir, 'checkpoint-ckpt_e2e-counter.tar');
    const call = d.runtime.call('CheckpointContainer', { container_id: ctr, location, timeout: '60' });
    if (criuWorks) {
      await call;
      const files = execFileSync('tar', ['-tf', location], { encoding: 'utf8' }).split('\n');
      expect(files).toEqual(expect.arrayContaining(['config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.files', 'checkpoint/']));
      const x = mkdtempSync(join(outDir, 'x-'));
      execFileSync('tar', ['-C', x, '-xf', location]);
      expect(JSON.parse(readFileSync(join(x, 'config.dump'), 'utf8'))).toMatchObject({ id: ctr, rootfsImageName: bb });
      expect(JSON.parse(readFileSync(join(x, 'deleted.files'), 'utf8'))).toEqual(['/etc/group']);
      expect(execFileSync('tar', ['-tf', join(x, 'rootfs-diff.tar')], { encoding: 'utf8' })).toContain('./written');
    } else {
      const err = await failure(call);
      expect(err.code).toBe(GRPC.FAILED_PRECONDITION);
      expect(err.details).toContain('criu check');
      expect(readdirSync(outDir)).toEqual([]);
    }
    // Left running either way, and still doing its work.
    expect((await ctrStatus(d, ctr)).state).toBe('CONTAINER_RUNNING');
    expect((await execSync(d, ctr, ['cat', '/written'])).stdout).toBe('state\n');
  });

  it('refuses containers that do not run, unknown ones and bad locations, writing nothing', async () => {
    const done = await runToExit(d, pod, ctrConfig('done', bb, ['true']));
    const exited = await failure(d.runtime.call('CheckpointContainer', { container_id: done.id, location: join(outDir, 'a.tar') }));
    expect(exited.code).toBe(GRPC.FAILED_PRECONDITION);
    expect(exited.details).toContain('only running containers');
    expect((await failure(d.runtime.call('CheckpointContainer', { container_id: 'f'.repeat(64), location: join(outDir, 'b.tar') }))).code).toBe(GRPC.NOT_FOUND);
    for (const location of ['', 'relative.tar', join(outDir, 'no-such-dir', 'c.tar'), outDir]) {
      expect((await failure(d.runtime.call('CheckpointContainer', { container_id: ctr, location }))).code, location).toBe(GRPC.INVALID_ARGUMENT);
    }
    expect(readdirSync(outDir).filter((f) => !f.startsWith('x-') && f !== 'checkpoint-ckpt_e2e-counter.tar')).toEqual([]);
  });
});
