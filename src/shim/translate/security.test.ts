import { describe, expect, it } from 'vitest';
import type { LinuxContainerSecurityContext__Output } from '../../../cri/generated/runtime/v1/LinuxContainerSecurityContext';
import { containerSecurity, int64, seccomp } from './security';

/** A security context as the generated loader hands it over (`--defaults`: every list present). */
function sc(over: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_group: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    ...over,
  } as LinuxContainerSecurityContext__Output;
}

describe('containerSecurity', () => {
  it('applies no masks when the lists are empty (kubelet\'s procMount: Unmasked), as containerd', () => {
    const out = containerSecurity(sc());
    expect(out.maskedPaths).toEqual([]);
    expect(out.readonlyPaths).toEqual([]);
    expect(containerSecurity(null).maskedPaths).toEqual([]);
  });

  it("takes the client's lists when given", () => {
    const out = containerSecurity(sc({ masked_paths: ['/proc/uptime'], readonly_paths: ['/proc/fs'] }));
    expect(out.maskedPaths).toEqual(['/proc/uptime']);
    expect(out.readonlyPaths).toEqual(['/proc/fs']);
  });

  it('refuses a localhost_ref with a profile type other than Localhost, as containerd', () => {
    for (const profile_type of ['RuntimeDefault', 'Unconfined'] as const) {
      expect(() => containerSecurity(sc({ seccomp: { profile_type, localhost_ref: '/p.json' } }))).toThrow(
        expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('localhost_ref') }),
      );
    }
    expect(containerSecurity(sc({ seccomp: { profile_type: 'Localhost', localhost_ref: 'localhost//p.json' } })).seccomp).toEqual({ kind: 'localhost', path: '/p.json' });
  });

  it('parses int64 fields and names the field in errors', () => {
    expect(containerSecurity(sc({ run_as_user: { value: '1000' } })).runAsUser).toBe(1000n);
    expect(() => int64('12x', 'linux.resources.memory_limit_in_bytes')).toThrow(/memory_limit_in_bytes/);
  });
});

describe('seccomp_profile_path (deprecated)', () => {
  it('fails closed on a profile it does not know, as containerd', () => {
    expect(() => seccomp(null, 'not-a-profile', 'linux.security_context')).toThrow(/seccomp_profile_path: unsupported seccomp profile "not-a-profile"/);
    expect(seccomp(null, '', 'f')).toEqual({ kind: 'unconfined' });
    expect(seccomp(null, 'unconfined', 'f')).toEqual({ kind: 'unconfined' });
    expect(seccomp(null, 'docker/default', 'f')).toEqual({ kind: 'runtime-default' });
    expect(seccomp(null, 'localhost//p.json', 'f')).toEqual({ kind: 'localhost', path: '/p.json' });
  });
});
