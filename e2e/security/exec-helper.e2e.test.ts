import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/build';

/**
 * The native helper's own last line of defence, whatever plan it is given:
 * no default of uid 0 with every capability, and no sysctl written into a
 * namespace the pod does not own (the daemon refuses those first).
 */
const helper = join(__dirname, '..', '..', 'native', 'bin', 'mesos-cri-exec');
const dir = mkdtempSync(join(tmpdir(), 'mcri-helper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (plan: string, args: string[]): { status: number | null; stderr: string } => {
  const file = join(dir, `plan-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, plan);
  const r = spawnSync(helper, [...args.slice(0, -1), file, args[args.length - 1]!, '-P'], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr };
};

describe('mesos-cri-exec refuses plans that would hand out more than they say', () => {
  ensureBuilt();

  it('refuses a plan without its user or caps record', () => {
    expect(run('caps 0 0 0 0 0\nnnp 1\n', ['-d', '/bin/true'])).toMatchObject({ status: 255, stderr: expect.stringContaining('no user record') });
    expect(run('user 65535 65535\nnnp 1\n', ['-d', '/bin/true'])).toMatchObject({ status: 255, stderr: expect.stringContaining('no caps record') });
  });

  it('never writes a sysctl outside namespaces of the pod\'s own', () => {
    const keys = ['vm/swappiness', 'kernel/core_pattern', 'net/core/somaxconn', 'kernel/shmmax'];
    const before = keys.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8'));
    const base = 'user 65535 65535\ncaps 0 0 0 0 0\nnnp 1\n';
    expect(run(`${base}sysctl vm/swappiness 7\n`, ['-d', '/bin/true']).stderr).toContain('not in a separate kernel namespace');
    expect(run(`${base}sysctl kernel/core_pattern |/tmp/x\n`, ['-d', '/bin/true']).stderr).toContain('not in a separate kernel namespace');
    expect(run(`${base}sysctl net/core/somaxconn 7\n`, ['-d', '/bin/true']).stderr).toContain("host's network namespace");
    expect(run(`${base}sysctl kernel/shmmax 7\n`, ['-d', '/bin/true']).stderr).toContain("host's IPC namespace");
    expect(run(`${base}unshare net\nsysctl net/../../vm/swappiness 7\n`, ['-d', '/bin/true']).stderr).toContain('bad name');
    expect(keys.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8'))).toEqual(before);
  });
});
