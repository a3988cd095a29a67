import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { freePort } from '../support/registry';
import { CRICTL, Crictl, haveCrictl, type Session } from './crictl';

/**
 * A node operator's crictl session against the real daemon, with the stock
 * crictl v1.26.1 (a Go gRPC client that sends the socket path as
 * `:authority`): every command a person would use on a node, checked on
 * what it prints. Images come through a `docker.io` mirror on a loopback
 * registry; the pod uses the host network so no CNI config is needed.
 */
if (!haveCrictl()) console.warn(`skipping the crictl session: no crictl at ${CRICTL} (CI has shared/ beside the checkout)`);

const HEX64 = /^[0-9a-f]{64}$/;

describe.skipIf(!haveCrictl())('crictl v1.26.1 session', () => {
  let d: Daemon;
  let dir: string;
  let crictl: Crictl;
  let podId = '';
  let echoId = '';
  let echoPort = 0;
  const sessions: Session[] = [];
  const track = (s: Session): Session => {
    sessions.push(s);
    return s;
  };

  const files = {
    pod: '',
    echo: '',
    shell: '',
    server: '',
  };

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    await pushBusybox(reg, 'library/busybox:1');
    d = await startDaemon({ args: ['--registry-mirror', `docker.io=${reg.url}`] });
    dir = mkdtempSync(join(tmpdir(), 'mcri-crictl-'));
    crictl = new Crictl(dir, d.socket);
    echoPort = await freePort();
    const write = (name: string, value: object): string => {
      const p = join(dir, name);
      writeFileSync(p, JSON.stringify(value));
      return p;
    };
    files.pod = write('pod.json', {
      metadata: { name: 'crictl-pod', namespace: 'default', uid: 'uid-crictl-pod', attempt: 0 },
      log_directory: join(d.base, 'pods', 'crictl-pod'),
      // NamespaceMode: NODE = 2, CONTAINER = 1 (crictl reads these files with Go's encoding/json).
      linux: { security_context: { namespace_options: { network: 2, pid: 1 } } },
    });
    files.echo = write('echo.json', {
      metadata: { name: 'echo' },
      image: { image: 'busybox:1' },
      command: ['/bin/sh', '-c', 'i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done'],
      envs: [{ key: 'GREETING', value: 'hello' }],
      log_path: 'echo.log',
    });
    files.shell = write('shell.json', { metadata: { name: 'shell' }, image: { image: 'busybox:1' }, command: ['/bin/sh'], stdin: true, tty: true, log_path: 'shell.log' });
    files.server = write('server.json', {
      metadata: { name: 'echo-server' },
      image: { image: 'busybox:1' },
      command: ['/bin/nc', '-ll', '-p', String(echoPort), '-e', '/bin/cat'],
      log_path: 'server.log',
    });
  });

  afterAll(async () => {
    for (const s of sessions) s.kill();
    if (podId) {
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
    }
    await d?.cleanup();
    await stopTestRegistry();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('version and info', () => {
    const v = crictl.ok('version');
    expect(v).toMatch(/^RuntimeName:\s+mesos-cri$/m);
    expect(v).toMatch(/^RuntimeApiVersion:\s+v1$/m);
    expect(v).toMatch(/^RuntimeVersion:\s+\d+\.\d+\.\d+/m);
    const info = crictl.json<{ status: { conditions: Array<{ type: string; status: boolean }> } }>('info');
    expect(info.status.conditions.find((c) => c.type === 'RuntimeReady')?.status).toBe(true);
    expect(info.status.conditions.map((c) => c.type)).toContain('NetworkReady');
  });

  it('pull through the docker.io mirror, images, inspecti, imagefsinfo', () => {
    expect(crictl.ok('pull', 'busybox:1')).toMatch(/sha256:[0-9a-f]{64}/);
    const { images } = crictl.json<{ images: Array<{ id: string; repoTags: string[]; repoDigests: string[]; size: string }> }>('images');
    const busybox = images.find((i) => i.repoTags.includes('docker.io/library/busybox:1'));
    expect(busybox?.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Number(busybox?.size)).toBeGreaterThan(100_000);
    const table = crictl.ok('images');
    expect(table).toMatch(/^docker\.io\/library\/busybox\s+1\s+[0-9a-f]{13}\s/m);
    const inspected = crictl.json<{ status: { id: string; repoDigests: string[] } }>('inspecti', 'busybox:1');
    expect(inspected.status.id).toBe(busybox?.id);
    expect(inspected.status.repoDigests[0]).toMatch(/^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
    const fs = crictl.json<{ status: { fsId: { mountpoint: string }; usedBytes: { value: string }; inodesUsed: { value: string } } }>('imagefsinfo');
    expect(fs.status.fsId.mountpoint.startsWith(d.workDir)).toBe(true);
    expect(Number(fs.status.usedBytes.value)).toBeGreaterThan(100_000);
    expect(Number(fs.status.inodesUsed.value)).toBeGreaterThan(0);
  });

  it('runp, create, start, pods, ps, inspect', () => {
    podId = crictl.ok('runp', files.pod).trim();
    expect(podId).toMatch(HEX64);
    const pods = crictl.json<{ items: Array<{ id: string; state: string; metadata: { name: string } }> }>('pods');
    expect(pods.items).toEqual([expect.objectContaining({ id: podId, state: 'SANDBOX_READY', metadata: expect.objectContaining({ name: 'crictl-pod' }) })]);
    echoId = crictl.ok('create', podId, files.echo, files.pod).trim();
    expect(echoId).toMatch(HEX64);
    expect(crictl.ok('start', echoId).trim()).toBe(echoId);
    const ps = crictl.json<{ containers: Array<{ id: string; podSandboxId: string; state: string; metadata: { name: string } }> }>('ps');
    expect(ps.containers).toEqual([expect.objectContaining({ id: echoId, podSandboxId: podId, state: 'CONTAINER_RUNNING', metadata: expect.objectContaining({ name: 'echo' }) })]);
    const inspect = crictl.json<{ status: { id: string; state: string; logPath: string; imageRef: string }; info: { pid: number } }>('inspect', echoId);
    expect(inspect.status).toMatchObject({ id: echoId, state: 'CONTAINER_RUNNING', logPath: join(d.base, 'pods', 'crictl-pod', 'echo.log') });
    expect(inspect.status.imageRef).toMatch(/^docker\.io\/library\/busybox@sha256:/);
    expect(inspect.info.pid).toBeGreaterThan(1);
    const inspectp = crictl.json<{ status: { id: string; state: string } }>('inspectp', podId);
    expect(inspectp.status).toMatchObject({ id: podId, state: 'SANDBOX_READY' });
  });

  it('logs, and logs -f following new lines', async () => {
    const f = track(crictl.start(['logs', '-f', echoId]));
    await f.waitFor(/line-0\n/);
    // Lines the container writes after the follow began arrive too.
    const last = Math.max(...[...f.out.matchAll(/line-(\d+)/g)].map((m) => Number(m[1])));
    await f.waitFor(new RegExp(`line-${last + 3}\\n`));
    f.kill();
    const all = crictl.ok('logs', echoId);
    expect(all.split('\n').slice(0, 3)).toEqual(['line-0', 'line-1', 'line-2']);
    expect(crictl.ok('logs', '--tail', '1', echoId)).toMatch(/^line-\d+\n$/);
  });

  it('exec: synchronous, streamed, and failing', () => {
    expect(crictl.ok('exec', '--sync', echoId, 'sh', '-c', 'echo $GREETING-$((6*7))')).toMatch(/^hello-42\n/);
    const streamed = crictl.run('exec', echoId, 'sh', '-c', 'echo streamed-out; echo streamed-err >&2');
    expect(streamed.code).toBe(0);
    expect(streamed.stdout).toBe('streamed-out\n');
    expect(streamed.stderr).toContain('streamed-err');
    const failed = crictl.run('exec', '--sync', echoId, 'sh', '-c', 'echo err-1 >&2; exit 3');
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain('exited with 3');
  });

  it('exec -i -t through SPDY on a terminal', async () => {
    const s = track(crictl.start(['exec', '-i', '-t', echoId, 'sh'], { tty: true }));
    await s.waitFor(/\/ # /);
    // What is typed before crictl puts its terminal in raw mode is discarded: type until the shell answers.
    for (let i = 0; i < 60 && !/tty-42/.test(s.out); i++) {
      s.write('echo tty-$((6*7)); tty\n');
      await new Promise((r) => setTimeout(r, 500));
    }
    await s.waitFor(/tty-42/);
    await s.waitFor(/\/dev\/pts\/\d+/);
    s.write('exit 7\n');
    const code = await s.exited;
    expect(code).not.toBe(0);
    expect(s.out).toContain('exit code 7');
  });

  it('attach -i -t to a tty container, detach, and the container keeps running', async () => {
    const shellId = crictl.ok('create', podId, files.shell, files.pod).trim();
    crictl.ok('start', shellId);
    const s = track(crictl.start(['attach', '-i', '-t', shellId], { tty: true }));
    // Nothing is printed when the attach is in place: type until the shell answers.
    for (let i = 0; i < 60 && !/attached-5/.test(s.out); i++) {
      s.write('echo attached-$((2+3))\n');
      await new Promise((r) => setTimeout(r, 500));
    }
    await s.waitFor(/attached-5/);
    s.kill();
    const st = crictl.json<{ status: { state: string } }>('inspect', shellId);
    expect(st.status.state).toBe('CONTAINER_RUNNING');
    crictl.ok('stop', '-t', '1', shellId);
    crictl.ok('rm', shellId);
  });

  it('port-forward carries bytes both ways', async () => {
    const serverId = crictl.ok('create', podId, files.server, files.pod).trim();
    crictl.ok('start', serverId);
    const local = await freePort();
    const pf = track(crictl.start(['port-forward', podId, `${local}:${echoPort}`]));
    await pf.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:${local} -> ${echoPort}`));
    const payload = randomBytes(256 * 1024);
    // The server (nc -ll -e cat) may need a moment to listen: retry the whole exchange.
    let echoed: Buffer = Buffer.alloc(0);
    for (let attempt = 0; attempt < 20 && !echoed.equals(payload); attempt++) {
      echoed = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        let got = 0;
        const sock = connect(local, '127.0.0.1');
        sock.on('connect', () => sock.write(payload));
        sock.on('data', (b: Buffer) => {
          chunks.push(b);
          got += b.length;
          if (got >= payload.length) sock.end();
        });
        sock.on('error', () => resolve(Buffer.alloc(0)));
        sock.on('close', () => resolve(Buffer.concat(chunks)));
      });
      if (!echoed.equals(payload)) await new Promise((r) => setTimeout(r, 250));
    }
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
    await pf.waitFor(/Handling connection for/);
    pf.kill();
    crictl.ok('stop', '-t', '1', serverId);
    crictl.ok('rm', serverId);
  });

  it('stats and statsp', () => {
    const { stats } = crictl.json<{ stats: Array<{ attributes: { id: string }; cpu: { usageCoreNanoSeconds: { value: string } }; memory: { workingSetBytes: { value: string } } }> }>('stats');
    const mine = stats.find((s) => s.attributes.id === echoId);
    expect(Number(mine?.cpu.usageCoreNanoSeconds.value)).toBeGreaterThan(0);
    expect(Number(mine?.memory.workingSetBytes.value)).toBeGreaterThan(0);
    const table = crictl.ok('stats');
    expect(table).toMatch(new RegExp(`^${echoId.slice(0, 13)}\\s+echo\\s+`, 'm'));
    const pods = crictl.json<{ stats: Array<{ attributes: { id: string }; linux: { cpu: { usageCoreNanoSeconds: { value: string } }; containers: Array<{ attributes: { id: string } }> } }> }>('statsp');
    const pod = pods.stats.find((s) => s.attributes.id === podId);
    expect(Number(pod?.linux.cpu.usageCoreNanoSeconds.value)).toBeGreaterThan(0);
    expect(pod?.linux.containers.map((c) => c.attributes.id)).toContain(echoId);
  });

  it('update changes the cgroup limits the container sees', () => {
    crictl.ok('update', '--memory', String(64 * 1024 * 1024), '--cpu-period', '100000', '--cpu-quota', '50000', echoId);
    const seen = crictl.ok('exec', '--sync', echoId, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
    expect(seen.split('\n').filter(Boolean)).toEqual([String(64 * 1024 * 1024), '50000']);
    const st = crictl.json<{ status: { resources: { linux: { memoryLimitInBytes: string; cpuQuota: string } } } }>('inspect', echoId);
    expect(st.status.resources.linux).toMatchObject({ memoryLimitInBytes: String(64 * 1024 * 1024), cpuQuota: '50000' });
  });

  it('stop, rm, stopp, rmp, rmi', () => {
    expect(crictl.ok('stop', '-t', '2', echoId).trim()).toBe(echoId);
    const ps = crictl.json<{ containers: Array<{ id: string; state: string }> }>('ps', '-a');
    expect(ps.containers.find((c) => c.id === echoId)?.state).toBe('CONTAINER_EXITED');
    expect(crictl.ok('rm', echoId).trim()).toBe(echoId);
    expect(crictl.json<{ containers: unknown[] }>('ps', '-a').containers).toEqual([]);
    expect(crictl.ok('stopp', podId)).toContain(`Stopped sandbox ${podId}`);
    expect(crictl.json<{ items: Array<{ state: string }> }>('pods').items[0]?.state).toBe('SANDBOX_NOTREADY');
    expect(crictl.ok('rmp', podId)).toContain(`Removed sandbox ${podId}`);
    expect(crictl.json<{ items: unknown[] }>('pods').items).toEqual([]);
    podId = '';
    expect(crictl.ok('rmi', 'busybox:1')).toContain('Deleted: docker.io/library/busybox:1');
    expect(crictl.json<{ images: unknown[] }>('images').images).toEqual([]);
  });
});
