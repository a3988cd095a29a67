/**
 * The CNI isolator's public data types. They mirror the CRI messages the
 * shim translates (`PortMapping`, `DNSConfig` in `cri/api.proto`) without
 * importing the generated code, which only `src/shim` may do.
 */

export interface PortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostPort: number;
  /** Empty means every host address. */
  hostIp: string;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface Bandwidth {
  /** Bits per second, as the `bandwidth` plugin's runtime config expects. */
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

export interface AttachRequest {
  sandboxId: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  portMappings: PortMapping[];
  dns?: DnsConfig;
  bandwidth?: Bandwidth;
  cgroupParent?: string;
  /** The node's pod CIDRs (kubelet's `UpdateRuntimeConfig`), one range set each. */
  ipRanges?: readonly string[];
}

export interface PodNetwork {
  sandboxId: string;
  /** The pinned network namespace (a bind mount of nsfs) containers join. */
  netnsPath: string;
  /** Pod IPs without prefix length; the primary one (IPv4 when present) first. */
  ips: string[];
  networkName: string;
}

/** CRI `NetworkReady` condition. */
export interface NetworkStatus {
  ready: boolean;
  reason: string;
  message: string;
}
