import type { Ctx } from '../common/ctx';
import { log } from '../common/log';
import { timeCni } from '../common/metrics';
import { supportsCheck, type NetworkConfigList } from './network-conf';
import { findPlugin, invokePlugin, type InvokeDeps, type RuntimeConf } from './invoke';

/**
 * Chained execution of a config list (CNI spec "Network configuration list
 * runtime semantics", libcni `AddNetworkList`/`DelNetworkList`/`CheckNetworkList`).
 */

/** ADD runs the plugins in order, each receiving the previous result; the first error halts the chain. */
export function addNetworkList(deps: InvokeDeps, list: NetworkConfigList, rt: RuntimeConf, ctx: Ctx): Promise<unknown> {
  return timeCni('add', async () => {
    let prev: unknown;
    for (const plugin of list.plugins) {
      prev = await invokePlugin(deps, 'ADD', list, plugin, rt, prev, ctx);
    }
    return prev;
  });
}

/**
 * DEL runs the plugins in reverse with the cached result (0.4.0+).
 *
 * NOTE: unlike libcni, a failing plugin does not stop the others: teardown
 * is best effort so that one broken meta plugin cannot leak the IP lease the
 * IPAM plugin holds. The first error is still thrown, so the caller keeps its
 * record and retries. A plugin binary that does not exist cannot hold
 * anything, so its absence is not an error here.
 */
export async function delNetworkList(
  deps: InvokeDeps,
  list: NetworkConfigList,
  rt: RuntimeConf,
  cachedResult: unknown,
  ctx: Ctx,
): Promise<void> {
  return timeCni('del', () => delChain(deps, list, rt, cachedResult, ctx));
}

async function delChain(deps: InvokeDeps, list: NetworkConfigList, rt: RuntimeConf, cachedResult: unknown, ctx: Ctx): Promise<void> {
  const prev = supportsCheck(list.cniVersion) ? cachedResult : undefined;
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await findPlugin(plugin.type, deps.binDirs);
    } catch (err) {
      log.warn({ err, network: list.name, containerId: rt.containerId }, 'CNI DEL skips a plugin that is not installed');
      continue;
    }
    try {
      await invokePlugin(deps, 'DEL', list, plugin, rt, prev, ctx);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/**
 * CHECK runs the plugins in order with the cached result. Configs older than
 * 0.4.0 or with `disableCheck` have nothing to check: returns `false`.
 */
export async function checkNetworkList(
  deps: InvokeDeps,
  list: NetworkConfigList,
  rt: RuntimeConf,
  cachedResult: unknown,
  ctx: Ctx,
): Promise<boolean> {
  if (!supportsCheck(list.cniVersion) || list.disableCheck) return false;
  return timeCni('check', async () => {
    for (const plugin of list.plugins) {
      await invokePlugin(deps, 'CHECK', list, plugin, rt, cachedResult, ctx);
    }
    return true;
  });
}
