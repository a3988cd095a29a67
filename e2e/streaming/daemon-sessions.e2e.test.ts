import { status as Status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../support/cri-client';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { freePort } from '../support/registry';
import { dialSpdy } from './spdy-client';
import { forwardConnection, httpOver } from './spdy-portforward';
import { finishCommand, openCommand, spdyRun, until } from './spdy-remotecommand';
import { exitCodeOf, k8sExec } from './ws-helpers';

/**
 * ExecSync, Exec, Attach and PortForward through the real daemon: URLs from
 * the CRI socket, sessions on real containers (runc exec, conmon's attach
 * socket, socat in the pod's network namespace), clients written apart from
 * the server (a test SPDY client and @kubernetes/client-node).
 */
describe('streaming sessions on real containers', () => {
  let d: Daemon;
  let sandboxId = '';
  let catId = '';
  let httpdId = '';
  let httpPort = 0;

  const waitRunning = async (id: string): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const st = await d.runtime.call<{ status: { state: string } }>('ContainerStatus', { container_id: id });
      if (st.status.state === 'CONTAINER_RUNNING') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`container ${id} did not run`);
  };

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    const { ref } = await pushBusybox(reg, 'sessions/busybox:1');
    d = await startDaemon();
    await d.image.call('PullImage', { image: { image: ref } });
    const sandboxConfig = {
      metadata: { name: 'sessions', namespace: 'default', uid: 'uid-sessions', attempt: 0 },
      log_directory: `${d.base}/pods/sessions`,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    sandboxId = (await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig })).pod_sandbox_id;
    const create = async (name: string, command: string[], extra: object = {}): Promise<string> => {
      const { container_id } = await d.runtime.call<{ container_id: string }>('CreateContainer', {
        pod_sandbox_id: sandboxId,
        config: { metadata: { name, attempt: 0 }, image: { image: ref }, command, log_path: `${name}.log`, ...extra },
        sandbox_config: sandboxConfig,
      });
      await d.runtime.call('StartContainer', { container_id });
      await waitRunning(container_id);
      return container_id;
    };
    catId = await create('cat', ['/bin/cat'], { stdin: true, stdin_once: false });
    httpPort = await freePort();
    httpdId = await create('httpd', ['/bin/sh', '-c', `mkdir -p /www && echo pod-says-hi > /www/index.html && exec httpd -f -p 127.0.0.1:${httpPort} -h /www`]);
  });

  afterAll(async () => {
    if (d && sandboxId) {
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    }
    await d?.cleanup();
    await stopTestRegistry();
  });

  it('ExecSync returns stdout, stderr and the exit code', async () => {
    const r = await d.runtime.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', {
      container_id: catId,
      cmd: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'],
      timeout: 10,
    });
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.exit_code).toBe(3);
  });

  it('ExecSync kills the command at its timeout and fails', async () => {
    const started = Date.now();
    const err = await d.runtime.call('ExecSync', { container_id: catId, cmd: ['/bin/sleep', '30'], timeout: 1 }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(10_000);
    const ps = await d.runtime.call<{ stdout: Buffer }>('ExecSync', { container_id: catId, cmd: ['/bin/ps'], timeout: 10 });
    expect(ps.stdout.toString()).not.toContain('sleep 30');
  });

  it('Exec over SPDY pipes stdin and reports a non-zero exit code', async () => {
    const { url } = await d.runtime.call<{ url: string }>('Exec', { container_id: catId, cmd: ['/bin/sh', '-c', 'cat; exit 5'], stdin: true, stdout: true, stderr: true });
    const r = await spdyRun(url, { stdin: 'piped-through\n' });
    expect(r.stdout).toBe('piped-through\n');
    expect(r.exitCode).toBe(5);
    const again = await dialSpdy(url, { protocols: ['v4.channel.k8s.io'] });
    expect(again.client).toBeUndefined();
    expect(again.response.status).toBe(404);
  });

  it('Exec over WebSocket with @kubernetes/client-node', async () => {
    const { url } = await d.runtime.call<{ url: string }>('Exec', { container_id: catId, cmd: ['/bin/sh', '-c', 'echo via-ws; echo e >&2'], stdout: true, stderr: true });
    const r = await k8sExec(url);
    expect(r.stdout).toBe('via-ws\n');
    expect(r.stderr).toBe('e\n');
    expect(exitCodeOf(r.status)).toBe(0);
  });

  it('Attach reaches the container stdin and stdout, and detaching leaves it running', async () => {
    const { url } = await d.runtime.call<{ url: string }>('Attach', { container_id: catId, stdin: true, stdout: true, stderr: true });
    const s = await openCommand(url, { stdin: true, stdout: true, stderr: true, tty: false });
    s.stdin!.write('hello-attach\n');
    await until(() => (s.stdout?.text() ?? '').includes('hello-attach'), 'attach echo');
    s.stdin!.finish();
    await finishCommand(s);
    const st = await d.runtime.call<{ status: { state: string } }>('ContainerStatus', { container_id: catId });
    expect(st.status.state).toBe('CONTAINER_RUNNING');
  });

  it('PortForward relays an HTTP request to a server in the pod', async () => {
    const { url } = await d.runtime.call<{ url: string }>('PortForward', { pod_sandbox_id: sandboxId, port: [httpPort] });
    const { client, response } = await dialSpdy(url, { protocols: ['portforward.k8s.io'] });
    expect(response.status).toBe(101);
    const conn = await forwardConnection(client!, httpPort);
    const body = await httpOver(conn, '/index.html');
    expect(body).toContain('200 OK');
    expect(body).toContain('pod-says-hi');
    await client!.close();
  });

  it('refuses Exec on an unknown container and on an empty command', async () => {
    expect(codeOf(await d.runtime.call('Exec', { container_id: 'nope', cmd: ['true'], stdout: true }).catch((e: unknown) => e))).toBe(Status.NOT_FOUND);
    expect(codeOf(await d.runtime.call('Exec', { container_id: httpdId, cmd: [], stdout: true }).catch((e: unknown) => e))).toBe(Status.INVALID_ARGUMENT);
  });
});
