import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';

/** `RuntimeConfig`: the cgroup driver kubelet must match (`cgroup.driver`). */
export const runtimeConfig =
  (deps: ShimDeps): RuntimeHandler<'RuntimeConfig'> =>
  async () => ({ linux: { cgroup_driver: deps.config.cgroup.driver === 'cgroupfs' ? 'CGROUPFS' : 'SYSTEMD' } });
