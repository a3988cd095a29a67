import type { AttachRequest } from './types';

const MAX_BURST = 0xffff_ffff;

/**
 * CNI_ARGS as containerd and CRI-O send them: `IgnoreUnknown=1` first so
 * plugins that validate their args accept the Kubernetes keys.
 */
export function podCniArgs(req: AttachRequest): Array<[string, string]> {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', req.podNamespace],
    ['K8S_POD_NAME', req.podName],
    ['K8S_POD_INFRA_CONTAINER_ID', req.sandboxId],
    ['K8S_POD_UID', req.podUid],
  ];
}

/**
 * Capability args (CNI `CONVENTIONS.md`): each reaches only plugins that
 * declare the capability. As containerd, only mappings with a host port are
 * sent, with the protocol in lower case and `hostIP` only when set.
 */
export function podCapabilityArgs(req: AttachRequest): Record<string, unknown> {
  const caps: Record<string, unknown> = {};
  const ports = req.portMappings
    .filter((p) => p.hostPort > 0)
    .map((p) => ({
      hostPort: p.hostPort,
      containerPort: p.containerPort,
      protocol: p.protocol.toLowerCase(),
      ...(p.hostIp ? { hostIP: p.hostIp } : {}),
    }));
  if (ports.length > 0) caps.portMappings = ports;
  const bw = req.bandwidth;
  if (bw && Object.values(bw).some((v) => v !== undefined && v > 0)) {
    // The plugin rejects a rate without a burst; containerd fills in the
    // largest burst the plugin takes, which leaves the rate as the only limit.
    const burst = (rate: number | undefined, b: number | undefined): number => (rate ? (b ?? MAX_BURST) : 0);
    caps.bandwidth = {
      ingressRate: bw.ingressRate ?? 0,
      ingressBurst: burst(bw.ingressRate, bw.ingressBurst),
      egressRate: bw.egressRate ?? 0,
      egressBurst: burst(bw.egressRate, bw.egressBurst),
    };
  }
  if (req.dns) caps.dns = { servers: req.dns.servers, searches: req.dns.searches, options: req.dns.options };
  if (req.cgroupParent) caps.cgroupPath = req.cgroupParent;
  // One range set per CIDR, so a dual-stack node gets an address of each family.
  if (req.ipRanges && req.ipRanges.length > 0) caps.ipRanges = req.ipRanges.map((subnet) => [{ subnet }]);
  return caps;
}
