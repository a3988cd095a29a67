import { readdir, readFile, stat } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { CriError, describeError } from '../../common/errors';

// smol-toml ships CommonJS beside its ES module, but its types are the ES module's.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { parse: parseToml } = require('smol-toml') as { parse(text: string): Record<string, unknown> };

/**
 * Per-registry hosts as containerd's `certs.d` (`docs/hosts.md`): a dir
 * per registry host (`<configPath>/<host[:port]>/`, `_default` for any)
 * holding `hosts.toml` and/or Docker-style certificate files (`*.crt` CA
 * bundles, `*.cert` + `*.key` client pairs). Everything is read into memory
 * by `loadHostsDir` (at start and on SIGHUP), so a pull never reads files.
 *
 * `hosts.toml`:
 *   server = "https://registry.example:5000"   # the origin; default https://<host>
 *   ca = "/path/ca.pem"                         # or a list; added to the system CAs
 *   client = [["/path/c.cert", "/path/c.key"]]  # or "c.pem" (cert and key in one), or a list of those
 *   skip_verify = false
 *   [host."https://mirror.example"]             # mirrors, tried in order before the server
 *     capabilities = ["pull", "resolve"]        # default both; "push" is accepted and unused
 *     ca = …; client = …; skip_verify = …       # as above, for this host
 *     override_path = false                     # true: the URL's path replaces /v2
 *     [host."https://mirror.example".header]    # extra request headers
 *       x-key = "value"
 */
export type Capability = 'pull' | 'resolve';

export interface TlsSettings {
  /** PEM CA certificates trusted for this host: the system store plus the configured ones. */
  readonly ca?: readonly string[];
  readonly cert?: string;
  readonly key?: string;
  readonly skipVerify?: boolean;
}

export interface HostEntry {
  /** `https://host[:port]` plus a path when `override_path`. */
  readonly url: string;
  readonly capabilities: readonly Capability[];
  readonly tls?: TlsSettings;
  readonly headers?: Readonly<Record<string, string>>;
  readonly overridePath?: boolean;
}

export interface HostsConfig {
  /** The origin as `server` says (undefined: the registry's default), with the top-level settings. */
  readonly server?: Omit<HostEntry, 'url'> & { readonly url?: string };
  /** Mirrors, in file order. */
  readonly hosts: readonly HostEntry[];
}

export type HostsDir = ReadonlyMap<string, HostsConfig>;

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

let systemCas: readonly string[] | undefined;

/**
 * The system CA store (what Go's `x509.SystemCertPool` reads on Linux), or
 * Node's bundled Mozilla store where the system has none.
 */
export async function systemCaCertificates(): Promise<readonly string[]> {
  if (systemCas) return systemCas;
  for (const file of SYSTEM_BUNDLES) {
    try {
      const pem = await readFile(file, 'utf8');
      const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (certs && certs.length > 0) return (systemCas = certs);
    } catch {
      // next candidate
    }
  }
  return (systemCas = rootCertificates);
}

const bad = (where: string, why: string): never => {
  throw new CriError('InvalidArgument', `invalid registry hosts config ${where}: ${why}`);
};

async function readPem(file: string, where: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    return bad(where, `cannot read ${file}: ${describeError(err)}`);
  }
}

const abs = (dir: string, p: string): string => (p.startsWith('/') ? p : join(dir, p));

async function tlsOf(raw: Record<string, unknown>, dir: string, where: string, base: TlsSettings | undefined): Promise<TlsSettings | undefined> {
  let ca = base?.ca ? [...base.ca] : undefined;
  let cert = base?.cert;
  let key = base?.key;
  let skipVerify = base?.skipVerify;
  if (raw.ca !== undefined) {
    const files = typeof raw.ca === 'string' ? [raw.ca] : Array.isArray(raw.ca) && raw.ca.every((x) => typeof x === 'string') ? (raw.ca as string[]) : bad(where, '"ca" must be a path or a list of paths');
    ca = [...(ca ?? []), ...(await Promise.all(files.map((f) => readPem(abs(dir, f), where))))];
  }
  if (raw.client !== undefined) {
    const c = raw.client;
    const pairs: Array<[string, string | undefined]> =
      typeof c === 'string'
        ? [[c, undefined]]
        : Array.isArray(c)
          ? c.map((p) => (typeof p === 'string' ? [p, undefined] : Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string') ? [p[0], p[1]] : bad(where, '"client" entries must be a path or [cert, key]')) as [string, string | undefined])
          : bad(where, '"client" must be a path, [cert, key] pairs, or a list of those');
    const [certFile, keyFile] = pairs[0] ?? bad(where, '"client" is empty');
    cert = await readPem(abs(dir, certFile), where);
    key = keyFile ? await readPem(abs(dir, keyFile), where) : cert;
  }
  if (raw.skip_verify !== undefined) {
    if (typeof raw.skip_verify !== 'boolean') bad(where, '"skip_verify" must be true or false');
    skipVerify = raw.skip_verify as boolean;
  }
  if (ca === undefined && cert === undefined && skipVerify === undefined) return undefined;
  return { ...(ca ? { ca } : {}), ...(cert ? { cert, key: key! } : {}), ...(skipVerify !== undefined ? { skipVerify } : {}) };
}

function urlOf(s: string, where: string): string {
  let u: URL;
  try {
    u = new URL(s.includes('://') ? s : `https://${s}`);
  } catch {
    return bad(where, `"${s}" is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') bad(where, `"${s}": only http and https`);
  if (u.username || u.password || u.search || u.hash) bad(where, `"${s}": no credentials, query or fragment in a host URL`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

async function entryOf(url: string, raw: Record<string, unknown>, dir: string, where: string, base: TlsSettings | undefined): Promise<HostEntry> {
  let capabilities: Capability[] = ['pull', 'resolve'];
  if (raw.capabilities !== undefined) {
    if (!Array.isArray(raw.capabilities) || raw.capabilities.some((c) => !['pull', 'resolve', 'push'].includes(c as string)))
      bad(where, '"capabilities" must be a list of pull, resolve, push');
    capabilities = (raw.capabilities as string[]).filter((c): c is Capability => c === 'pull' || c === 'resolve');
  }
  let headers: Record<string, string> | undefined;
  if (raw.header !== undefined) {
    if (typeof raw.header !== 'object' || raw.header === null) bad(where, '"header" must be a table');
    headers = {};
    for (const [k, v] of Object.entries(raw.header as Record<string, unknown>)) {
      const val = typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(', ') : bad(where, `header "${k}" must be a string`);
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[\r\n]/.test(val)) bad(where, `header "${k}" is not a valid HTTP header`);
      headers[k.toLowerCase()] = val;
    }
  }
  const tls = await tlsOf(raw, dir, where, base);
  const overridePath = raw.override_path === true;
  const u = new URL(url);
  const path = u.pathname === '/' ? '' : u.pathname;
  return { url: overridePath ? url : `${u.protocol}//${u.host}${path.replace(/\/v2$/, '')}`, capabilities, ...(tls ? { tls } : {}), ...(headers ? { headers } : {}), ...(overridePath ? { overridePath } : {}) };
}

/** Docker-style files of a host dir: `*.crt` CAs, `*.cert`/`*.key` client pairs. */
async function dockerFiles(dir: string, names: readonly string[], where: string): Promise<TlsSettings | undefined> {
  const ca = await Promise.all(names.filter((n) => n.endsWith('.crt')).sort().map((n) => readPem(join(dir, n), where)));
  const certName = names.filter((n) => n.endsWith('.cert')).sort()[0];
  let cert: string | undefined;
  let key: string | undefined;
  if (certName) {
    const keyName = certName.replace(/\.cert$/, '.key');
    if (!names.includes(keyName)) bad(where, `client certificate ${certName} has no ${keyName}`);
    cert = await readPem(join(dir, certName), where);
    key = await readPem(join(dir, keyName), where);
  }
  if (ca.length === 0 && !cert) return undefined;
  return { ...(ca.length ? { ca } : {}), ...(cert ? { cert, key: key! } : {}) };
}

/** Reads one registry's dir; `undefined` when it holds nothing we use. */
export async function loadHostDir(dir: string): Promise<HostsConfig | undefined> {
  const where = dir;
  const names = await readdir(dir);
  const docker = await dockerFiles(dir, names, where);
  let doc: Record<string, unknown> = {};
  if (names.includes('hosts.toml')) {
    try {
      doc = parseToml(await readFile(join(dir, 'hosts.toml'), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      bad(join(dir, 'hosts.toml'), `not valid TOML: ${describeError(err)}`);
    }
  } else if (!docker) return undefined;
  const file = names.includes('hosts.toml') ? join(dir, 'hosts.toml') : dir;
  const serverUrl = typeof doc.server === 'string' ? urlOf(doc.server, file) : doc.server === undefined ? undefined : bad(file, '"server" must be a URL');
  const server = await entryOf(serverUrl ?? 'https://origin.invalid', doc, dir, file, docker);
  const hosts: HostEntry[] = [];
  const table = doc.host;
  if (table !== undefined) {
    if (typeof table !== 'object' || table === null) bad(file, '"host" must be a table of URLs');
    for (const [url, raw] of Object.entries(table as Record<string, unknown>)) {
      if (typeof raw !== 'object' || raw === null) bad(file, `host "${url}" must be a table`);
      hosts.push(await entryOf(urlOf(url, file), raw as Record<string, unknown>, dir, `${file} host "${url}"`, undefined));
    }
  }
  const { url: _ignored, ...settings } = server;
  return { server: serverUrl !== undefined ? server : settings, hosts };
}

/** Reads every registry dir under `configPath`; an absent dir means no per-host settings. */
export async function loadHostsDir(configPath: string): Promise<HostsDir> {
  const out = new Map<string, HostsConfig>();
  if (!configPath) return out;
  let names: string[];
  try {
    names = await readdir(configPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new CriError('InvalidArgument', `invalid registry hosts config ${configPath}: ${describeError(err)}`);
  }
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const dir = join(configPath, name);
    if (!(await stat(dir)).isDirectory()) continue;
    const cfg = await loadHostDir(dir);
    if (cfg) out.set(name, cfg);
  }
  return out;
}

/** The dir that configures `host`: its exact name, else `_default` (containerd's lookup). */
export function hostsFor(dir: HostsDir, host: string): HostsConfig | undefined {
  return dir.get(host) ?? dir.get('_default');
}
