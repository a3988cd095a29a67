/**
 * Registry and image keys of issue 16 (containerd `config_path` + `certs.d`, CRI-O
 * `global_auth_file`, pinned images), kept apart from the core keys in `config.ts`; `SCHEMA`
 * includes them. The registry keys apply on SIGHUP; `images.pinned` needs a restart.
 */
export interface RegistryFilesConfig {
  /** Per-registry dirs with `hosts.toml` and certificates; absent: none. */
  configPath: string;
  /** Docker `config.json` / `auth.json` credentials for pulls that carry none; empty: none. */
  credentialsFile: string;
}

/** Checked against `Key` where config.ts spreads them into `SCHEMA` (no import back: no cycle). */
export const REGISTRY_KEYS = [
  {
    path: 'registry.configPath',
    kind: 'string',
    flag: 'registry-config-path',
    def: '/etc/mesos-cri/certs.d',
    help: 'per-registry dirs (<host[:port]>/hosts.toml, *.crt, *.cert+*.key) as containerd certs.d (absent: none)',
  },
  {
    path: 'registry.credentialsFile',
    kind: 'string',
    flag: 'registry-credentials-file',
    def: '',
    help: 'Docker config.json / auth.json credentials for pulls that carry none (empty: none)',
  },
  {
    path: 'images.pinned',
    kind: 'string[]',
    flag: 'pinned-image',
    def: [],
    help: 'image references or ids never garbage-collected, reported pinned to kubelet (flag may repeat)',
  },
] as const;
