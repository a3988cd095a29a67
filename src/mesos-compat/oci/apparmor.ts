import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CriError } from '../../common/errors';

/** What a container asks of AppArmor; `unset` when the request says nothing. */
export type AppArmorProfile = { readonly kind: 'unset' | 'unconfined' | 'runtime-default' } | { readonly kind: 'localhost'; readonly name: string };

/** The host's AppArmor, as far as we use it; a fake in unit tests. */
export interface AppArmorHost {
  enabled(): boolean;
  loaded(name: string): boolean;
  /** Loads (or replaces) a profile from its text. Throws with the parser's reason. */
  load(text: string): void;
}

/** Our RuntimeDefault profile, loaded on first use (containerd's is `cri-containerd.apparmor.d`). */
export const DEFAULT_APPARMOR_PROFILE = 'mesos-cri-default';

/**
 * Docker's and containerd's default profile, the same rules under our name:
 * everything but mount, raw access to /proc and /sys internals, and
 * signals or ptrace to processes outside the profile.
 */
export function defaultProfileText(name = DEFAULT_APPARMOR_PROFILE): string {
  return `#include <tunables/global>

profile ${name} flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network,
  capability,
  file,
  umount,
  signal (receive) peer=unconfined,
  signal (send,receive) peer=${name},

  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/** w,
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  deny mount,

  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,

  ptrace (trace,read,tracedby,readby) peer=${name},
}
`;
}

let enabledOnHost: boolean | undefined;

export const hostAppArmor: AppArmorHost = {
  // Read once: a kernel does not gain or lose AppArmor while it runs.
  enabled: () => {
    if (enabledOnHost === undefined) {
      try {
        enabledOnHost = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y' && readFileSync('/sys/kernel/security/apparmor/profiles', 'utf8') !== undefined;
      } catch {
        enabledOnHost = false;
      }
    }
    return enabledOnHost;
  },
  loaded: (name) => {
    try {
      return readFileSync('/sys/kernel/security/apparmor/profiles', 'utf8').split('\n').some((l) => l.replace(/ \([a-z]+\)$/, '') === name);
    } catch {
      return false;
    }
  },
  load: (text) => {
    const r = spawnSync('apparmor_parser', ['-Kr'], { input: text, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`apparmor_parser: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().slice(0, 512)}`);
  },
};

/**
 * The AppArmor profile a container runs under, as containerd's
 * `generateApparmorSpecOpts` picks it. On a host without AppArmor any
 * request but none or unconfined is refused (`apparmor is not supported`)
 * rather than ignored. With AppArmor, privileged containers and
 * `unconfined` get none, RuntimeDefault and an unset request get our
 * default profile (loaded on first use), and `localhost/<name>` must name a
 * profile the node has loaded.
 */
export function resolveAppArmor(p: AppArmorProfile, opts: { privileged: boolean; field: string; host?: AppArmorHost }): string | undefined {
  const host = opts.host ?? hostAppArmor;
  if (!host.enabled()) {
    if (p.kind === 'unset' || p.kind === 'unconfined') return undefined;
    throw new CriError('FailedPrecondition', `failed to create container: ${opts.field}: apparmor is not supported on this node`);
  }
  if (p.kind === 'unconfined' || (opts.privileged && p.kind === 'unset')) return undefined;
  if (p.kind === 'localhost') {
    if (!host.loaded(p.name)) throw new CriError('NotFound', `failed to create container: ${opts.field}: apparmor profile ${JSON.stringify(p.name)} is not loaded on this node`);
    return p.name;
  }
  if (!host.loaded(DEFAULT_APPARMOR_PROFILE)) {
    try {
      host.load(defaultProfileText());
    } catch (err) {
      throw new CriError('Internal', `failed to create container: cannot load the default apparmor profile`, { cause: err });
    }
  }
  return DEFAULT_APPARMOR_PROFILE;
}
