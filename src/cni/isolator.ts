import type { Clock } from '../common/clock';
import { systemClock } from '../common/clock';
import { cleanupCtx, type Ctx } from '../common/ctx';
import { CriError, describeError, findCriError } from '../common/errors';
import { exec as defaultExec, type Exec } from '../common/exec';
import { removeStaleTemps } from '../common/checkpoint';
import { exists } from '../common/fsutil';
import { KeyedMutex } from '../common/keyed-mutex';
import { log } from '../common/log';
import { addNetworkList, checkNetworkList, delNetworkList } from './chain';
import type { NetworkConfigList } from './network-conf';
import type { InvokeDeps, RuntimeConf } from './invoke';
import { hostLocalStores, readLeases } from './leases';
import { ConfigLoader, type LoadedConfigs } from './loader';
import { isPinned, NetnsPins } from './netns';
import { netnsPin, POD_IFNAME, recordsDir, VALID_ID } from './paths';
import { listRecordIds, readRecord, removeRecord, writeRecord, type NetworkRecord } from './records';
import { podIps } from './result';
import { podCapabilityArgs, podCniArgs } from './runtime-conf';
import type { AttachRequest, NetworkStatus, PodNetwork } from './types';

export type { AttachRequest, Bandwidth, DnsConfig, NetworkStatus, PodNetwork, PortMapping } from './types';

export interface CniNetworkIsolatorOptions {
  /** Network configs; default `/etc/cni/net.d` in the daemon config. */
  readonly confDir: string;
  /** Plugin search path, in order. */
  readonly binDirs: readonly string[];
  /** Per-sandbox records (config used, args, ADD result); must persist across restarts. */
  readonly cacheDir: string;
  /** Where namespace pins live, e.g. `<runDir>/netns`. */
  readonly netnsDir: string;
  readonly exec?: Exec;
  readonly clock?: Clock;
  /**
   * Release host-local leases held by container ids nobody knows during
   * `recover` (default true). Turn off when another runtime shares the
   * same network name and store.
   */
  readonly releaseOrphanLeases?: boolean;
}

/**
 * The Mesos `network/cni` isolator for CRI pods: per sandbox a pinned
 * network namespace, the default network's plugin chain run on it, and a
 * record of the result so DEL, CHECK and `network()` work after a restart.
 * Operations on one sandbox are serialized (CNI forbids parallel calls for
 * one container); different sandboxes proceed concurrently.
 */
export class CniNetworkIsolator {
  #opts: CniNetworkIsolatorOptions;
  readonly #deps: InvokeDeps;
  #loader: ConfigLoader;
  readonly #pins: NetnsPins;
  readonly #clock: Clock;
  readonly #mutex = new KeyedMutex();

  constructor(opts: CniNetworkIsolatorOptions) {
    this.#opts = opts;
    const exec = opts.exec ?? defaultExec;
    this.#deps = { exec, binDirs: opts.binDirs };
    this.#loader = new ConfigLoader(opts.confDir);
    this.#pins = new NetnsPins(exec);
    this.#clock = opts.clock ?? systemClock;
  }

  /**
   * Issue 16: a new config dir (SIGHUP). Pods attached before keep their
   * recorded network for CHECK and DEL; new pods use the new dir's config.
   */
  setConfDir(confDir: string): void {
    if (confDir === this.#opts.confDir) return;
    this.#opts = { ...this.#opts, confDir };
    this.#loader = new ConfigLoader(confDir);
  }

  /** CRI `NetworkReady`: true once a valid config is in the dir; re-reads it when it changed. */
  status(): NetworkStatus {
    const loaded = this.#loader.current();
    if (loaded.primary) return { ready: true, reason: '', message: '' };
    return { ready: false, reason: 'NetworkPluginNotReady', message: this.#noConfigMessage(loaded) };
  }

  async attach(req: AttachRequest, ctx: Ctx): Promise<PodNetwork> {
    checkId(req.sandboxId);
    return this.#mutex.run(req.sandboxId, async () => {
      const list = this.#loader.current().primary;
      if (!list) {
        throw new CriError('FailedPrecondition', `failed to set up pod network: ${this.#noConfigMessage(this.#loader.current())}`);
      }
      const existing = await readRecord(this.#opts.cacheDir, req.sandboxId);
      if (existing?.state === 'attached' && (await isPinned(existing.netnsPath))) return toPodNetwork(existing);
      const netnsPath = netnsPin(this.#opts.netnsDir, req.sandboxId);
      // A record or pin that is not usable is a crash mid-attach: finish that teardown first.
      if (existing || (await exists(netnsPath))) await this.#teardown(req.sandboxId, existing, ctx);

      const started = this.#clock.nowMs();
      const { source: _source, ...network } = list;
      let rec: NetworkRecord = {
        sandboxId: req.sandboxId,
        state: 'attaching',
        netnsPath,
        ifName: POD_IFNAME,
        network,
        cniArgs: podCniArgs(req),
        capabilityArgs: podCapabilityArgs(req),
        ips: [],
      };
      // Pin first so that a crash leaves a trace `recover` can find.
      const loUp = !list.plugins.some((p) => p.type === 'loopback');
      await this.#pins.create(netnsPath, ctx, { loUp }).catch((err: unknown) => {
        throw findCriError(err) ?? new CriError('Internal', `failed to create network namespace for sandbox ${req.sandboxId}`, { cause: err });
      });
      try {
        await writeRecord(this.#opts.cacheDir, rec);
        const result = await addNetworkList(this.#deps, list, runtimeConf(rec, netnsPath), ctx);
        rec = { ...rec, state: 'attached', result, ips: podIps(result) };
        await writeRecord(this.#opts.cacheDir, rec);
      } catch (err) {
        // CNI spec: DEL must follow a failed ADD; it releases what the chain
        // allocated before failing (notably the IP) and removes the netns.
        await this.#teardown(req.sandboxId, rec, cleanupCtx(), { unpinOnError: true }).catch((e: unknown) =>
          log.error({ err: e, sandboxId: req.sandboxId }, 'failed to clean up after a failed CNI ADD'),
        );
        // A kubelet timeout aborts the chain; say so rather than blaming a plugin.
        const code = !ctx.signal.aborted ? 'Internal' : (ctx.signal.reason as Error | undefined)?.name === 'TimeoutError' ? 'DeadlineExceeded' : 'Canceled';
        throw new CriError(code, `failed to set up pod network "${list.name}" for sandbox ${req.sandboxId}: ${describeError(err)}`, {
          cause: err,
        });
      }
      log.debug({ sandboxId: req.sandboxId, ips: rec.ips, ms: this.#clock.nowMs() - started }, 'CNI attached');
      return toPodNetwork(rec);
    });
  }

  /**
   * DEL and unpin. Idempotent: succeeds when nothing is attached, when the
   * namespace is gone (DEL then skips in-netns cleanup) and when the record
   * is gone (DEL then runs the current default config, as libcni does
   * without a cached result).
   */
  async detach(sandboxId: string, ctx: Ctx): Promise<void> {
    checkId(sandboxId);
    await this.#mutex.run(sandboxId, async () => {
      const rec = await readRecord(this.#opts.cacheDir, sandboxId);
      await this.#teardown(sandboxId, rec, ctx);
    });
  }

  /** CNI CHECK with the cached result; a no-op for configs that do not support it. */
  async check(sandboxId: string, ctx: Ctx): Promise<void> {
    checkId(sandboxId);
    await this.#mutex.run(sandboxId, async () => {
      const rec = await readRecord(this.#opts.cacheDir, sandboxId);
      if (rec?.state !== 'attached') throw new CriError('NotFound', `failed to check pod network: sandbox ${sandboxId} has no network`);
      if (!(await isPinned(rec.netnsPath))) {
        throw new CriError('FailedPrecondition', `failed to check pod network: network namespace ${rec.netnsPath} is gone`);
      }
      try {
        await checkNetworkList(this.#deps, toList(rec), runtimeConf(rec, rec.netnsPath), rec.result, ctx);
      } catch (err) {
        throw new CriError('Internal', `failed to check pod network "${rec.network.name}" for sandbox ${sandboxId}`, { cause: err });
      }
    });
  }

  /** The sandbox's network from its record; `undefined` when it has none. */
  async network(sandboxId: string): Promise<PodNetwork | undefined> {
    if (!VALID_ID.test(sandboxId)) return undefined;
    const rec = await readRecord(this.#opts.cacheDir, sandboxId);
    return rec?.state === 'attached' ? toPodNetwork(rec) : undefined;
  }

  /**
   * Keeps the networks of `knownSandboxIds` and tears down everything else
   * this isolator can attribute: records of unknown or half-attached
   * sandboxes, namespace pins without a record, and host-local leases held by
   * ids nobody knows (a sandbox stopped while the daemon was down, or a
   * crash between ADD and the record). Failures are logged, not thrown, so
   * one stuck sandbox cannot block the daemon's start; the next `recover`
   * retries them.
   */
  async recover(knownSandboxIds: ReadonlySet<string>, ctx: Ctx): Promise<void> {
    const kept = new Set<string>();
    // What this instance made: its own records and pins (both under its own
    // dirs). Only leases of these ids are ever released here.
    const owned = new Set<string>();
    const attempt = async (id: string, what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await this.#mutex.run(id, fn);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        log.warn({ err, sandboxId: id }, `failed to clean up ${what}`);
      }
    };
    await removeStaleTemps(recordsDir(this.#opts.cacheDir));
    for (const id of await listRecordIds(this.#opts.cacheDir)) {
      if (!VALID_ID.test(id)) continue;
      owned.add(id);
      let rec: NetworkRecord | undefined;
      try {
        rec = await readRecord(this.#opts.cacheDir, id);
      } catch (err) {
        // Fail safe: a record we cannot read is left, and so is its network.
        log.error({ err, sandboxId: id }, 'leaving untouched a pod network whose record cannot be read');
        kept.add(id);
        continue;
      }
      if (rec && rec.state === 'attached' && knownSandboxIds.has(id)) {
        kept.add(id);
        if (!(await isPinned(rec.netnsPath))) log.warn({ sandboxId: id, netns: rec.netnsPath }, 'network namespace of a known sandbox is gone');
        continue;
      }
      await attempt(id, 'orphaned pod network', () => this.#teardown(id, rec, ctx));
    }
    for (const id of await this.#pins.list(this.#opts.netnsDir)) {
      if (kept.has(id) || !VALID_ID.test(id)) continue;
      owned.add(id);
      if (knownSandboxIds.has(id)) {
        log.warn({ sandboxId: id }, 'keeping the network namespace of a known sandbox that has no network record');
        continue;
      }
      await attempt(id, 'orphaned network namespace', () => this.#teardown(id, undefined, ctx));
    }
    if (this.#opts.releaseOrphanLeases ?? true) await this.#releaseOrphanLeases(new Set([...knownSandboxIds, ...kept]), owned, attempt, ctx);
  }

  /**
   * Leases left in host-local's store by sandboxes of ours that are gone
   * (their DEL ran with another config, or failed after the record went).
   * The store is shared with every runtime on the node that uses the same
   * network (containerd during a migration, a second instance): a lease is
   * released only when its container id is one this instance's own records
   * or pins name, never because it is "not known to me".
   */
  async #releaseOrphanLeases(
    known: ReadonlySet<string>,
    owned: ReadonlySet<string>,
    attempt: (id: string, what: string, fn: () => Promise<void>) => Promise<void>,
    ctx: Ctx,
  ): Promise<void> {
    for (const list of this.#loader.current().byName.values()) {
      const done = new Set<string>();
      for (const store of hostLocalStores(list)) {
        for (const lease of await readLeases(store)) {
          const key = `${lease.containerId}/${lease.ifName}`;
          if (known.has(lease.containerId) || done.has(key)) continue;
          if (!owned.has(lease.containerId)) {
            log.debug({ network: list.name, ip: lease.ip, containerId: lease.containerId }, 'leaving an IP lease this instance did not allocate');
            continue;
          }
          done.add(key);
          log.info({ network: list.name, ip: lease.ip, containerId: lease.containerId }, 'releasing orphaned IP lease');
          const rt: RuntimeConf = { containerId: lease.containerId, netns: '', ifName: lease.ifName, cniArgs: [['IgnoreUnknown', '1']], capabilityArgs: {} };
          await attempt(lease.containerId, 'orphaned IP lease', () => delNetworkList(this.#deps, list, rt, undefined, ctx));
        }
      }
    }
  }

  /**
   * DEL (with the record's config, else the current default config) and
   * unpin. The record goes only after DEL succeeded, so a failed DEL is
   * retried by the next `detach` or `recover`. A failed DEL normally keeps
   * the namespace too (the retry may need to clean up inside it);
   * `unpinOnError` drops it anyway, for a sandbox that never came up.
   */
  async #teardown(sandboxId: string, rec: NetworkRecord | undefined, ctx: Ctx, opts: { unpinOnError?: boolean } = {}): Promise<void> {
    const netnsPath = rec?.netnsPath ?? netnsPin(this.#opts.netnsDir, sandboxId);
    const pinned = await isPinned(netnsPath);
    const list = rec ? toList(rec) : pinned ? this.#loader.current().primary : undefined;
    if (list) {
      const rt: RuntimeConf = rec
        ? runtimeConf(rec, pinned ? netnsPath : '')
        : { containerId: sandboxId, netns: netnsPath, ifName: POD_IFNAME, cniArgs: [['IgnoreUnknown', '1']], capabilityArgs: {} };
      const started = this.#clock.nowMs();
      try {
        await delNetworkList(this.#deps, list, rt, rec?.result, ctx);
      } catch (err) {
        if (opts.unpinOnError) await this.#pins.remove(netnsPath, cleanupCtx()).catch(() => undefined);
        throw new CriError('Internal', `failed to tear down pod network "${list.name}" for sandbox ${sandboxId}: ${describeError(err)}`, {
          cause: err,
        });
      }
      log.debug({ sandboxId, ms: this.#clock.nowMs() - started }, 'CNI detached');
    }
    try {
      await this.#pins.remove(netnsPath, ctx);
    } catch (err) {
      throw new CriError('Internal', `failed to remove network namespace ${netnsPath}`, { cause: err });
    }
    await removeRecord(this.#opts.cacheDir, sandboxId);
  }

  #noConfigMessage(loaded: LoadedConfigs): string {
    const why = loaded.dirError ?? loaded.skipped.map((s) => `${s.file}: ${s.reason}`).join('; ');
    return `no valid CNI network config found in ${this.#opts.confDir}${why ? ` (${why})` : ''}`;
  }
}

function checkId(id: string): void {
  if (!VALID_ID.test(id)) throw new CriError('InvalidArgument', `failed to use sandbox id "${id}": not a valid CNI container id`);
}

const toList = (rec: NetworkRecord): NetworkConfigList => ({ source: rec.network.source ?? '', ...rec.network });

const runtimeConf = (rec: NetworkRecord, netns: string): RuntimeConf => ({
  containerId: rec.sandboxId,
  netns,
  ifName: rec.ifName,
  cniArgs: rec.cniArgs,
  capabilityArgs: rec.capabilityArgs,
});

const toPodNetwork = (rec: NetworkRecord): PodNetwork => ({
  sandboxId: rec.sandboxId,
  netnsPath: rec.netnsPath,
  ips: [...rec.ips],
  networkName: rec.network.name,
});
