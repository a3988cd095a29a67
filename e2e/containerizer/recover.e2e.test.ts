import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nested, topLevel } from '../../src/common/container-id';
import { background } from '../../src/common/ctx';
import { createContainerizer, type MesosContainerizer } from '../../src/mesos-compat';
import { encode } from '../../src/mesos-compat/codec';
import { Cgroups } from '../../src/mesos-compat/isolators/cgroups';
import { containerConfig, sandboxConfig } from './configs';
import { BusyboxProvisioner, catatonitBundle, cgroupExists, mountsUnder, tempBase } from './fixtures';

const ctx = background();
const newId = (): string => randomBytes(32).toString('hex');
const alive = (pid: number): boolean => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(s);
  } catch {
    return false;
  }
};

/**
 * A daemon crash is simulated by dropping a containerizer instance without
 * any teardown and building a new one on the same dirs: everything the
 * daemon does not hold in memory (runc state, conmon, the containers,
 * checkpoints) is exactly what a `kill -9` leaves.
 */
describe('containerizer recovery after a crash', () => {
  let base: string;
  let prov: BusyboxProvisioner;
  const cgroupParent = `/mesos-cri-e2e-rec-${process.pid}`;
  const live: MesosContainerizer[] = [];
  const make = async (): Promise<MesosContainerizer> => {
    const cz = createContainerizer({
      workDir: join(base, 'lib'),
      runDir: join(base, 'run'),
      runtime: { name: 'auto', path: '', root: '' },
      conmon: '/usr/bin/conmon',
      infra: '/usr/bin/catatonit',
      cgroupParent,
      restrictOomScoreAdj: true,
      provisioner: prov,
    });
    await cz.recover(ctx);
    live.push(cz);
    return cz;
  };

  beforeAll(() => {
    base = tempBase('cz-rec-');
    prov = new BusyboxProvisioner(join(base, 'rootfs'));
  });

  afterAll(async () => {
    const cz = await make();
    for (const s of cz.containers()) if (s.kind === 'sandbox') await cz.remove(topLevel(s.id), ctx);
    await cz.swept();
    for (const c of live) c.close();
    expect(mountsUnder(base)).toEqual([]);
    await new Cgroups().remove(cgroupParent);
    rmSync(base, { recursive: true, force: true });
  });

  it('keeps running containers running with growing logs, records exits that happened meanwhile, cleans half-made and orphan state', async () => {
    const cz1 = await make();
    const sid = newId();
    await cz1.launch(topLevel(sid), { kind: 'sandbox', config: sandboxConfig('rec', join(base, 'logs')) }, ctx);
    const runner = nested(topLevel(sid), newId());
    await cz1.launch(runner, { kind: 'container', config: containerConfig('runner', ['sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.05; done']) }, ctx);
    await cz1.start(runner, ctx);
    const quitter = nested(topLevel(sid), newId());
    await cz1.launch(quitter, { kind: 'container', config: containerConfig('quitter', ['sh', '-c', 'sleep 0.5; exit 7']) }, ctx);
    await cz1.start(quitter, ctx);
    const created = nested(topLevel(sid), newId());
    await cz1.launch(created, { kind: 'container', config: containerConfig('created', ['true']) }, ctx);
    const runnerPid = (cz1.status(runner) as { pid: number }).pid;
    const logPath = (cz1.status(runner) as { logPath: string }).logPath;

    // "kill -9": the instance is dropped as it is.
    cz1.close();

    // A half-made container (crash between checkpoint and runtime create) …
    const halfId = newId();
    const halfDir = join(base, 'lib', 'containerizer', 'sandboxes', sid, 'containers', halfId);
    mkdirSync(halfDir, { recursive: true });
    const halfRec = { id: halfId, sandboxId: sid, config: containerConfig('half', ['true']), phase: 'provisioning', createdAt: 1n, logPath: '', cgroupsPath: `${cgroupParent}/${sid}/${halfId}` };
    writeFileSync(join(halfDir, 'container.json'), JSON.stringify({ version: 1, value: encode(halfRec) }));
    await prov.provision(nested(topLevel(sid), halfId), 'busybox');
    // … and an orphan the runtime runs but no checkpoint knows.
    const orphan = newId();
    const obundle = catatonitBundle(join(base, 'orphan'));
    execFileSync('runc', ['--root', join(base, 'run', 'runc'), 'run', '-d', '--pid-file', join(obundle, 'pid'), '-b', obundle, orphan], { stdio: 'ignore' });
    const orphanPid = Number(readFileSync(join(obundle, 'pid'), 'utf8'));
    expect(alive(orphanPid)).toBe(true);

    // Let the quitter exit while "down".
    await new Promise((r) => setTimeout(r, 1000));
    const sizeBefore = statSync(logPath).size;

    const cz2 = await make();
    expect(cz2.status(topLevel(sid))).toMatchObject({ state: 'ready' });
    expect(cz2.status(runner)).toMatchObject({ state: 'running', pid: runnerPid });
    expect(alive(runnerPid)).toBe(true);
    expect(cz2.status(quitter)).toMatchObject({ state: 'exited', exitCode: 7, reason: 'Error' });
    expect(cz2.status(created)).toMatchObject({ state: 'created' });
    expect(() => cz2.status(nested(topLevel(sid), halfId))).toThrow(/not found/);
    expect(existsSync(halfDir)).toBe(false);
    expect(existsSync(join(prov.dir, `${sid}.${halfId}`))).toBe(false);
    for (let i = 0; i < 100 && alive(orphanPid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(orphanPid)).toBe(false);
    expect(existsSync(join(base, 'run', 'runc', orphan))).toBe(false);

    // The log keeps growing under the surviving monitor; names stay reserved.
    for (let i = 0; i < 100 && statSync(logPath).size <= sizeBefore; i++) await new Promise((r) => setTimeout(r, 50));
    expect(statSync(logPath).size).toBeGreaterThan(sizeBefore);
    await expect(cz2.launch(nested(topLevel(sid), newId()), { kind: 'container', config: containerConfig('runner', ['true']) }, ctx)).rejects.toMatchObject({ code: 'AlreadyExists' });

    // The recovered containerizer stops and removes everything it found.
    await cz2.kill(runner, { timeoutSeconds: 5 }, ctx);
    expect(cz2.status(runner)).toMatchObject({ state: 'exited' });
    expect(await cz2.remove(topLevel(sid), ctx)).toBe(true);
    await cz2.swept();
    expect(alive(runnerPid)).toBe(false);
    expect(cgroupExists(`${cgroupParent}/${sid}`)).toBe(false);
    expect(existsSync(join(base, 'lib', 'containerizer', 'sandboxes', sid))).toBe(false);
    expect(mountsUnder(join(base, 'run'))).toEqual([]);
    const left = execFileSync('runc', ['--root', join(base, 'run', 'runc'), 'list', '-q']).toString().trim();
    expect(left).toBe('');
  });
});
