import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { KeptFiles } from './kept-files';

const fds = (): number => readdirSync('/proc/self/fd').length;

describe('KeptFiles', () => {
  it('reads a process\'s stat through one kept fd, and nothing once it is gone', async () => {
    const k = new KeptFiles();
    const child = spawn('sleep', ['30']);
    await once(child, 'spawn');
    const path = `/proc/${child.pid}/stat`;
    expect(k.read(path)).toMatch(new RegExp(`^${child.pid} \\(sleep\\) [RS] `));
    const before = fds();
    for (let i = 0; i < 50; i++) expect(k.read(path)).toMatch(/^\d+ \(sleep\)/);
    expect(fds()).toBe(before); // one fd, read again
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(k.read(path)).toBeUndefined();
    expect(k.size).toBe(0);
    expect(k.read('/proc/self/no-such-file')).toBeUndefined();
  });

  const memory = '/sys/fs/cgroup/memory';
  it.skipIf(!existsSync(`${memory}/memory.usage_in_bytes`))('never reads a removed cgroup through its old fd, and reads the new one of the same path', () => {
    const k = new KeptFiles();
    const dir = `${memory}/kept-files-test-${process.pid}`;
    mkdirSync(dir);
    try {
      expect(k.read(`${dir}/memory.limit_in_bytes`)).toMatch(/^\d+\n$/);
      rmdirSync(dir);
      expect(k.read(`${dir}/memory.limit_in_bytes`)).toBeUndefined();
      mkdirSync(dir);
      expect(k.read(`${dir}/memory.limit_in_bytes`)).toMatch(/^\d+\n$/);
      k.read(`${dir}/memory.usage_in_bytes`);
      expect(k.size).toBe(2);
      k.forget(dir);
      expect(k.size).toBe(0);
      // kept, then removed and made again underneath: the stale fd is noticed and the path reopened
      k.read(`${dir}/memory.limit_in_bytes`);
      rmdirSync(dir);
      mkdirSync(dir);
      expect(k.read(`${dir}/memory.limit_in_bytes`)).toMatch(/^\d+\n$/);
    } finally {
      k.forget(dir);
      rmdirSync(dir);
    }
  });

  it('keeps at most `max` fds, the oldest closed first', () => {
    const k = new KeptFiles(3);
    const before = fds();
    for (const f of ['stat', 'status', 'statm', 'cmdline', 'comm']) expect(k.read(`/proc/self/${f}`)).toBeDefined();
    expect(k.size).toBe(3);
    expect(fds()).toBe(before + 3);
    k.forget('/proc/self');
    expect(fds()).toBe(before);
  });
});
