/**
 * One sample of each streaming measurement, against one running container
 * and written only in CRI + client-go wire terms, so the same code measures
 * mesos-cri and containerd (`run.ts` interleaves the samples):
 *
 * - ExecSync round trip of `true` (the CRI call kubelet's exec probes make);
 * - exec stdout throughput: `dd` of zeros through an SPDY remote-command
 *   session (SPDY because containerd 1.6's stream server speaks nothing else);
 * - port-forward throughput: a file served by busybox `httpd` in the pod,
 *   fetched over an SPDY port-forward stream.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dialSpdy } from '../../e2e/streaming/spdy-client';
import { finishCommand, openCommand } from '../../e2e/streaming/spdy-remotecommand';
import { forwardConnection } from '../../e2e/streaming/spdy-portforward';
import { execSync, execUrl, portForwardUrl, type CriEndpoint } from '../support/cri';

const RUNC = '/usr/sbin/runc';

/** ExecSync of `true`, checked. */
export async function execSyncOnce(cri: CriEndpoint, containerId: string): Promise<void> {
  const r = await execSync(cri, containerId, ['true']);
  if (r.exitCode !== 0) throw new Error(`failed to exec true: exit ${r.exitCode} ${r.stderr.toString()}`);
}

/**
 * The same `true` through plain `runc exec` on the same container, with no
 * runtime in between: the floor both runtimes' ExecSync stand on.
 */
export async function runcExecOnce(runcRoot: string, containerId: string): Promise<void> {
  if (!existsSync(join(runcRoot, containerId, 'state.json'))) throw new Error(`failed to find runc container ${containerId} under ${runcRoot}`);
  const r = spawnSync(RUNC, ['--root', runcRoot, 'exec', containerId, 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  if (r.status !== 0) throw new Error(`failed to runc exec true: ${r.status} ${r.stderr.toString()}`);
}

/** `mib` MiB of zeros from `dd` in the container, from the Exec RPC to the end of the session, as `kubectl exec` sees it. */
export async function execStdoutOnce(cri: CriEndpoint, containerId: string, mib: number): Promise<void> {
  const bytes = mib * 1024 * 1024;
  const url = await execUrl(cri, containerId, ['dd', 'if=/dev/zero', 'bs=1048576', `count=${mib}`], { stdout: true, stderr: true });
  const s = await openCommand(url, { stdin: false, stdout: true, stderr: true, tty: false });
  // Output may already be in before this line runs (its DATA frames parsed in the same read as
  // the last SYN_REPLY): count that too. Then count and drop: keeping 64 MiB of chunks would
  // measure the GC, not the runtime.
  let got = s.stdout!.chunks.reduce((n, b) => n + b.length, 0);
  s.stdout!.chunks.length = 0;
  s.stdout!.onData = (b) => {
    got += b.length;
    s.stdout!.chunks.length = 0;
  };
  const res = await finishCommand(s);
  if (res.exitCode !== 0 || got !== bytes) throw new Error(`failed to stream exec output: exit ${res.exitCode}, ${got}/${bytes} bytes, ${res.stderr}`);
}

/** Command for the pod's container: a file of `mib` MiB served by busybox httpd on 127.0.0.1:`port`. */
export function httpdCommand(port: number, mib: number): string[] {
  return ['sh', '-c', `mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=1048576 count=${mib} 2>/dev/null && exec httpd -f -p 127.0.0.1:${port} -h /tmp/www`];
}

/** From the PortForward RPC to the last byte of one HTTP response for the `mib` MiB blob, as `kubectl port-forward` + a client see it. */
export async function portForwardOnce(cri: CriEndpoint, podId: string, o: { port: number; mib: number }): Promise<void> {
  const bytes = o.mib * 1024 * 1024;
  const url = await portForwardUrl(cri, podId, [o.port]);
  const { client, response } = await dialSpdy(url, { protocols: ['portforward.k8s.io'] });
  if (!client) throw new Error(`failed to upgrade port-forward: ${response.status} ${response.body}`);
  try {
    const conn = await forwardConnection(client, o.port);
    let got = 0;
    let head = Buffer.alloc(0);
    conn.data.onData = (b) => {
      got += b.length;
      if (head.length < 512) head = Buffer.concat([head, b.subarray(0, 512)]);
      conn.data.chunks.length = 0;
    };
    conn.data.write('GET /blob HTTP/1.0\r\nHost: pod\r\n\r\n');
    await conn.data.ended;
    const text = head.toString('latin1');
    const headerLen = text.indexOf('\r\n\r\n') + 4;
    if (!text.startsWith('HTTP/1.') || !/ 200 /.test(text.split('\r\n')[0]!) || got - headerLen !== bytes) {
      throw new Error(`failed to fetch through port-forward: ${got - headerLen}/${bytes} body bytes, ${JSON.stringify(text.slice(0, 120))}, error stream ${conn.error.text()}`);
    }
  } finally {
    await client.close();
  }
}
