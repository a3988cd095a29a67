import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cgroups, v1Controllers } from './cgroups';

/** A hybrid host's mount table: v1 hierarchies, hugetlb bound to the v2 mount. */
const HYBRID = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

describe('cgroup controllers', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('finds v1 controllers in the super options of cgroup mounts only', () => {
    const c = v1Controllers(HYBRID);
    expect(c.has('cpu')).toBe(true);
    expect(c.has('cpuacct')).toBe(true);
    expect(c.has('memory')).toBe(true);
    expect(c.has('hugetlb')).toBe(false);
    expect(c.has('mode=755')).toBe(false);
  });

  it('on a v1 or hybrid host, a controller is usable only as a v1 hierarchy', () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-unit-'));
    const hybrid = new Cgroups(dir, () => HYBRID);
    expect(hybrid.v2).toBe(false);
    expect(hybrid.has('hugetlb')).toBe(false);
    expect(hybrid.has('memory')).toBe(true);
    const v1 = new Cgroups(dir, () => `${HYBRID}\n41 30 0:38 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb`);
    expect(v1.has('hugetlb')).toBe(true);
  });

  it('on a v2 host, a controller is usable when the root enables it', () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-unit-'));
    writeFileSync(join(dir, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    const v2 = new Cgroups(dir, () => '');
    expect(v2.v2).toBe(true);
    expect(v2.has('memory')).toBe(true);
    expect(v2.has('hugetlb')).toBe(false);
  });
});
