import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../common/ctx';
import { exec } from '../common/exec';
import { writeRootfsDiff } from './checkpoint-archive';
import { checkpointContainer } from './checkpoint-container';
import type { Core } from './core';
import type { CriuStatus } from './criu';
import { FakeOciRuntime } from './fake-oci-runtime';
import { containerDir } from './paths';
import type { ContainerRecord, SandboxRecord } from './state';

const ctx = background();
const listTar = (file: string): string[] => execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }).trim().split('\n');
const names = (file: string): string[] => execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
const canMknod = (): boolean => process.getuid?.() === 0;

describe('checkpoint archives', () => {
  let base = '';
  let canary = '';
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'mcri-ckpt-'));
    canary = mkdtempSync(join(tmpdir(), 'mcri-canary-'));
    writeFileSync(join(canary, 'secret'), 'host secret that must not be archived');
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
    expect(readFileSync(join(canary, 'secret'), 'utf8')).toBe('host secret that must not be archived');
    rmSync(canary, { recursive: true, force: true });
  });

  it('archives an overlay upper dir: symlinks as symlinks, whiteouts as deleted.files entries', async () => {
    const upper = join(base, 'upper');
    mkdirSync(join(upper, 'etc'), { recursive: true });
    writeFileSync(join(upper, 'etc', 'app.conf'), 'changed');
    symlinkSync(join(canary, 'secret'), join(upper, 'evil'));
    if (canMknod()) spawnSync('mknod', [join(upper, 'etc', 'gone'), 'c', '0', '0']);
    const out = join(base, 'diff.tar');
    const deleted = await writeRootfsDiff({ dir: upper, whiteouts: 'overlay' }, out, ctx);
    const list = listTar(out);
    expect(names(out)).toEqual(expect.arrayContaining(['./', './etc/', './etc/app.conf', './evil']));
    expect(list.find((l) => l.endsWith('./evil -> ' + join(canary, 'secret')))?.startsWith('l')).toBe(true);
    expect(readFileSync(out).includes('host secret')).toBe(false);
    if (canMknod()) {
      expect(deleted).toEqual(['/etc/gone']);
      expect(names(out)).not.toContain('./etc/gone');
    }
  });

  it('reads aufs whiteouts, skipping aufs bookkeeping', async () => {
    const upper = join(base, 'branch');
    mkdirSync(join(upper, 'usr'), { recursive: true });
    writeFileSync(join(upper, 'usr', '.wh.old'), '');
    writeFileSync(join(upper, '.wh..wh.aufs'), '');
    writeFileSync(join(upper, 'usr', 'new'), 'x');
    const out = join(base, 'diff.tar');
    expect(await writeRootfsDiff({ dir: upper, whiteouts: 'aufs' }, out, ctx)).toEqual(['/usr/old']);
    expect(names(out).sort()).toEqual(['./', './usr/', './usr/new']);
  });

  describe('checkpointContainer', () => {
    let runtime: FakeOciRuntime;
    let criu: CriuStatus;
    let core: Core;
    let c: ContainerRecord;
    let out = '';

    beforeEach(() => {
      runtime = new FakeOciRuntime();
      criu = { ok: true, path: '/usr/sbin/criu' };
      const roots = { workDir: join(base, 'work'), runDir: join(base, 'run') };
      const bundle = join(base, 'bundle');
      mkdirSync(bundle, { recursive: true });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sleep'] } }));
      const upper = join(base, 'upper');
      mkdirSync(upper, { recursive: true });
      writeFileSync(join(upper, 'new-file'), 'data');
      if (canMknod()) spawnSync('mknod', [join(upper, 'removed'), 'c', '0', '0']);
      const sb = { id: 's1', config: { name: 'web', namespace: 'default', uid: 'u1' } } as unknown as SandboxRecord;
      c = {
        id: 'c1',
        sandboxId: 's1',
        config: { name: 'app', attempt: 2, image: 'busybox:1' },
        phase: 'running',
        createdAt: 1_700_000_000_000_000_000n,
        image: { ref: 'docker.io/library/busybox:1', id: 'sha256:cfg', repoDigest: 'docker.io/library/busybox@sha256:abc', config: {} },
      } as unknown as ContainerRecord;
      runtime.created('c1', bundle);
      void runtime.start('c1');
      mkdirSync(containerDir(roots, 's1', 'c1'), { recursive: true });
      core = {
        roots,
        criu: { status: async () => criu },
        deps: {
          runtime,
          exec,
          clock: { nowNanos: () => 1_700_000_100_000_000_000n, nowMs: () => 1_700_000_100_000 },
          provisioner: { writable: () => ({ dir: upper, whiteouts: 'overlay' }) },
        },
        sandbox: () => sb,
        bundleOf: () => bundle,
      } as unknown as Core;
      mkdirSync(join(base, 'out'), { recursive: true });
      out = join(base, 'out', 'checkpoint.tar');
    });

    const leftovers = (): string[] => [...readdirSync(join(base, 'out')), ...readdirSync(containerDir(core.roots, 's1', 'c1'))];

    it('writes the kubelet archive layout and leaves the container running', async () => {
      await checkpointContainer(core, c, { location: out, timeoutSeconds: 0 }, ctx);
      const files = names(out);
      expect(files).toEqual(expect.arrayContaining(['config.dump', 'spec.dump', 'rootfs-diff.tar', 'checkpoint/', 'checkpoint/inventory.img', 'dump.log']));
      const x = mkdtempSync(join(base, 'x-'));
      execFileSync('tar', ['-C', x, '-xf', out]);
      expect(JSON.parse(readFileSync(join(x, 'config.dump'), 'utf8'))).toEqual({
        id: 'c1',
        name: 'app_web_default_u1_2',
        rootfsImage: 'docker.io/library/busybox:1',
        rootfsImageRef: 'docker.io/library/busybox@sha256:abc',
        rootfsImageName: 'docker.io/library/busybox:1',
        runtime: 'fake',
        createdTime: '2023-11-14T22:13:20.000Z',
        checkpointedTime: '2023-11-14T22:15:00.000Z',
      });
      expect(JSON.parse(readFileSync(join(x, 'spec.dump'), 'utf8'))).toMatchObject({ ociVersion: '1.0.2' });
      expect(names(join(x, 'rootfs-diff.tar'))).toContain('./new-file');
      if (canMknod()) expect(JSON.parse(readFileSync(join(x, 'deleted.files'), 'utf8'))).toEqual(['/removed']);
      expect((await runtime.state('c1'))?.status).toBe('running');
      expect(leftovers()).toEqual(['checkpoint.tar']);
    });

    it('answers FAILED_PRECONDITION with CRIU\'s reason when CRIU cannot work here, writing nothing', async () => {
      criu = { ok: false, reason: '`criu check` fails on this kernel: vdso: Unexpected rt vDSO area bounds' };
      await expect(checkpointContainer(core, c, { location: out, timeoutSeconds: 0 }, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringContaining('vDSO') });
      expect(runtime.calls).not.toContain('checkpoint c1');
      expect(leftovers()).toEqual([]);
    });

    it('refuses a container that is not running, and bad locations', async () => {
      await expect(checkpointContainer(core, { ...c, phase: 'exited' }, { location: out, timeoutSeconds: 0 }, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
      for (const location of ['', 'relative.tar', join(base, 'missing', 'x.tar'), join(base, 'out')]) {
        await expect(checkpointContainer(core, c, { location, timeoutSeconds: 0 }, ctx), location).rejects.toMatchObject({ code: 'InvalidArgument' });
      }
      expect(leftovers()).toEqual([]);
    });

    it('leaves no partial archive when the dump fails', async () => {
      runtime.failNext.set('checkpoint', new Error('criu failed: type NOTIFY errno 0'));
      await expect(checkpointContainer(core, c, { location: out, timeoutSeconds: 0 }, ctx)).rejects.toMatchObject({ code: 'Internal' });
      expect(existsSync(out)).toBe(false);
      expect(leftovers()).toEqual([]);
    });
  });
});
