import { describe, expect, it } from 'vitest';
import { podIps } from './result';

describe('podIps', () => {
  it('takes sandbox interface IPs, IPv4 first, without prefix or duplicates', () => {
    const result = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }, { name: 'lo', sandbox: '/run/netns/x' }],
      ips: [
        { address: '10.0.0.1/24', interface: 0 },
        { address: 'fd00::5/64', interface: 2 },
        { address: '10.88.0.5/16', interface: 2, gateway: '10.88.0.1' },
        { address: '10.88.0.5/16', interface: 2 },
        { address: '127.0.0.1/8', interface: 3 },
      ],
    };
    expect(podIps(result)).toEqual(['10.88.0.5', 'fd00::5']);
  });

  it('accepts IPAM-style results without interfaces', () => {
    expect(podIps({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.2.3/24' }] })).toEqual(['10.1.2.3']);
  });

  it('returns nothing for garbage', () => {
    expect(podIps(undefined)).toEqual([]);
    expect(podIps({ ips: 'x' })).toEqual([]);
  });
});
