import { CriError } from '../../common/errors';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { checkArgvBounds } from '../translate/bounds';
import { requireStreams, runningContainer, streamingOf } from './streaming-urls';

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
