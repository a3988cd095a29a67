import type { LinuxContainerSecurityContext__Output } from '../../../cri/generated/runtime/v1/LinuxContainerSecurityContext';
import type { LinuxSandboxSecurityContext__Output } from '../../../cri/generated/runtime/v1/LinuxSandboxSecurityContext';
import type { NamespaceOption__Output } from '../../../cri/generated/runtime/v1/NamespaceOption';
import type { SecurityProfile__Output } from '../../../cri/generated/runtime/v1/SecurityProfile';
import { CriError } from '../../common/errors';
import type { NamespaceMode, NamespaceOptions, SeccompProfile, SecurityContext } from '../../mesos-compat/launch-config';
import type { AppArmorProfile } from '../../mesos-compat/oci/apparmor';

const MODES: Record<string, NamespaceMode> = { POD: 'pod', CONTAINER: 'container', NODE: 'node', TARGET: 'target' };

/** CRI int64 on the wire (`--longs String`) → bigint; `field` names it in errors. */
export function int64(value: string | undefined | null, field: string): bigint {
  if (value === undefined || value === null || value === '') return 0n;
  if (!/^-?\d+$/.test(value)) throw new CriError('InvalidArgument', `failed to parse ${field}: "${value}" is not an integer`);
  return BigInt(value);
}

export function namespaces(ns: NamespaceOption__Output | null | undefined): NamespaceOptions {
  return {
    network: MODES[ns?.network ?? 'POD'] ?? 'pod',
    pid: MODES[ns?.pid ?? 'POD'] ?? 'pod',
    ipc: MODES[ns?.ipc ?? 'POD'] ?? 'pod',
    targetId: ns?.target_id ?? '',
  };
}

/** `seccomp` wins over the deprecated `seccomp_profile_path` (api.proto). */
export function seccomp(profile: SecurityProfile__Output | null | undefined, legacyPath: string, field: string): SeccompProfile {
  if (profile) {
    // containerd refuses a reference with any other type rather than guess which was meant.
    if (profile.profile_type !== 'Localhost' && profile.localhost_ref) {
      throw new CriError('InvalidArgument', `failed to parse ${field}.seccomp: localhost_ref is only allowed with profile_type Localhost`);
    }
    switch (profile.profile_type) {
      case 'RuntimeDefault':
        return { kind: 'runtime-default' };
      case 'Localhost':
        if (!profile.localhost_ref) throw new CriError('InvalidArgument', `failed to parse ${field}.seccomp: localhost_ref is required for Localhost`);
        // containerd accepts the legacy `localhost/` prefix here too.
        return { kind: 'localhost', path: profile.localhost_ref.replace(/^localhost\//, '') };
      default:
        return { kind: 'unconfined' };
    }
  }
  if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') return { kind: 'runtime-default' };
  if (legacyPath.startsWith('localhost/')) return { kind: 'localhost', path: legacyPath.slice('localhost/'.length) };
  if (legacyPath === '' || legacyPath === 'unconfined') return { kind: 'unconfined' };
  // Fails closed, as containerd: a profile we do not know is not "none".
  throw new CriError('InvalidArgument', `failed to parse ${field}.seccomp_profile_path: unsupported seccomp profile ${JSON.stringify(legacyPath.slice(0, 256))}`);
}

/** `apparmor` wins over the deprecated `apparmor_profile`, as for seccomp. */
export function apparmor(profile: SecurityProfile__Output | null | undefined, legacy: string, field: string): AppArmorProfile {
  if (profile) {
    if (profile.profile_type !== 'Localhost' && profile.localhost_ref) {
      throw new CriError('InvalidArgument', `failed to parse ${field}.apparmor: localhost_ref is only allowed with profile_type Localhost`);
    }
    switch (profile.profile_type) {
      case 'RuntimeDefault':
        return { kind: 'runtime-default' };
      case 'Localhost':
        if (!profile.localhost_ref) throw new CriError('InvalidArgument', `failed to parse ${field}.apparmor: localhost_ref is required for Localhost`);
        return { kind: 'localhost', name: profile.localhost_ref.replace(/^localhost\//, '') };
      default:
        return { kind: 'unconfined' };
    }
  }
  if (legacy === '') return { kind: 'unset' };
  if (legacy === 'runtime/default') return { kind: 'runtime-default' };
  if (legacy === 'unconfined') return { kind: 'unconfined' };
  if (legacy.startsWith('localhost/') && legacy.length > 'localhost/'.length) return { kind: 'localhost', name: legacy.slice('localhost/'.length) };
  throw new CriError('InvalidArgument', `failed to parse ${field}.apparmor_profile: unsupported apparmor profile ${JSON.stringify(legacy.slice(0, 256))}`);
}

export function sandboxSecurity(sc: LinuxSandboxSecurityContext__Output | null | undefined): SecurityContext {
  return {
    privileged: sc?.privileged ?? false,
    namespaces: namespaces(sc?.namespace_options),
    ...(sc?.run_as_user ? { runAsUser: int64(sc.run_as_user.value, 'security_context.run_as_user') } : {}),
    ...(sc?.run_as_group ? { runAsGroup: int64(sc.run_as_group.value, 'security_context.run_as_group') } : {}),
    runAsUsername: '',
    supplementalGroups: (sc?.supplemental_groups ?? []).map((g, i) => int64(g, `security_context.supplemental_groups[${i}]`)),
    readonlyRootfs: sc?.readonly_rootfs ?? false,
    noNewPrivs: false,
    capabilities: { add: [], drop: [], addAmbient: [] },
    seccomp: seccomp(sc?.seccomp, sc?.seccomp_profile_path ?? '', 'linux.security_context'),
  };
}

export function containerSecurity(sc: LinuxContainerSecurityContext__Output | null | undefined): SecurityContext {
  const f = 'linux.security_context';
  return {
    privileged: sc?.privileged ?? false,
    namespaces: namespaces(sc?.namespace_options),
    ...(sc?.run_as_user ? { runAsUser: int64(sc.run_as_user.value, `${f}.run_as_user`) } : {}),
    ...(sc?.run_as_group ? { runAsGroup: int64(sc.run_as_group.value, `${f}.run_as_group`) } : {}),
    runAsUsername: sc?.run_as_username ?? '',
    supplementalGroups: (sc?.supplemental_groups ?? []).map((g, i) => int64(g, `${f}.supplemental_groups[${i}]`)),
    readonlyRootfs: sc?.readonly_rootfs ?? false,
    noNewPrivs: sc?.no_new_privs ?? false,
    capabilities: {
      add: sc?.capabilities?.add_capabilities ?? [],
      drop: sc?.capabilities?.drop_capabilities ?? [],
      addAmbient: sc?.capabilities?.add_ambient_capabilities ?? [],
    },
    // The lists are applied as sent, empty ones included: kubelet sends its
    // defaults for every container and empty lists for `procMount: Unmasked`,
    // and containerd applies no masks of its own either (proto3 cannot tell an
    // empty list from an absent one, so crictl users without lists get none).
    maskedPaths: sc?.masked_paths ?? [],
    readonlyPaths: sc?.readonly_paths ?? [],
    seccomp: seccomp(sc?.seccomp, sc?.seccomp_profile_path ?? '', f),
    apparmor: apparmor(sc?.apparmor, sc?.apparmor_profile ?? '', f),
  };
}
