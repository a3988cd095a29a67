import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRICTL, Crictl, haveCrictl } from '../crictl/crictl';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox } from '../support/images';

/**
 * Named runtime handlers with the real daemon: two handlers that are both
 * runc, the second through a wrapper script that logs its argv and keeps
 * its own `--root`. Pods are run through the stock crictl with
 * `runp --runtime`; which runtime made and tears down each container is read
 * from the wrapper's log and from each root's `runc list`, also after a
 * SIGKILL and restart of the daemon.
 */
if (!haveCrictl()) console.warn(`skipping the runtime handler test: no crictl at ${CRICTL}`);

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((p) => existsSync(p)) ?? 'runc';

describe.skipIf(!haveCrictl())('runtime handlers (runtimes + defaultRuntime)', () => {
  let d: Daemon;
  let dir: string;
  let crictl: Crictl;
  const wrapLog = (): string => readFileSync(join(dir, 'wrap.log'), 'utf8');
  const runcList = (root: string): string[] => {
    const r = spawnSync(RUNC, ['--root', root, 'list', '-q'], { encoding: 'utf8' });
    return r.stdout.split('\n').filter(Boolean);
  };
  const pods: string[] = [];
  const files = { podW: '', podD: '', ctr: '' };

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    await pushBusybox(reg, 'library/busybox:1');
    dir = mkdtempSync(join(tmpdir(), 'mcri-rth-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'config.d'));
    mkdirSync(join(dir, 'canary'));
    writeFileSync(join(dir, 'canary', 'keep'), 'canary');
    writeFileSync(join(dir, 'wrap.log'), '');
    const wrapper = join(dir, 'bin', 'runc-wrap');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${join(dir, 'wrap.log')}'\nexec '${RUNC}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    writeFileSync(join(dir, 'config.d', '10-runtimes.yaml'), `runtimes:\n  wrapped:\n    type: runc\n    path: ${wrapper}\n    root: ${join(dir, 'wrapped-root')}\n`);
    d = await startDaemon({ args: ['--config-dir', join(dir, 'config.d'), '--registry-mirror', `docker.io=${reg.url}`] });
    crictl = new Crictl(dir, d.socket);
    const pod = (name: string): string => {
      const p = join(dir, `${name}.json`);
      writeFileSync(
        p,
        JSON.stringify({
          metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
          log_directory: join(d.base, 'pods', name),
          linux: { security_context: { namespace_options: { network: 2, pid: 1 } } },
        }),
      );
      return p;
    };
    files.podW = pod('rth-wrapped');
    files.podD = pod('rth-default');
    files.ctr = join(dir, 'ctr.json');
    writeFileSync(files.ctr, JSON.stringify({ metadata: { name: 'sleeper' }, image: { image: 'busybox:1' }, command: ['/bin/sleep', '3600'], log_path: 'sleeper.log' }));
    crictl.ok('pull', 'busybox:1');
  });

  afterAll(async () => {
    for (const p of pods) {
      await d?.runtime.call('StopPodSandbox', { pod_sandbox_id: p }).catch(() => undefined);
      await d?.runtime.call('RemovePodSandbox', { pod_sandbox_id: p }).catch(() => undefined);
    }
    await d?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Status reports both handlers and the default under ""', async () => {
    for (const verbose of [false, true]) {
      const st = await d.runtime.call<{ runtime_handlers: Array<{ name: string }>; info: Record<string, string> }>('Status', { verbose });
      expect(st.runtime_handlers.map((h) => h.name)).toEqual(['', 'runc', 'wrapped']);
      if (verbose) expect(JSON.parse(st.info.config!)).toMatchObject({ runtimeHandlers: ['runc', 'wrapped'] });
    }
  });

  let cw = '';
  let cd = '';
  it('runs each pod\'s containers with the runtime its runtime_handler names (crictl runp --runtime)', () => {
    const podW = crictl.ok('runp', '--runtime', 'wrapped', files.podW).trim();
    const podD = crictl.ok('runp', files.podD).trim();
    pods.push(podW, podD);
    cw = crictl.ok('create', podW, files.ctr, files.podW).trim();
    cd = crictl.ok('create', podD, files.ctr, files.podD).trim();
    crictl.ok('start', cw);
    crictl.ok('start', cd);
    // The wrapper made the wrapped pod's container in its own root, and never saw the default pod's.
    expect(wrapLog()).toMatch(new RegExp(`--root=${join(dir, 'wrapped-root')}.* create .*${cw}`));
    expect(wrapLog()).not.toContain(cd);
    expect(runcList(join(dir, 'wrapped-root'))).toEqual([cw]);
    expect(runcList(join(d.runDir, 'runc'))).toEqual([cd]);
    const inspW = crictl.json<{ status: { runtimeHandler: string } }>('inspectp', podW);
    const inspD = crictl.json<{ status: { runtimeHandler: string } }>('inspectp', podD);
    expect(inspW.status.runtimeHandler).toBe('wrapped');
    expect(inspD.status.runtimeHandler ?? '').toBe('');
    expect(crictl.json<{ containers: Array<{ id: string; state: string }> }>('ps').containers.map((c) => c.state)).toEqual(['CONTAINER_RUNNING', 'CONTAINER_RUNNING']);
  });

  it('keeps each pod on its handler after a SIGKILL and restart: stop and remove go to the same runtime', async () => {
    await d.kill9();
    d = await d.restart();
    crictl = new Crictl(dir, d.socket);
    const before = wrapLog().length;
    expect(crictl.json<{ containers: Array<{ id: string; state: string }> }>('ps').containers.map((c) => c.id).sort()).toEqual([cd, cw].sort());
    crictl.ok('stop', '-t', '0', cw);
    crictl.ok('stop', '-t', '0', cd);
    crictl.ok('rm', cw);
    crictl.ok('rm', cd);
    for (let i = 0; i < 100 && (runcList(join(dir, 'wrapped-root')).length || runcList(join(d.runDir, 'runc')).length); i++) await new Promise((r) => setTimeout(r, 50));
    // The stop signals the process itself; the runtime's delete (behind the replies) went to the pod's handler only.
    const after = wrapLog().slice(before);
    expect(after).toMatch(new RegExp(`delete .*${cw}`));
    expect(after).not.toContain(cd);
    expect(runcList(join(dir, 'wrapped-root'))).toEqual([]);
    expect(runcList(join(d.runDir, 'runc'))).toEqual([]);
  });

  it('refuses an unknown or hostile handler with NOT_FOUND naming it, writing nothing', async () => {
    const sandboxes = join(d.workDir, 'containerizer', 'sandboxes');
    const before = readdirSync(sandboxes).sort();
    const r = crictl.run('runp', '--runtime', 'kata', files.podW);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/code = NotFound desc = failed to run pod sandbox: runtime handler \\?"kata\\?" not found/);
    for (const h of ['../../canary', `runc\0x`, '/etc', 'RUNC']) {
      const cfg = JSON.parse(readFileSync(files.podW, 'utf8')) as Record<string, unknown>;
      await expect(d.runtime.call('RunPodSandbox', { config: cfg, runtime_handler: h })).rejects.toMatchObject({ code: 5 });
    }
    expect(readdirSync(sandboxes).sort()).toEqual(before);
    expect(readdirSync(join(dir, 'canary'))).toEqual(['keep']);
    expect(readFileSync(join(dir, 'canary', 'keep'), 'utf8')).toBe('canary');
    expect(existsSync(join(d.runDir, 'runtimes'))).toBe(false);
    expect(readdirSync(join(dir, 'wrapped-root')).filter((n) => n !== 'state.json')).toEqual([]);
  });
});
