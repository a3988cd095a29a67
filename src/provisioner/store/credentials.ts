import { readFile } from 'node:fs/promises';
import { CriError, describeError } from '../../common/errors';
import type { AuthConfig } from '../types';

/**
 * Credentials from a file in Docker `config.json` / containers `auth.json`
 * format (`{"auths": {"<registry>[/<namespace>…]": {"auth": base64(user:pass)}}}`,
 * also `username`/`password`, `identitytoken`, `registrytoken`), used for a
 * pull whose request carries none (CRI-O `global_auth_file`). The most
 * specific key wins: `host/ns/repo`, then `host/ns`, then `host`; keys may
 * carry a scheme and Docker Hub's `https://index.docker.io/v1/`. Read on
 * each pull that needs it, so edits apply without a reload.
 */
interface Entry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

function normalizeKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (k === 'index.docker.io/v1' || k === 'index.docker.io' || k === 'registry-1.docker.io') k = 'docker.io';
  return k;
}

export async function credentialsFromFile(file: string, domain: string, repoPath: string): Promise<AuthConfig | undefined> {
  if (!file) return undefined;
  let doc: { auths?: Record<string, Entry> };
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as typeof doc;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CriError('FailedPrecondition', `failed to read registry credentials file ${file}: ${describeError(err)}`);
  }
  const auths = doc && typeof doc === 'object' && doc.auths && typeof doc.auths === 'object' ? doc.auths : {};
  const byKey = new Map(Object.entries(auths).map(([k, v]) => [normalizeKey(k), v]));
  const parts = repoPath.split('/');
  for (let n = parts.length; n >= 0; n--) {
    const key = [domain, ...parts.slice(0, n)].join('/');
    const e = byKey.get(key);
    if (!e || typeof e !== 'object') continue;
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const out: AuthConfig = {};
    if (str(e.auth)) out.auth = str(e.auth)!;
    if (str(e.username)) out.username = str(e.username)!;
    if (str(e.password)) out.password = str(e.password)!;
    if (str(e.identitytoken)) out.identityToken = str(e.identitytoken)!;
    if (str(e.registrytoken)) out.registryToken = str(e.registrytoken)!;
    return Object.keys(out).length ? out : undefined;
  }
  return undefined;
}
