import { CriError } from '../../common/errors';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { checkArgvBounds } from '../translate/bounds';
import { containerizerOf, mustResolve } from './lookup';

/** `ExecSync`: runs the command in the container with captured output and an exact timeout. */
export const execSync =
  (deps: ShimDeps): RuntimeHandler<'ExecSync'> =>
  async (req, ctx) => {
    if (req.cmd.length === 0 || req.cmd[0] === '') throw new CriError('InvalidArgument', 'failed to exec: cmd is empty');
    checkArgvBounds(req.cmd, 'cmd');
    const cz = containerizerOf(deps);
    const id = mustResolve(cz, req.container_id, 'container');
    const r = await cz.execSync(id, req.cmd, { timeoutSeconds: Number(req.timeout || '0') }, ctx);
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  };
