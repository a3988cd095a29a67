import { describe, expect, it } from 'vitest';
import { podCapabilityArgs, podCniArgs } from './runtime-conf';
import type { AttachRequest } from './types';

const req: AttachRequest = { sandboxId: 'sb1', podName: 'web', podNamespace: 'default', podUid: 'u-1', portMappings: [] };

describe('runtime conf', () => {
  it('sends the Kubernetes CNI_ARGS with IgnoreUnknown', () => {
    expect(podCniArgs(req)).toEqual([
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'web'],
      ['K8S_POD_INFRA_CONTAINER_ID', 'sb1'],
      ['K8S_POD_UID', 'u-1'],
    ]);
  });

  it('has no capability args for a plain pod', () => {
    expect(podCapabilityArgs(req)).toEqual({});
  });

  it('maps ports with a host port, dns, bandwidth and the cgroup', () => {
    const caps = podCapabilityArgs({
      ...req,
      portMappings: [
        { protocol: 'tcp', containerPort: 80, hostPort: 8080, hostIp: '' },
        { protocol: 'udp', containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' },
        { protocol: 'tcp', containerPort: 9090, hostPort: 0, hostIp: '' },
      ],
      dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
      bandwidth: { ingressRate: 1_000_000 },
      cgroupParent: '/kubepods/pod1',
    });
    expect(caps).toEqual({
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
      ],
      dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
      bandwidth: { ingressRate: 1_000_000, ingressBurst: 0xffffffff, egressRate: 0, egressBurst: 0 },
      cgroupPath: '/kubepods/pod1',
    });
  });

  it('passes the node pod CIDRs as one ipRanges range set each', () => {
    expect(podCapabilityArgs({ ...req, ipRanges: ['10.88.0.0/24', 'fd00:88::/64'] })).toEqual({
      ipRanges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd00:88::/64' }]],
    });
    expect(podCapabilityArgs({ ...req, ipRanges: [] })).toEqual({});
  });
});
