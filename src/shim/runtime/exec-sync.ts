import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, mustResolve } from './lookup';

/** `ExecSync`: runs the command in the container with captured output and an exact timeout. */
export const execSync =
  (deps: ShimDeps): RuntimeHandler<'ExecSync'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = mustResolve(cz, req.container_id, 'container');
    const r = await cz.execSync(id, req.cmd, { timeoutSeconds: Number(req.timeout || '0') }, ctx);
    return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
  };
