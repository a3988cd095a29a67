import { describe, expect, it } from 'vitest';
import { CriError } from '../../common/errors';
import type { NamespaceOptions } from '../launch-config';
import { checkSysctls, sysctlDots, sysctlPath } from './sysctls';

const pod: NamespaceOptions = { network: 'pod', pid: 'pod', ipc: 'pod', targetId: '' };
const hostNet: NamespaceOptions = { ...pod, network: 'node' };
const hostIpc: NamespaceOptions = { ...pod, ipc: 'node' };

const refused = (s: Record<string, string>, ns: NamespaceOptions): CriError => {
  try {
    checkSysctls(s, ns);
  } catch (err) {
    expect(err).toBeInstanceOf(CriError);
    return err as CriError;
  }
  throw new Error(`accepted ${JSON.stringify(s)}`);
};

describe('checkSysctls', () => {
  it('accepts what runc accepts in the pod\'s own namespaces', () => {
    expect(() =>
      checkSysctls(
        {
          'kernel.shm_rmid_forced': '1', 'kernel.shmmax': '1', 'kernel.msgmax': '1', 'kernel.sem': '250 32000 32 128',
          'fs.mqueue.msg_max': '10', 'net.ipv4.ping_group_range': '0 2147483647', 'net/ipv4/conf/eth0.100/forwarding': '1',
          'kernel.domainname': 'x',
        },
        pod,
      ),
    ).not.toThrow();
  });

  it('refuses sysctls that are not namespaced, naming the field', () => {
    for (const key of ['vm.swappiness', 'kernel.core_pattern', 'kernel.hostname', 'fs.file-max', 'kernel.shm_next_id', 'kernel.msg_next_id']) {
      const err = refused({ [key]: '1' }, pod);
      expect(err.code).toBe('InvalidArgument');
      expect(err.message).toContain(`linux.sysctls["${key}"]`);
      expect(err.message).toContain('not in a separate kernel namespace');
    }
  });

  it('refuses net.* with the host network and IPC sysctls with the host IPC', () => {
    expect(refused({ 'net.core.somaxconn': '1024' }, hostNet).message).toContain("host's network namespace");
    expect(refused({ 'kernel.domainname': 'x' }, hostNet).message).toContain("host's UTS namespace");
    expect(refused({ 'kernel.shmmax': '1' }, hostIpc).message).toContain("host's IPC namespace");
    expect(refused({ 'fs.mqueue.msg_max': '1' }, hostIpc).message).toContain("host's IPC namespace");
    expect(() => checkSysctls({ 'kernel.shmmax': '1' }, hostNet)).not.toThrow();
    expect(() => checkSysctls({ 'net.core.somaxconn': '1' }, hostIpc)).not.toThrow();
  });

  it('refuses names that could leave /proc/sys and unbounded input', () => {
    for (const key of ['net/../../etc/x', 'net..core', 'net.ipv4.', '/net/core', 'net.core.some thing', 'net.ipv4.a\nb', '']) {
      expect(refused({ [key]: '1' }, pod).code).toBe('InvalidArgument');
    }
    expect(refused({ [`net.${'a'.repeat(300)}`]: '1' }, pod).message).toContain('1 to 256 bytes');
    expect(refused({ 'net.core.somaxconn': 'x'.repeat(5000) }, pod).message).toContain('longer than 4096');
    expect(refused({ 'net.core.somaxconn': 'a\0b' }, pod).message).toContain('NUL');
  });

  it('converts between the dots and the slash forms as kubelet does', () => {
    expect(sysctlDots('net/ipv4/conf/eth0.100/forwarding')).toBe('net.ipv4.conf.eth0/100.forwarding');
    expect(sysctlPath('net/ipv4/conf/eth0.100/forwarding')).toBe('net/ipv4/conf/eth0.100/forwarding');
    expect(sysctlPath('net.ipv4.conf.eth0/100.forwarding')).toBe('net/ipv4/conf/eth0.100/forwarding');
    expect(sysctlPath('kernel.shmmax')).toBe('kernel/shmmax');
  });
});
