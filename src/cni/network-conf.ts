/**
 * CNI network configuration: parsing and validating `.conf` (one plugin) and
 * `.conflist` files (CNI spec "Network configuration lists"). A single
 * plugin config is lifted into a list of one, as libcni's
 * `ConfListFromConf` does, so the rest of the isolator sees only lists.
 */

/** A plugin object as written in the file; unknown keys pass through to the plugin. */
export type PluginConf = Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> };

export interface NetworkConfigList {
  readonly name: string;
  readonly cniVersion: string;
  readonly disableCheck: boolean;
  readonly plugins: readonly PluginConf[];
  /** The file it came from, for messages. */
  readonly source: string;
}

/** Versions whose result format the isolator parses (0.3.0 introduced `interfaces`). */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

/** CHECK and the cached `prevResult` on DEL exist from 0.4.0 on. */
export const supportsCheck = (version: string): boolean => version === '0.4.0' || version === '1.0.0';

export const CONFIG_EXTENSIONS: readonly string[] = ['.conf', '.conflist', '.json'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkPlugin(p: unknown, where: string): PluginConf {
  if (!isObject(p)) throw new Error(`${where} is not an object`);
  if (typeof p.type !== 'string' || p.type === '') throw new Error(`${where} has no "type"`);
  // A plugin type becomes a path under the bin dirs: it must be a bare name.
  if (p.type.includes('/') || p.type === '.' || p.type === '..') throw new Error(`${where} has an invalid type "${p.type}"`);
  if (p.capabilities !== undefined && !isObject(p.capabilities)) throw new Error(`${where} has invalid "capabilities"`);
  return p as PluginConf;
}

function checkVersion(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new Error('missing "cniVersion"');
  if (!SUPPORTED_VERSIONS.includes(v)) {
    throw new Error(`unsupported cniVersion "${v}" (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  return v;
}

function checkName(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new Error('missing "name"');
  // The name becomes part of host-local's lease path.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v)) throw new Error(`invalid network name "${v}"`);
  return v;
}

/**
 * Parses one file's text. `.conflist` holds a list; `.conf` and `.json`
 * hold either one plugin or, as libcni tolerates for `.json`, a list.
 * Throws with the reason the file is unusable.
 */
export function parseNetworkConfig(text: string, source: string): NetworkConfigList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new Error('not a JSON object');
  const cniVersion = checkVersion(raw.cniVersion);
  const name = checkName(raw.name);
  if (source.endsWith('.conflist') || Array.isArray(raw.plugins)) {
    if (!Array.isArray(raw.plugins) || raw.plugins.length === 0) throw new Error('no "plugins"');
    const plugins = raw.plugins.map((p, i) => checkPlugin(p, `plugin ${i}`));
    return { name, cniVersion, disableCheck: raw.disableCheck === true, plugins, source };
  }
  return { name, cniVersion, disableCheck: false, plugins: [checkPlugin(raw, 'plugin')], source };
}
