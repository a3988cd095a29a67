import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findLeaks, formatLeaks } from './leaks';

const id = (c: string): string => c.repeat(64);

describe('findLeaks', () => {
  const base = mkdtempSync(join(tmpdir(), 'leaks-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const at = (...p: string[]): string => join(base, ...p);
  const touch = (...p: string[]): void => {
    mkdirSync(join(base, ...p.slice(0, -1)), { recursive: true });
    writeFileSync(join(base, ...p), '');
  };
  const dir = (...p: string[]): void => void mkdirSync(join(base, ...p), { recursive: true });
  const roots = {
    workDir: at('lib'),
    runDir: at('run'),
    cgroupParent: '/mesos-cri',
    runtimeRoots: [at('run', 'runc')],
    cniCacheDir: at('lib', 'cni'),
    procRoot: at('proc'),
    cgroupRoot: at('cgroup'),
    mountinfo: at('mountinfo'),
  };

  it('reports nothing for objects checkpoints account for, and each kind of leftover once', () => {
    const [sb, ct, gone, gonec, foreign] = [id('a'), id('b'), id('c'), id('d'), id('e')];
    dir('lib', 'containerizer', 'sandboxes', sb, 'containers', ct);
    for (const x of [sb, ct, gone]) dir('run', 'runc', x);
    touch('run', 'exits', ct);
    touch('run', 'exits', gonec);
    dir('run', 'shm', sb);
    dir('run', 'shm', gone);
    touch('run', 'netns', gone);
    touch('lib', 'cni', 'sandboxes', `${sb}.json`);
    touch('lib', 'cni', 'sandboxes', `${gone}.json`);
    dir('lib', 'provisioner', 'containers', sb, 'containers', ct);
    dir('lib', 'provisioner', 'containers', sb, 'containers', gonec);
    touch('lib', 'containerizer', 'quarantine', 'x-sandbox');
    dir('cgroup', 'memory', 'mesos-cri', sb);
    dir('cgroup', 'memory', 'mesos-cri', gone);
    dir('cgroup', 'memory', 'other-runtime', foreign); // not under our parent: never ours
    writeFileSync(
      at('mountinfo'),
      [
        `1 2 0:1 / ${at('lib', 'provisioner', 'containers', sb, 'containers', ct, 'rootfs')} rw - overlay overlay rw`,
        `1 2 0:1 / ${at('run', 'shm', gone)} rw - tmpfs shm rw`,
        `1 2 0:1 / /var/lib/containerd/${foreign}/rootfs rw - overlay overlay rw`,
      ].join('\n'),
    );
    mkdirSync(at('proc', '10'), { recursive: true });
    writeFileSync(at('proc', '10', 'cmdline'), ['/usr/bin/conmon', '-b', at('lib', 'containerizer', 'sandboxes', gone, 'containers', gonec, 'bundle')].join('\0'));
    mkdirSync(at('proc', '11'), { recursive: true });
    writeFileSync(at('proc', '11', 'cmdline'), ['/usr/bin/conmon', '-b', at('lib', 'containerizer', 'sandboxes', sb, 'containers', ct, 'bundle')].join('\0'));

    const leaks = findLeaks(roots);
    expect(leaks.map((l) => `${l.kind} ${l.path.slice(base.length)}`).sort()).toEqual(
      [
        `cgroup /cgroup/memory/mesos-cri/${gone}`,
        `monitor-file /run/exits/${gonec}`,
        `mount /run/shm/${gone}`,
        `netns /run/netns/${gone}`,
        `network-record /lib/cni/sandboxes/${gone}.json`,
        'process /proc/10',
        'quarantined /lib/containerizer/quarantine/x-sandbox',
        `rootfs /lib/provisioner/containers/${sb}/containers/${gonec}`,
        `runtime-state /run/runc/${gone}`,
        `shm /run/shm/${gone}`,
      ].sort(),
    );
    expect(formatLeaks(leaks)).toMatch(/\n10 leftovers\n$/);
    expect(formatLeaks([])).toBe('no leftovers\n');
  });
});
