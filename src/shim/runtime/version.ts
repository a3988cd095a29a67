import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';

/** `Version`: the CRI API we speak and who we are (api.proto `VersionResponse`). */
export const version =
  (deps: ShimDeps): RuntimeHandler<'Version'> =>
  async () => ({
    version: '0.1.0',
    runtime_name: 'mesos-cri',
    runtime_version: deps.version,
    runtime_api_version: 'v1',
  });
