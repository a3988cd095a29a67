/**
 * What the provisioner reports about an image (its OCI image config): the
 * provisioner's own type, since `mesos-compat` sits above it. Empty strings
 * and arrays mean unset; `user` is `name`, `uid`, `name:group` or `uid:gid`.
 */
export type { ImageConfig } from '../../provisioner/types';
