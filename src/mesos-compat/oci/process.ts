import { CriError } from '../../common/errors';
import type { ContainerConfig } from '../launch-config';
import type { ImageConfig } from './image-config';

/** The PATH every container starts with (containerd `defaultUnixEnv`). */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const envKey = (entry: string): string => {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
};

/**
 * Layers environment lists the way containerd's `replaceOrAppendEnvValues`
 * does: a later entry replaces an earlier one with the same key in place, new
 * keys are appended, and a bare `KEY` (no `=`) removes it.
 */
export function mergeEnv(...layers: ReadonlyArray<readonly string[]>): string[] {
  const out = new Map<string, string>();
  for (const layer of layers) {
    for (const entry of layer) {
      if (entry === '') continue;
      const key = envKey(entry);
      if (!entry.includes('=')) out.delete(key);
      else out.set(key, entry);
    }
  }
  return [...out.values()];
}

/**
 * The container's environment in containerd's order: PATH, `TERM=xterm`
 * with a tty (as containerd, CRI-O and Docker set it), HOSTNAME, the
 * image's, then the client's (either may replace TERM); HOME from the
 * user's passwd entry when nobody set one (runc would do the same at exec
 * time; doing it here makes the spec complete).
 */
export function buildEnv(opts: {
  hostname: string;
  image: readonly string[];
  client: ReadonlyArray<readonly [string, string]>;
  home: string;
  tty?: boolean;
}): string[] {
  for (const [i, [key]] of opts.client.entries()) {
    if (key === '' || key.includes('=')) {
      throw new CriError('InvalidArgument', `failed to set envs[${i}].key "${key}": must be non-empty and contain no "="`);
    }
  }
  const env = mergeEnv(
    [DEFAULT_PATH, ...(opts.tty ? ['TERM=xterm'] : []), `HOSTNAME=${opts.hostname}`],
    opts.image,
    opts.client.map(([k, v]) => `${k}=${v}`),
  );
  if (!env.some((e) => envKey(e) === 'HOME')) env.push(`HOME=${opts.home}`);
  return env;
}

/**
 * `api.proto`/containerd rule: a CRI `command` replaces the image
 * Entrypoint and drops its Cmd; CRI `args` replace the image Cmd. What is
 * left must not be empty.
 */
export function buildArgs(config: Pick<ContainerConfig, 'command' | 'args'>, image: Pick<ImageConfig, 'entrypoint' | 'cmd'>): string[] {
  const args = config.command.length > 0
    ? [...config.command, ...config.args]
    : [...image.entrypoint, ...(config.args.length > 0 ? config.args : image.cmd)];
  if (args.length === 0) throw new CriError('InvalidArgument', 'failed to build container command: no command specified');
  return args;
}

/** CRI `working_dir`, else the image's, else `/`. */
export function workingDir(config: Pick<ContainerConfig, 'workingDir'>, image: Pick<ImageConfig, 'workingDir'>): string {
  if (config.workingDir !== '') {
    if (!config.workingDir.startsWith('/')) {
      throw new CriError('InvalidArgument', `failed to set working_dir "${config.workingDir}": not an absolute path`);
    }
    return config.workingDir;
  }
  // Docker tolerated relative WorkingDir in old images; anchor it at / like it did.
  if (image.workingDir !== '') return image.workingDir.startsWith('/') ? image.workingDir : `/${image.workingDir}`;
  return '/';
}
