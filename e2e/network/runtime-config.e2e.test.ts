import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, netFixture, PLUGIN_DIR, type NetFixture } from '../cni/helpers';
import { failure, GRPC, podConfig, tearDown, testCgroupParent } from '../containerizer/cri-fixture';
import { startDaemon, type Daemon } from '../support/daemon';

/**
 * UpdateRuntimeConfig through the daemon: the pod CIDR kubelet pushes reaches
 * host-local as the `ipRanges` capability (the file's own range is used
 * before), survives a daemon restart, and is released from that range when
 * the pod goes. A bad CIDR is refused and changes nothing.
 */
describe.runIf(canRun())('UpdateRuntimeConfig: the node pod CIDR as CNI ipRanges', () => {
  const cgroupParent = testCgroupParent();
  const fileSubnet = '10.248.0.0/24';
  const nodeCidr = '10.248.64.0/24';
  let fx: NetFixture;
  let d: Daemon;

  const podIp = async (name: string): Promise<{ id: string; ip: string }> => {
    const config = podConfig(name, join(d.base, 'pods', name), { hostNetwork: false });
    const { pod_sandbox_id: id } = await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
    const st = await d.runtime.call<{ status: { network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: id });
    return { id, ip: st.status.network.ip };
  };
  const update = (pod_cidr: string): Promise<unknown> =>
    d.runtime.call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr } } });
  const leases = (): string[] => {
    const dir = join(fx.dataDir, fx.network);
    return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
  };

  beforeAll(async () => {
    fx = await netFixture({ bridge: 'mcri-rc0', subnet: fileSubnet, network: 'mcri-e2e-podcidr' });
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, '--cni-bin-dir', PLUGIN_DIR] });
    const list = fx.conflist();
    // bridge hands its whole config, runtimeConfig included, to its IPAM plugin.
    list.plugins[0]!.capabilities = { ipRanges: true };
    // No gateway address on the bridge: the bridge plugin keeps one only, and pods from both ranges share it here.
    list.plugins[0]!.isGateway = false;
    mkdirSync(join(d.base, 'cni'), { recursive: true });
    writeFileSync(join(d.base, 'cni', '10-podcidr.conflist'), JSON.stringify(list));
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await fx?.cleanup();
  });

  it('allocates from the config file range until kubelet sends a pod CIDR, then from that CIDR', async () => {
    const before = await podIp('before');
    expect(before.ip).toMatch(/^10\.248\.0\./);
    await update(nodeCidr);
    const after = await podIp('after');
    expect(after.ip).toMatch(/^10\.248\.64\./);
    expect(leases()).toEqual(expect.arrayContaining([before.ip, after.ip]));
  });

  it('refuses a malformed CIDR with INVALID_ARGUMENT and keeps the one it has; an empty one changes nothing', async () => {
    const bad = await failure(update('10.248.99.0/40'));
    expect(bad.code).toBe(GRPC.INVALID_ARGUMENT);
    expect(bad.details).toContain('10.248.99.0/40');
    await update('');
    expect((await podIp('still')).ip).toMatch(/^10\.248\.64\./);
  });

  it('keeps the pod CIDR across a daemon restart', async () => {
    expect(await d.stop()).toBe(0);
    d = await d.restart();
    expect((await podIp('restarted')).ip).toMatch(/^10\.248\.64\./);
  });

  it('releases the addresses from the ranges they came from when the pods go', async () => {
    const { items } = await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {});
    expect(items.length).toBe(4);
    for (const p of items) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    expect(leases()).toEqual([]);
  });
});
