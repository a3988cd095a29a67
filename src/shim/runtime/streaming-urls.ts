import { CriError } from '../../common/errors';
import type { ShimDeps, StreamingUrls } from '../deps';
import { containerizerOf, containerStatusOf, mustResolve } from './lookup';

/**
 * What the streaming RPCs share (`exec.ts`, `attach.ts`, `port-forward.ts`):
 * each validates its request here, then asks the streaming server
 * (`src/streaming`) for a single-use URL.
 */
export function streamingOf(deps: ShimDeps): StreamingUrls {
  if (!deps.streaming) throw new CriError('Unavailable', 'the streaming server is not running');
  return deps.streaming;
}

/** The container must exist and run: a URL for a stopped one would only fail later. */
export function runningContainer(deps: ShimDeps, id: string): string {
  const cz = containerizerOf(deps);
  const cid = mustResolve(cz, id, 'container');
  const st = containerStatusOf(cz, cid);
  if (st.state !== 'running') throw new CriError('FailedPrecondition', `container ${JSON.stringify(id)} is not running (state ${st.state})`);
  return cid.value;
}

/** At least one stream, and no stderr with a tty (cri-api `ExecRequest`/`AttachRequest`). */
export function requireStreams(tty: boolean, stdin: boolean, stdout: boolean, stderr: boolean): void {
  if (!stdin && !stdout && !stderr) throw new CriError('InvalidArgument', 'one of stdin, stdout or stderr must be set');
  if (tty && stderr) throw new CriError('InvalidArgument', 'tty and stderr cannot both be set (a terminal merges stderr into stdout)');
}
