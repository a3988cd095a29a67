import { describe, expect, it } from 'vitest';
import type { NamespaceOptions } from '../launch-config';
import { containerNamespaces, sandboxNamespaces } from './namespaces';

const ns = (over: Partial<NamespaceOptions> = {}): NamespaceOptions => ({ network: 'pod', pid: 'container', ipc: 'pod', targetId: '', ...over });

describe('sandboxNamespaces', () => {
  it('creates pid, ipc, uts and mount, joining the pinned netns', () => {
    expect(sandboxNamespaces(ns(), '/run/netns/x')).toEqual([
      { type: 'mount' }, { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network', path: '/run/netns/x' },
    ]);
  });
  it('uses a fresh netns without a pinned one', () => {
    expect(sandboxNamespaces(ns(), undefined)).toContainEqual({ type: 'network' });
  });
  it('drops net and uts for host network, pid and ipc for host pid/ipc', () => {
    expect(sandboxNamespaces(ns({ network: 'node', pid: 'node', ipc: 'node' }), '/ignored')).toEqual([{ type: 'mount' }]);
  });
});

describe('containerNamespaces', () => {
  const pod = ns();
  it('joins the infra process for pod namespaces', () => {
    expect(containerNamespaces({ ns: ns({ pid: 'pod' }), pod, infraPid: 42 })).toEqual([
      { type: 'mount' },
      { type: 'pid', path: '/proc/42/ns/pid' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'uts', path: '/proc/42/ns/uts' },
      { type: 'network', path: '/proc/42/ns/net' },
    ]);
  });
  it('creates its own pid namespace in container mode; the node\'s only in a pod that has it', () => {
    expect(containerNamespaces({ ns: ns(), pod, infraPid: 42 })).toContainEqual({ type: 'pid' });
    const hostPod = ns({ network: 'node', pid: 'node', ipc: 'node' });
    expect(containerNamespaces({ ns: ns({ pid: 'node', ipc: 'node' }), pod: hostPod, infraPid: 42 })).toEqual([{ type: 'mount' }]);
    // A pod-level host pid namespace is shared by containers asking for the pod's.
    expect(containerNamespaces({ ns: ns({ pid: 'pod' }), pod: hostPod, infraPid: 42 })).toEqual([{ type: 'mount' }]);
  });
  it('gives a container asking for the node\'s pid or ipc namespace the pod\'s, as containerd', () => {
    const out = containerNamespaces({ ns: ns({ pid: 'node', ipc: 'node' }), pod, infraPid: 42 });
    expect(out).toContainEqual({ type: 'pid', path: '/proc/42/ns/pid' });
    expect(out).toContainEqual({ type: 'ipc', path: '/proc/42/ns/ipc' });
  });
  it('joins a target container pid namespace', () => {
    expect(containerNamespaces({ ns: ns({ pid: 'target', targetId: 'c1' }), pod, infraPid: 42, targetPid: 77 })).toContainEqual({
      type: 'pid', path: '/proc/77/ns/pid',
    });
    expect(() => containerNamespaces({ ns: ns({ pid: 'target', targetId: 'c1' }), pod, infraPid: 42 })).toThrow(
      expect.objectContaining({ code: 'NotFound', message: expect.stringContaining('target_id') }),
    );
  });
  it('refuses a sandbox without an infra process', () => {
    expect(() => containerNamespaces({ ns: ns(), pod, infraPid: 0 })).toThrow(expect.objectContaining({ code: 'FailedPrecondition' }));
  });
});
