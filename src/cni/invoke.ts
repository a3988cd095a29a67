import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../common/ctx';
import type { Exec } from '../common/exec';
import type { NetworkConfigList, PluginConf } from './network-conf';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** What the runtime tells every plugin of one chain invocation (CNI spec "Parameters"). */
export interface RuntimeConf {
  readonly containerId: string;
  /** Empty on DEL when the namespace is already gone: plugins then skip in-netns cleanup. */
  readonly netns: string;
  readonly ifName: string;
  readonly cniArgs: ReadonlyArray<readonly [string, string]>;
  /** Keyed by capability name; only those a plugin declares reach it. */
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
}

/** A plugin's failure, carrying the CNI error code and its own message. */
export class CniPluginError extends Error {
  constructor(
    readonly pluginType: string,
    readonly command: CniCommand,
    readonly cniCode: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(`plugin type="${pluginType}" failed (${command.toLowerCase()}): ${msg}${details ? `; ${details}` : ''}`);
    this.name = 'CniPluginError';
  }
}

export async function findPlugin(type: string, binDirs: readonly string[]): Promise<string> {
  for (const dir of binDirs) {
    const file = join(dir, type);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // Not in this dir; keep searching the path.
    }
  }
  throw new Error(`failed to find plugin "${type}" in path [${binDirs.join(' ')}]`);
}

/**
 * The stdin config of one plugin in a chain, as libcni `buildOneConfig`:
 * the plugin object with the list's `name` and `cniVersion`, the previous
 * result, and `runtimeConfig` holding only the capabilities it declares.
 */
export function pluginStdin(list: NetworkConfigList, plugin: PluginConf, rt: RuntimeConf, prevResult?: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  else delete conf.prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on === true && rt.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  return conf;
}

export const cniArgsString = (args: RuntimeConf['cniArgs']): string => args.map(([k, v]) => `${k}=${v}`).join(';');

function parseError(type: string, command: CniCommand, stdout: string, stderr: string, exitCode: number): CniPluginError {
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.msg === 'string' || typeof e.code === 'number') {
      return new CniPluginError(
        type,
        command,
        typeof e.code === 'number' ? e.code : 0,
        typeof e.msg === 'string' ? e.msg : '',
        typeof e.details === 'string' ? e.details : '',
      );
    }
  } catch {
    // Not a CNI error object; fall back to whatever the plugin printed.
  }
  const text = (stderr.trim() || stdout.trim() || `exited ${exitCode}`).slice(0, 2000);
  return new CniPluginError(type, command, 0, text);
}

export interface InvokeDeps {
  readonly exec: Exec;
  readonly binDirs: readonly string[];
}

/**
 * Runs one plugin (CNI spec "Execution"): parameters in the environment on
 * top of ours, config on stdin, result or error on stdout. Returns the parsed
 * result for ADD, `undefined` otherwise.
 */
export async function invokePlugin(
  deps: InvokeDeps,
  command: CniCommand,
  list: NetworkConfigList,
  plugin: PluginConf,
  rt: RuntimeConf,
  prevResult: unknown,
  ctx: Ctx,
): Promise<unknown> {
  const file = await findPlugin(plugin.type, deps.binDirs);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_ARGS: cniArgsString(rt.cniArgs),
    CNI_PATH: deps.binDirs.join(':'),
  };
  const input = JSON.stringify(pluginStdin(list, plugin, rt, prevResult));
  const res = await deps.exec(file, [], ctx, { input, env, check: false });
  const stdout = res.stdout.toString();
  if (res.code !== 0 || res.signal) {
    throw parseError(plugin.type, command, stdout, res.stderr.toString(), res.signal ? -1 : res.code);
  }
  if (command !== 'ADD') return undefined;
  let result: unknown;
  try {
    result = JSON.parse(stdout);
  } catch (err) {
    throw new CniPluginError(plugin.type, command, 6, `invalid result JSON: ${(err as Error).message}`);
  }
  if (typeof result !== 'object' || result === null) throw new CniPluginError(plugin.type, command, 6, 'result is not an object');
  return result;
}
