import { CriError } from '../../common/errors';
import type { ShimDeps, StreamingUrls } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { checkArgvBounds } from '../translate/bounds';
import { containerizerOf, containerStatusOf, mustResolve, sandboxStatusOf } from './lookup';

function streamingOf(deps: ShimDeps): StreamingUrls {
  if (!deps.streaming) throw new CriError('Unavailable', 'the streaming server is not running');
  return deps.streaming;
}

/** The container must exist and run: a URL for a stopped one would only fail later. */
function runningContainer(deps: ShimDeps, id: string): string {
  const cz = containerizerOf(deps);
  const cid = mustResolve(cz, id, 'container');
  const st = containerStatusOf(cz, cid);
  if (st.state !== 'running') throw new CriError('FailedPrecondition', `container ${JSON.stringify(id)} is not running (state ${st.state})`);
  return cid.value;
}

function requireStreams(tty: boolean, stdin: boolean, stdout: boolean, stderr: boolean): void {
  if (!stdin && !stdout && !stderr) throw new CriError('InvalidArgument', 'one of stdin, stdout or stderr must be set');
  if (tty && stderr) throw new CriError('InvalidArgument', 'tty and stderr cannot both be set (a terminal merges stderr into stdout)');
}

/** `Exec`: validates, then answers a single-use URL on the streaming server. */
export const execUrl =
  (deps: ShimDeps): RuntimeHandler<'Exec'> =>
  async (req) => {
    if (req.cmd.length === 0) throw new CriError('InvalidArgument', 'cmd must not be empty');
    checkArgvBounds(req.cmd, 'cmd');
    requireStreams(req.tty, req.stdin, req.stdout, req.stderr);
    const containerId = runningContainer(deps, req.container_id);
    return { url: streamingOf(deps).getExec({ containerId, cmd: [...req.cmd], tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
  };

/** `Attach`: validates, then answers a single-use URL on the streaming server. */
export const attachUrl =
  (deps: ShimDeps): RuntimeHandler<'Attach'> =>
  async (req) => {
    requireStreams(req.tty, req.stdin, req.stdout, req.stderr);
    const containerId = runningContainer(deps, req.container_id);
    return { url: streamingOf(deps).getAttach({ containerId, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
  };

/** `PortForward`: the sandbox must be ready; ports are checked by the streaming server per stream. */
export const portForwardUrl =
  (deps: ShimDeps): RuntimeHandler<'PortForward'> =>
  async (req) => {
    const cz = containerizerOf(deps);
    const sid = mustResolve(cz, req.pod_sandbox_id, 'sandbox');
    if (sandboxStatusOf(cz, sid).state !== 'ready') throw new CriError('FailedPrecondition', `pod sandbox ${JSON.stringify(req.pod_sandbox_id)} is not ready`);
    for (const p of req.port) if (p <= 0 || p > 65535) throw new CriError('InvalidArgument', `port ${p} is out of range 1-65535`);
    return { url: streamingOf(deps).getPortForward({ podSandboxId: sid.value, ports: [...req.port] }) };
  };
