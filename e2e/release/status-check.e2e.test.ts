import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAIN_JS, ROOT } from '../support/build';
import { privateBase, privateDirs, startOwnDaemon, type OwnDaemon } from './own-daemon';

/** Issue 16: `mesos-cri status` through the socket and `mesos-cri check` on this host. */
let d: OwnDaemon | undefined;
afterAll(async () => d?.cleanup());

const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [MAIN_JS, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('mesos-cri status and check', () => {
  it('status reports a running daemon; check passes, then names a broken binary and an open socket', async () => {
    const base = privateBase();
    mkdirSync(join(base, 'cni'));
    copyFileSync(join(ROOT, 'manifests', '10-mesos-cri.conflist'), join(base, 'cni', '10-mesos-cri.conflist'));
    writeFileSync(join(base, 'config.yaml'), `cni:\n  confDir: ${join(base, 'cni')}\n`);
    const args = ['--config', join(base, 'config.yaml'), ...privateDirs(base)];

    // Nothing listens yet: status fails with a message naming the socket.
    const down = cli([...args, 'status']);
    expect(down.status).toBe(1);
    expect(down.stderr).toContain(`cannot get status from ${join(base, 'run', 'mesos-cri.sock')}`);

    d = await startOwnDaemon(base, args);
    const up = cli([...args, 'status']);
    expect(up.stderr).toBe('');
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(/^version: mesos-cri \d+\.\d+\.\d+ \(CRI v1\)$/m);
    expect(up.stdout).toMatch(/^RuntimeReady: true$/m);
    expect(up.stdout).toMatch(/^NetworkReady: true$/m);
    expect(up.stdout).toMatch(/^pods: 0 \(0 ready\)$/m);
    expect(up.stdout).toMatch(/^containers: 0 \(0 running\)$/m);
    expect(up.stdout).toMatch(new RegExp(`^image store: \\S+ \\d+ bytes, \\d+ inodes$`, 'm'));
    expect(up.stdout).toMatch(/^streaming: http:\/\/127\.0\.0\.1:\d+$/m);

    const good = cli([...args, 'check']);
    expect(good.stdout).toMatch(/^ok {3}cni plugin bridge: /m);
    expect(good.stdout).toMatch(/^ok {3}socket: .* mode 660 uid 0/m);
    expect(good.stdout).toMatch(/^ok {3}conmon: \/usr\/bin\/conmon: conmon version/m);
    expect(good.status).toBe(0);

    const bad = cli([...args, '--conmon', join(base, 'no-conmon'), 'check']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`fail conmon: ${join(base, 'no-conmon')}: not found or not executable`);
    // The daemon's socket opened to everyone is a failure (the test owns this daemon and its socket).
    chmodSync(d.socket, 0o666);
    const open = cli([...args, 'check']);
    expect(open.status).toBe(1);
    expect(open.stdout).toMatch(/^fail socket: .*accessible to others \(mode 666/m);
  });
});
