import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DgramSocket } from 'node-unix-socket';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/build';
import { privateBase, privateDirs, startOwnDaemon, type OwnDaemon } from './own-daemon';

/**
 * Issue 16: systemd `Type=notify`. The test owns the NOTIFY_SOCKET (a unix
 * datagram socket, as systemd's) and reads what the daemon says: STATUS
 * while recovering, READY=1 with MAINPID once serving, RELOADING=1 then
 * READY=1 around SIGHUP, STOPPING=1 on SIGTERM; the variable is not passed
 * on to the daemon's children.
 */
let d: OwnDaemon | undefined;
let sock: DgramSocket | undefined;
afterAll(async () => {
  sock?.close();
  await d?.cleanup();
});

describe('systemd', () => {
  it('the unit: Type=notify, node not hard-coded, Delegate, KillMode=process, LimitNOFILE', () => {
    const unit = readFileSync(join(ROOT, 'manifests', 'mesos-cri.service'), 'utf8');
    const keys = (k: string): string[] => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);
    expect(keys('Type')).toEqual(['notify']);
    expect(keys('NotifyAccess')).toEqual(['main']);
    expect(keys('Delegate')).toEqual(['yes']);
    expect(keys('KillMode')).toEqual(['process']);
    expect(keys('LimitNOFILE')).toEqual(['1048576']);
    expect(keys('ExecStart')).toEqual(['/usr/bin/mesos-cri --config /etc/mesos-cri/config.yaml']);
    expect(keys('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(unit).not.toMatch(/^ExecStart=.*\/node\b/m);
  });

  it('notifies READY, RELOADING, STOPPING with STATUS on a test-owned NOTIFY_SOCKET', async () => {
    const base = privateBase();
    const path = join(base, 'notify.sock');
    writeFileSync(join(base, 'none.yaml'), '');
    const got: string[] = [];
    sock = new DgramSocket();
    sock.on('data', (b: Buffer) => got.push(b.toString()));
    sock.bind(path);
    const waitFor = async (re: RegExp): Promise<string> => {
      const end = Date.now() + 10_000;
      for (;;) {
        const m = got.find((g) => re.test(g));
        if (m) return m;
        if (Date.now() > end) throw new Error(`no notification matching ${re}: ${JSON.stringify(got)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    d = await startOwnDaemon(base, ['--config', join(base, 'none.yaml'), ...privateDirs(base)], { env: { NOTIFY_SOCKET: path } });
    const ready = await waitFor(/^READY=1/);
    expect(ready.split('\n')).toEqual(['READY=1', `STATUS=serving CRI on ${d.socket}`, `MAINPID=${d.child.pid}`]);
    expect(got[0]).toBe('STATUS=recovering state');
    // Children do not inherit NOTIFY_SOCKET (the spawn helper is the daemon's first child).
    const { execFileSync } = await import('node:child_process');
    const kids = execFileSync('ps', ['-o', 'pid=', '--ppid', String(d.child.pid)], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
    expect(kids.length).toBeGreaterThan(0);
    for (const pid of kids) expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('NOTIFY_SOCKET=');

    got.length = 0;
    d.child.kill('SIGHUP');
    const reloading = await waitFor(/^RELOADING=1/);
    expect(reloading).toMatch(/\nMONOTONIC_USEC=\d+$/);
    await waitFor(/^READY=1/);
    expect(got.findIndex((g) => g.startsWith('RELOADING=1'))).toBeLessThan(got.findIndex((g) => g.startsWith('READY=1')));

    d.child.kill('SIGTERM');
    expect(await waitFor(/^STOPPING=1/)).toBe('STOPPING=1\nSTATUS=shutting down on SIGTERM; containers keep running');
  });
});
