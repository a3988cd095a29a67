import { describe, expect, it } from 'vitest';
import { DEFAULT_APPARMOR_PROFILE, defaultProfileText, resolveAppArmor, type AppArmorHost } from './apparmor';

const field = 'linux.security_context.apparmor';

function fakeHost(enabled: boolean, loaded: string[] = []): AppArmorHost & { loads: string[] } {
  const set = new Set(loaded);
  const loads: string[] = [];
  return {
    loads,
    enabled: () => enabled,
    loaded: (n) => set.has(n),
    load: (text) => {
      loads.push(text);
      set.add(/^profile (\S+)/m.exec(text)![1]!);
    },
  };
}

describe('resolveAppArmor', () => {
  it('without AppArmor: none or unconfined pass, anything else is refused as containerd does', () => {
    const host = fakeHost(false);
    expect(resolveAppArmor({ kind: 'unset' }, { privileged: false, field, host })).toBeUndefined();
    expect(resolveAppArmor({ kind: 'unconfined' }, { privileged: false, field, host })).toBeUndefined();
    for (const p of [{ kind: 'runtime-default' } as const, { kind: 'localhost', name: 'x' } as const]) {
      expect(() => resolveAppArmor(p, { privileged: false, field, host })).toThrow(expect.objectContaining({ code: 'FailedPrecondition', message: expect.stringContaining(`${field}: apparmor is not supported`) }));
    }
  });

  it('with AppArmor: the default profile for RuntimeDefault and unset, loaded once; none for unconfined or privileged', () => {
    const host = fakeHost(true);
    expect(resolveAppArmor({ kind: 'runtime-default' }, { privileged: false, field, host })).toBe(DEFAULT_APPARMOR_PROFILE);
    expect(resolveAppArmor({ kind: 'unset' }, { privileged: false, field, host })).toBe(DEFAULT_APPARMOR_PROFILE);
    expect(host.loads).toHaveLength(1);
    expect(host.loads[0]).toContain(`profile ${DEFAULT_APPARMOR_PROFILE} `);
    expect(host.loads[0]).toContain('deny mount,');
    expect(resolveAppArmor({ kind: 'unconfined' }, { privileged: false, field, host })).toBeUndefined();
    expect(resolveAppArmor({ kind: 'unset' }, { privileged: true, field, host })).toBeUndefined();
    expect(resolveAppArmor({ kind: 'runtime-default' }, { privileged: true, field, host })).toBe(DEFAULT_APPARMOR_PROFILE);
  });

  it('with AppArmor: localhost profiles only when the node has them loaded', () => {
    const host = fakeHost(true, ['my-profile']);
    expect(resolveAppArmor({ kind: 'localhost', name: 'my-profile' }, { privileged: false, field, host })).toBe('my-profile');
    expect(() => resolveAppArmor({ kind: 'localhost', name: 'nope' }, { privileged: false, field, host })).toThrow(expect.objectContaining({ code: 'NotFound' }));
  });

  it('the default profile text names itself everywhere it refers to its peers', () => {
    expect(defaultProfileText('p').match(/peer=p\b/g)).toHaveLength(2);
  });

});
