/**
 * What the provisioner reports about an image (its OCI image config), copied
 * structurally so this package need not import `src/provisioner` (the layers
 * are siblings, not parent and child). Empty strings and arrays mean unset.
 */
export interface ImageConfig {
  /** `name`, `uid`, `name:group`, `uid:gid` (either part a name or a number), or empty for root. */
  user: string;
  /** `KEY=value` entries, in image order. */
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  /** Paths declared by `VOLUME`; the container gets an empty directory at each. */
  volumes: string[];
  stopSignal: string;
  labels: Record<string, string>;
  exposedPorts: string[];
}
