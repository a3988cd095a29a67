import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { requireStreams, runningContainer, streamingOf } from './streaming-urls';

/** `Attach`: validates, then answers a single-use URL on the streaming server. */
export const attachUrl =
  (deps: ShimDeps): RuntimeHandler<'Attach'> =>
  async (req) => {
    requireStreams(req.tty, req.stdin, req.stdout, req.stderr);
    const containerId = runningContainer(deps, req.container_id);
    return { url: streamingOf(deps).getAttach({ containerId, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
  };
