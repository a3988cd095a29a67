#!/usr/bin/env node
/**
 * The composition root: reads the configuration, builds every component with
 * constructor injection, serves CRI on the unix socket (UNAVAILABLE until
 * `recover` has run), and shuts down gracefully on SIGTERM/SIGINT without
 * touching running containers.
 */
// First: V8 flags that must be set before the other modules load (see there).
import './shim/v8-flags';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CniNetworkIsolator } from './cni';
import { background } from './common/ctx';
import { SpawnServer, execVia } from './common/spawn-server';
import { nativeBinary } from './common/native';
import { createContainerizer, type ContainerizerOptions } from './mesos-compat';
import { ContainerSessions } from './mesos-compat/io';
import { importImages } from './provisioner/import-images';
import { liveStoreOwner, recordStoreOwner } from './provisioner/store-owner';
import { createProvisioner, type ProvisionerOptions } from './provisioner/provisioner';
import { imageHandlers } from './shim/image';
import { describeError } from './common/errors';
import { log, setLogLevel } from './common/log';
import { ConfigError, helpText, loadConfig, parseCli, type Config } from './shim/config';
import type { ShimDeps } from './shim/deps';
import { runtimeHandlers } from './shim/runtime';
import { runtimeHandlerList } from './shim/config-runtimes';
import { CriServer } from './shim/server';
import { StreamingServer } from './streaming/server';
import { readPackageVersion } from './shim/version-info';
import { startObservability } from './shim/observability';
import { adminServices } from './shim/admin';
import { imagesPullCommand } from './shim/cli/images-pull';
import { checkLeaksCommand, leaksArgs } from './shim/cli/check-leaks';
import { configCommand } from './shim/cli/config-cmd';
import { Reloader } from './shim/reload';
import { SdNotifier } from './common/sd-notify';
import { statusCommand } from './shim/cli/status-cmd';
import { checkCommand } from './shim/cli/check-cmd';
import type { CliResult } from './shim/config';

/** How long a graceful shutdown waits for removals still being swept. */
const SHUTDOWN_SWEEP_MS = 5_000;

const provisionerOptions = (config: Config): ProvisionerOptions => ({
  workDir: config.workDir,
  backend: config.images.backend,
  mirrors: config.registry.mirrors,
  insecure: config.registry.insecure,
  pullProgressTimeoutSec: config.images.pullProgressTimeout,
  maxConcurrentDownloads: config.images.maxConcurrentDownloads,
  maxLayerBytes: config.images.maxLayerSize > 0 ? config.images.maxLayerSize : undefined,
  hostsDir: config.registry.configPath,
  credentialsFile: config.registry.credentialsFile,
  pinned: config.images.pinned,
});

async function serve(config: Config, version: string, cli: CliResult): Promise<void> {
  // Issue 16: systemd Type=notify. First, so no child (spawn helper, conmon, runc) inherits NOTIFY_SOCKET.
  const notifier = new SdNotifier();
  let serving = false;
  setLogLevel(config.logLevel);
  await mkdir(config.workDir, { recursive: true, mode: 0o711 });
  await mkdir(config.runDir, { recursive: true, mode: 0o711 });
  // Short commands (runc start/kill/delete, mount, umount) are forked by a
  // small helper process: forking this one costs its event loop 3-4 ms each.
  const spawner = nativeBinary('mesos-cri-spawn');
  const spawnServer = existsSync(spawner) ? new SpawnServer(spawner) : undefined;
  if (!existsSync(spawner)) log.warn({}, 'native/bin/mesos-cri-spawn is not built (scripts/setup.sh builds it): commands are forked from the daemon');

  const network = new CniNetworkIsolator({
    confDir: config.cni.confDir,
    binDirs: config.cni.binDirs,
    cacheDir: config.cni.cacheDir || join(config.workDir, 'cni'),
    netnsDir: join(config.runDir, 'netns'),
    exec: execVia(spawnServer),
  });

  const { store, provisioner, docker } = await createProvisioner({ ...provisionerOptions(config), spawnServer });
  await recordStoreOwner(config.workDir);
  const containerizerOptions: ContainerizerOptions = {
    workDir: config.workDir,
    runDir: config.runDir,
    runtime: config.runtime,
    runtimes: runtimeHandlerList(config),
    conmon: config.conmon,
    infra: config.infra,
    ...(config.execHelper ? { execHelper: config.execHelper } : {}),
    cgroupParent: config.cgroup.parent,
    cgroupDriver: config.cgroup.driver,
    systemdSocket: config.cgroup.systemdSocket,
    restrictOomScoreAdj: config.restrictOomScoreAdj,
    provisioner,
    network,
    spawnServer,
  };
  const containerizer = createContainerizer(containerizerOptions);
  // Issue 16: SIGHUP reloads the file and drop-ins; live keys apply, the rest are named as needing a restart.
  const reloader = new Reloader(cli, config, {
    setLogLevel,
    configureRegistry: (r) => docker.configureRegistry(r),
    setCniConfDir: (dir) => network.setConfDir(dir),
  });
  process.on('SIGHUP', () => {
    log.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    void notifier
      .reloading()
      .then(() => reloader.reload())
      .catch((err: unknown) => log.error({ err: describeError(err) }, 'configuration reload failed'))
      .finally(() => (serving ? notifier.ready(`serving CRI on ${config.socket}`) : notifier.status('recovering state')));
  });
  const streaming = new StreamingServer({
    address: config.streaming.address,
    port: config.streaming.port,
    ...(config.streaming.tlsCert ? { tls: { cert: config.streaming.tlsCert, key: config.streaming.tlsKey } } : {}),
    idleTimeoutMs: config.streaming.idleTimeout * 1000,
    runtime: new ContainerSessions(containerizer),
  });

  let recovering: string | undefined = 'mesos-cri is recovering its state';
  const gate = { notReady: () => recovering };
  const deps: ShimDeps = {
    config,
    version,
    runtimeName: config.defaultRuntime,
    runtimeHandlers: runtimeHandlerList(config).map((h) => h.name),
    runtimeVersion: '',
    readiness: { network: () => network.status() },
    containerizer,
    streaming,
    images: store,
  };
  // The metrics endpoint (off unless `metrics.address` is set).
  const observability = await startObservability(config, { containerizer, store });
  // Benchmarks only: the gRPC server without the HTTP/2 filter, to measure what the filter costs.
  const unfiltered = process.env.MESOS_CRI_BENCH_UNFILTERED === '1';
  if (unfiltered) log.warn({}, 'MESOS_CRI_BENCH_UNFILTERED=1: CRI socket served without the HTTP/2 filter; Go clients that send the socket path as :authority will fail');
  const server = new CriServer(runtimeHandlers(deps), imageHandlers(store), gate, { unfiltered, extra: adminServices(store) });
  await server.listen(config.socket);
  log.info({ socket: config.socket, version, backend: provisioner.backend }, 'mesos-cri listening');
  void notifier.status('recovering state');

  // Mesos order inside: launcher, then isolators (network), then provisioner.
  const started = process.hrtime.bigint();
  await containerizer.recover(background());
  await streaming.start();
  recovering = undefined;
  log.info({ recover_ms: Number(process.hrtime.bigint() - started) / 1e6, streaming: streaming.url }, 'mesos-cri ready');
  serving = true;
  await notifier.ready(`serving CRI on ${config.socket}`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    void notifier.stopping(`shutting down on ${signal}; containers keep running`);
    log.info({ signal }, 'shutting down; running containers are left running');
    server
      .shutdown()
      .then(() => streaming.stop())
      .then(() => observability.close())
      // Removals swept behind their replies get a moment to finish; what is left, the next start finishes.
      .then(() => Promise.race([containerizer.swept(), new Promise<void>((r) => setTimeout(r, SHUTDOWN_SWEEP_MS).unref())]))
      .finally(() => containerizer.close())
      .then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `mesos-cri images import FILE…`: loads OCI layouts or docker-archive tarballs into the image store. */
async function importCommand(config: Config, files: readonly string[]): Promise<number> {
  if (files.length === 0) {
    process.stderr.write('mesos-cri: usage: mesos-cri images import FILE [FILE…]\n');
    return 2;
  }
  setLogLevel(config.logLevel === 'debug' ? 'debug' : 'warn');
  const owner = await liveStoreOwner(config.workDir);
  if (owner !== undefined) {
    process.stderr.write(`mesos-cri: refusing to import: the daemon (pid ${owner}) owns the image store in ${config.workDir}; stop it first\n`);
    return 1;
  }
  const { store } = await createProvisioner(provisionerOptions(config));
  for (const file of files) {
    try {
      for (const img of await importImages(file, { store })) {
        process.stdout.write(`imported ${img.id} ${[...img.repoTags, ...img.repoDigests].join(' ')}\n`);
      }
    } catch (err) {
      process.stderr.write(`mesos-cri: failed to import ${file}: ${describeError(err)}\n`);
      return 1;
    }
  }
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const version = readPackageVersion();
  let cli;
  // Issue 15: `check --leaks` (its own flag, not a config key).
  const leaks = leaksArgs(argv);
  try {
    cli = parseCli(leaks ?? argv);
  } catch (err) {
    process.stderr.write(`mesos-cri: ${(err as Error).message}\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(helpText() + '\n');
    return 0;
  }
  if (cli.version) {
    process.stdout.write(`mesos-cri ${version}\n`);
    return 0;
  }
  // Issue 16: `config default|dump|validate` (see shim/cli/config-cmd.ts); before the config is loaded.
  if (cli.positionals[0] === 'config') return configCommand(cli, cli.positionals.slice(1));
  let config: Config;
  try {
    config = await loadConfig(cli);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mesos-cri: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (leaks) return checkLeaksCommand(config);
  if (cli.positionals[0] === 'images' && cli.positionals[1] === 'import') {
    return importCommand(config, cli.positionals.slice(2));
  }
  // Issue 17: `images pull` talks to the running daemon (see shim/cli/images-pull.ts).
  if (cli.positionals[0] === 'images' && cli.positionals[1] === 'pull') {
    return imagesPullCommand(config, cli.positionals.slice(2));
  }
  // Issue 16: `status` asks the running daemon; `check` is the preflight (shim/cli/{status,check}-cmd.ts).
  if (cli.positionals.length === 1 && cli.positionals[0] === 'status') return statusCommand(config);
  if (cli.positionals.length === 1 && cli.positionals[0] === 'check') return checkCommand(config);
  if (cli.positionals.length > 0) {
    process.stderr.write(`mesos-cri: unknown command "${cli.positionals.join(' ')}" (see --help)\n`);
    return 2;
  }
  await serve(config, version, cli);
  return -1; // keep running
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err: unknown) => {
      process.stderr.write(`mesos-cri: ${describeError(err)}\n`);
      process.exit(err instanceof ConfigError ? 2 : 1);
    },
  );
}
