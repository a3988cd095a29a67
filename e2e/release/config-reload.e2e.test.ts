import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAIN_JS, ROOT } from '../support/build';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { privateBase, privateDirs, startOwnDaemon, type OwnDaemon } from './own-daemon';

/**
 * Issue 16: config.d drop-ins, `mesos-cri config dump`, and SIGHUP applying
 * the log level, the CNI dir and registry mirrors live while naming the keys
 * that need a restart, on a real daemon started as an operator would.
 */
let d: OwnDaemon | undefined;
afterAll(async () => {
  await d?.cleanup();
  await stopTestRegistry();
});

type Status = { status: { conditions: Array<{ type: string; status: boolean }> } };
const networkReady = async (dm: OwnDaemon): Promise<boolean> =>
  (await dm.runtime.call<Status>('Status', {})).status.conditions.find((c) => c.type === 'NetworkReady')!.status;

describe('configuration drop-ins and SIGHUP', () => {
  it('merges drop-ins, dumps sources, and reloads live keys', async () => {
    const reg = await ensureTestRegistry();
    await pushBusybox(reg, 'reload/busybox:1');
    const base = privateBase();
    const etc = join(base, 'etc');
    mkdirSync(join(etc, 'config.d'), { recursive: true });
    mkdirSync(join(base, 'cni-empty'));
    mkdirSync(join(base, 'cni-full'));
    copyFileSync(join(ROOT, 'manifests', '10-mesos-cri.conflist'), join(base, 'cni-full', '10-mesos-cri.conflist'));
    const file = join(etc, 'config.yaml');
    writeFileSync(file, `logLevel: debug\ncni:\n  confDir: ${join(base, 'cni-empty')}\n`);
    writeFileSync(join(etc, 'config.d', '10-quiet.yaml'), 'logLevel: info\n');
    const args = ['--config', file, ...privateDirs(base)];

    const dump = execFileSync(process.execPath, [MAIN_JS, ...args, 'config', 'dump'], { encoding: 'utf8' });
    expect(dump).toContain(`logLevel: "info"  # ${join(etc, 'config.d', '10-quiet.yaml')}`);
    expect(dump).toContain(`confDir: "${join(base, 'cni-empty')}"  # ${file}`);
    expect(dump).toContain(`workDir: "${join(base, 'lib')}"  # flag --work-dir`);

    d = await startOwnDaemon(base, args);
    expect(await networkReady(d)).toBe(false);
    // The drop-in's info level wins over the file's debug: no per-RPC debug lines.
    expect(d.logs()).not.toContain('rpc done');
    // A registry host nobody resolves: unreachable until a mirror is configured.
    const ref = 'mirror.invalid/reload/busybox:1';
    await expect(d.image.call('PullImage', { image: { image: ref } })).rejects.toThrow();

    writeFileSync(
      join(etc, 'config.d', '20-live.yaml'),
      [
        'logLevel: debug',
        `cni:\n  confDir: ${join(base, 'cni-full')}`,
        `registry:\n  mirrors:\n    mirror.invalid: ["${reg.url}"]`,
        'streaming:\n  idleTimeout: 60',
      ].join('\n') + '\n',
    );
    d.child.kill('SIGHUP');
    const line = JSON.parse(await d.waitLog(/configuration reloaded/)) as { applied: string[]; needs_restart: string[] };
    expect(line.applied.sort()).toEqual(['cni.confDir', 'logLevel', 'registry.mirrors']);
    expect(line.needs_restart).toEqual(['streaming.idleTimeout']);
    expect(await networkReady(d)).toBe(true);
    const pulled = await d.image.call<{ image_ref: string }>('PullImage', { image: { image: ref } });
    expect(pulled.image_ref).toMatch(/^sha256:/);
    await d.waitLog(/rpc done/);

    // An invalid drop-in changes nothing and the daemon keeps serving.
    writeFileSync(join(etc, 'config.d', '30-bad.yaml'), 'logLevel: loud\n');
    d.child.kill('SIGHUP');
    expect(await d.waitLog(/configuration reload failed/)).toContain('30-bad.yaml');
    expect(await networkReady(d)).toBe(true);
    expect(d.child.exitCode).toBeNull();
  });
});
