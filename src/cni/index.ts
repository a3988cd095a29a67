/** The CNI isolator's public surface (`src/mesos-compat` and the daemon import from here). */
export { CniNetworkIsolator, type CniNetworkIsolatorOptions } from './isolator';
export { writeSandboxFiles, type SandboxFiles, type SandboxFilesOptions } from './files';
export type { AttachRequest, Bandwidth, DnsConfig, NetworkStatus, PodNetwork, PortMapping } from './types';
