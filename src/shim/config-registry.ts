import type { Key } from './config';

/**
 * Registry keys of issue 16 (containerd `config_path` + `certs.d`, CRI-O
 * `global_auth_file`), kept apart from the core keys in `config.ts`; `SCHEMA`
 * includes them. Both apply on SIGHUP.
 */
export interface RegistryFilesConfig {
  /** Per-registry dirs with `hosts.toml` and certificates; absent: none. */
  configPath: string;
  /** Docker `config.json` / `auth.json` credentials for pulls that carry none; empty: none. */
  credentialsFile: string;
}

export const REGISTRY_KEYS: readonly Key[] = [
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
];
