import { describe, expect, it } from 'vitest';
import { defaults } from '../config';
import type { ShimDeps } from '../deps';
import { runtimeConfig } from './runtime-config';

describe('RuntimeConfig', () => {
  it('reports the configured cgroup driver', async () => {
    const answer = async (driver: 'cgroupfs' | 'systemd') => {
      const config = { ...defaults(), cgroup: { ...defaults().cgroup, driver } };
      const handler = runtimeConfig({ config } as unknown as ShimDeps) as unknown as (req: unknown, ctx: unknown) => Promise<{ linux: { cgroup_driver: string } }>;
      return (await handler({}, {})).linux.cgroup_driver;
    };
    expect(await answer('cgroupfs')).toBe('CGROUPFS');
    expect(await answer('systemd')).toBe('SYSTEMD');
  });
});
