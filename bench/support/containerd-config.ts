/**
 * The `config.toml` (version 2, containerd 1.6 syntax) for a reference
 * containerd that lives entirely in one temp dir: root, state, sockets, runc
 * root and CNI config. Everything a benchmark does not need is disabled so
 * that the reference pays no cost we do not pay either.
 */
import { join } from 'node:path';

export interface ContainerdLayout {
  /** The temp dir that holds everything below. */
  readonly base: string;
  readonly root: string;
  readonly state: string;
  /** containerd's grpc socket; its ttrpc socket is this path plus `.ttrpc`. */
  readonly socket: string;
  /** `runc --root` for the runc v2 shim (the shim appends the namespace). */
  readonly runcRoot: string;
  readonly cniConfDir: string;
  readonly config: string;
}

export function layoutOf(base: string): ContainerdLayout {
  return {
    base,
    root: join(base, 'root'),
    state: join(base, 'state'),
    socket: join(base, 'containerd.sock'),
    runcRoot: join(base, 'runc'),
    cniConfDir: join(base, 'cni'),
    config: join(base, 'config.toml'),
  };
}

export interface ContainerdConfigOptions {
  /** `host:port` of the loopback registry, served over plain HTTP. */
  readonly registryHost: string;
  /** The image the CRI plugin runs as each pod's infra container. */
  readonly pauseRef: string;
  readonly runcPath: string;
  readonly cniBinDir: string;
}

// Plugins a CRI benchmark on overlayfs never touches. `opt` is disabled
// because it would create `/opt/containerd` on the host; tracing because it
// only adds overhead.
const DISABLED_PLUGINS = [
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
  'io.containerd.internal.v1.opt',
];

const str = (s: string): string => JSON.stringify(s);

export function containerdConfig(l: ContainerdLayout, o: ContainerdConfigOptions): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${str(l.root)}`,
    `state = ${str(l.state)}`,
    'oom_score = 0',
    `disabled_plugins = [${DISABLED_PLUGINS.map(str).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${str(l.socket)}`,
    '',
    '[ttrpc]',
    `  address = ${str(`${l.socket}.ttrpc`)}`,
    '',
    '[debug]',
    '  address = ""',
    '  level = "warn"',
    '',
    '[metrics]',
    '  address = ""',
    '',
    `[${cri}]`,
    `  sandbox_image = ${str(o.pauseRef)}`,
    // Lowering `oom_score_adj` below our own value fails with EIO on this host.
    '  restrict_oom_score_adj = true',
    // Keep pod network namespaces (if any) under the temp state dir, not /var/run/netns.
    '  netns_mounts_under_state_dir = true',
    '  disable_tcp_service = true',
    '  disable_apparmor = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    '',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `  BinaryName = ${str(o.runcPath)}`,
    `  Root = ${str(l.runcRoot)}`,
    '',
    `[${cri}.cni]`,
    `  bin_dir = ${str(o.cniBinDir)}`,
    `  conf_dir = ${str(l.cniConfDir)}`,
    '',
    `[${cri}.registry.mirrors.${str(o.registryHost)}]`,
    `  endpoint = [${str(`http://${o.registryHost}`)}]`,
    '',
  ].join('\n');
}
