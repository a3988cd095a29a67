import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerdConfig, layoutOf } from '../../bench/support/containerd-config';
import { alive, cgroupsNamed, mountsUnder, processesMatching, removeNewCgroups, signal, unmountUnder, waitGone } from '../../bench/support/host';
import { memoryOf, processMemory } from '../../bench/support/memory';
import { ratio, summarize } from '../../bench/support/stats';

/** The bench cleanup primitives, on real processes, mounts and cgroups (root). */
describe('bench host helpers', () => {
  const undo: Array<() => void> = [];
  afterEach(() => {
    for (const u of undo.reverse()) u();
    undo.length = 0;
  });

  it('finds processes by a unique path in their command line and waits for them to go', async () => {
    const tag = mkdtempSync(join(tmpdir(), 'bench-host-'));
    undo.push(() => rmSync(tag, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 1e6)', tag], { stdio: 'ignore' });
    undo.push(() => signal(child.pid!, 'SIGKILL'));
    await new Promise((r) => child.once('spawn', r));
    expect(processesMatching(tag)).toEqual([child.pid]);
    expect(alive(child.pid!)).toBe(true);
    signal(child.pid!, 'SIGKILL');
    expect(await waitGone([child.pid!], 5_000)).toBe(true);
    expect(processesMatching(tag)).toEqual([]);
  });

  it('lists and lazily unmounts every mount below a dir, deepest first', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-mnt-'));
    undo.push(() => {
      unmountUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    });
    expect(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', dir]).status).toBe(0);
    mkdirSync(join(dir, 'inner'));
    expect(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', join(dir, 'inner')]).status).toBe(0);
    expect(mountsUnder(dir)).toEqual([join(dir, 'inner'), dir]);
    expect(unmountUnder(dir)).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
  });

  it('removes only cgroups created since the snapshot, killing what runs in them', async () => {
    const name = `bench-host-${process.pid}`;
    const top = `/sys/fs/cgroup/pids/${name}`;
    mkdirSync(join(top, 'old'), { recursive: true });
    undo.push(() => spawnSync('sh', ['-c', `rmdir ${top}/*/ ${top} 2>/dev/null`]));
    const before = cgroupsNamed(name);
    expect(before).toEqual(new Set([top, join(top, 'old')]));
    mkdirSync(join(top, 'new'));
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    undo.push(() => signal(child.pid!, 'SIGKILL'));
    await new Promise((r) => child.once('spawn', r));
    writeFileSync(join(top, 'new', 'cgroup.procs'), String(child.pid));
    expect(await removeNewCgroups(name, before)).toEqual([]);
    expect(cgroupsNamed(name)).toEqual(before);
    expect(alive(child.pid!)).toBe(false);
  });

  it('measures memory of live processes and ignores missing ones', () => {
    const m = memoryOf([process.pid, 999_999_999]);
    expect(m.rssKiB).toBeGreaterThan(10_000);
    expect(m.pssKiB).toBeGreaterThan(0);
    expect(processMemory([process.pid])[0]).toMatchObject({ pid: process.pid, name: 'node' });
  });
});

describe('bench stats and config', () => {
  it('summarizes with nearest-rank quantiles', () => {
    const xs = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(summarize(xs)).toEqual({ n: 50, median: 25, p99: 50, min: 1, max: 50 });
    expect(summarize([3, 1, 2])).toMatchObject({ median: 2, p99: 3 });
    expect(ratio(20, 40)).toBe(0.5);
    expect(ratio(1, undefined)).toBeUndefined();
  });

  it('keeps every containerd path in its temp dir and maps the loopback registry over http', () => {
    const l = layoutOf('/tmp/ctrd-x');
    const toml = containerdConfig(l, { registryHost: '127.0.0.1:5000', pauseRef: '127.0.0.1:5000/pause:1', runcPath: '/usr/sbin/runc', cniBinDir: '/usr/lib/cni' });
    const paths = [...toml.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1]!);
    expect(paths.filter((p) => !p.startsWith('/tmp/ctrd-x/') && !p.startsWith('/usr/'))).toEqual([]);
    expect(toml).toContain('[plugins."io.containerd.grpc.v1.cri".registry.mirrors."127.0.0.1:5000"]\n  endpoint = ["http://127.0.0.1:5000"]');
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('SystemdCgroup = false');
    expect(toml).toContain('"io.containerd.internal.v1.opt"');
  });
});
