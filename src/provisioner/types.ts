/**
 * Domain types of the provisioner and its image store. No CRI or gRPC types:
 * `src/shim` translates these into `runtime.v1` messages.
 */

import type { SpawnServer } from '../common/spawn-server';

/** The parts of an OCI image config the runtime needs (`config` in image-spec `config.md`). */
export interface ImageConfig {
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  volumes: string[];
  stopSignal: string;
  labels: Record<string, string>;
  exposedPorts: string[];
}

export interface LayerDescriptor {
  /** Digest of the blob as stored in the registry (compressed). */
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

export interface ImageRecord {
  /** The config digest, `sha256:…`. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Sum of the compressed layer sizes, as containerd reports. */
  size: bigint;
  config: ImageConfig;
  pinned: boolean;
}

/** CRI `AuthConfig` without the proto. */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64 of `username:password`. */
  auth?: string;
  serverAddress?: string;
  /** An OAuth2 refresh token, exchanged at the token realm. */
  identityToken?: string;
  /** A bearer token sent as is. */
  registryToken?: string;
}

export type BackendName = 'overlay' | 'aufs' | 'bind' | 'copy';

export interface ProvisionerOptions {
  readonly workDir: string;
  readonly backend: 'auto' | BackendName;
  /** Registry host → mirror endpoints (`host[:port]` or `http[s]://host[:port]`), tried in order. */
  readonly mirrors: Record<string, string[]>;
  /** Registry hosts reached over plain HTTP; loopback always may. */
  readonly insecure: string[];
  /** Seconds without download progress before a pull is cancelled; 0 disables. */
  readonly pullProgressTimeoutSec: number;
  /** Layers downloaded in parallel per pull. */
  readonly maxConcurrentDownloads: number;
  /** Interval of pull-progress log lines; default 10 s. */
  readonly progressLogIntervalMs?: number;
  /** Largest uncompressed layer accepted, in bytes (a gzip bomb stops there); default 64 GiB. */
  readonly maxLayerBytes?: number;
  /** Issue 16: the `certs.d` dir (hosts.toml, certificates); empty or absent: none. */
  readonly hostsDir?: string;
  /** Issue 16: Docker config.json / auth.json credentials for pulls that carry none. */
  readonly credentialsFile?: string;
  /** Issue 16: image references or ids that are never garbage-collected and reported pinned. */
  readonly pinned?: readonly string[];
  /** The daemon's spawn server (created once in main.ts): mounts and commands go through it; absent: forked here. */
  readonly spawnServer?: SpawnServer;
}
