import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, buildLayer, busyboxEntries, pushImage, type BuiltLayer, type ImageOptions, type TarEntry } from '../../support/images';
import type { TestRegistry } from '../../support/registry';

/**
 * The images the differential suite runs, all built here from Debian's
 * static busybox plus the probe (`probe/probe.c`, compiled static at suite
 * start) and pushed to the loopback registry. They share layers; each adds
 * what its cases need: users and groups, an image User, env, working dir,
 * volumes, an entrypoint.
 */

export const PROBE_SOURCE = join(__dirname, '..', 'probe', 'probe.c');

/** Compiles the probe into `dir` and returns the binary. */
export function buildProbe(dir: string): Buffer {
  const out = join(dir, 'probe');
  // The source lives beside the .ts files, also when this runs compiled from dist/.
  const src = PROBE_SOURCE.replace(/\/dist\/e2e\//, '/e2e/');
  execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', '-static', '-o', out, src], { stdio: 'pipe' });
  return readFileSync(out);
}

/** Users and groups of the `users` images: memberships, a user without a home, root in a group. */
export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'other:x:1001:1001::/home/other:/bin/sh',
  'nohome:x:1002:1002::/nonexistent:/bin/sh',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
  '',
].join('\n');
export const GROUP = [
  'root:x:0:',
  'wheel:x:10:root,app',
  'audio:x:29:app',
  'app:x:1000:',
  'other:x:1001:',
  'extra:x:2000:app,other',
  'nogroup:x:65534:',
  '',
].join('\n');

/** The `volumes` image's VOLUMEs: one with content, one owned by a user, one the image lacks. */
export const IMAGE_VOLUMES = ['/vol', '/owned', '/fresh/vol'] as const;

export type ImageName = 'probe' | 'users' | 'user-app' | 'user-ids' | 'user-names' | 'user-unknown' | 'env' | 'entrypoint' | 'volumes';

export interface PushedImages {
  /** Pullable reference of each image (`127.0.0.1:PORT/diff/<name>:1`). */
  readonly refs: Readonly<Record<ImageName, string>>;
  /** The probe image again under a second tag and by digest, for image-name cases. */
  readonly probeAlias: string;
  readonly probeDigestRef: string;
  /** The probe image's id (its config digest): what kubelet creates containers with. */
  readonly probeId: string;
}

export async function pushDiffImages(reg: TestRegistry, probe: Buffer): Promise<PushedImages> {
  const base = await buildLayer(busyboxEntries());
  const probeLayer = await buildLayer([{ name: 'probe', content: probe, mode: 0o755 }]);
  const etc = await buildLayer([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', content: PASSWD },
    { name: 'etc/group', content: GROUP },
    { name: 'home/', type: 'directory' },
    { name: 'home/app/', type: 'directory', uid: 1000, gid: 1000 },
  ]);
  const vol = await buildLayer([
    { name: 'vol/', type: 'directory', mode: 0o755 },
    { name: 'vol/seed', content: 'from the image\n' },
    { name: 'owned/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
  ]);
  const cmd = ['/probe'];
  const plain = [base, probeLayer];
  const users = [base, probeLayer, etc];
  const specs: Record<ImageName, { layers: BuiltLayer[]; opts: ImageOptions }> = {
    probe: { layers: plain, opts: { cmd } },
    users: { layers: users, opts: { cmd } },
    'user-app': { layers: users, opts: { cmd, user: 'app' } },
    'user-ids': { layers: users, opts: { cmd, user: '1001:2000' } },
    'user-names': { layers: users, opts: { cmd, user: 'other:extra' } },
    'user-unknown': { layers: users, opts: { cmd, user: '4321' } },
    env: {
      layers: users,
      opts: { cmd, env: ['PATH=/custom/bin:/bin', 'TERM=vt100', 'FROM_IMAGE=1', 'HOME=/image-home'], workingDir: '/work/dir' },
    },
    entrypoint: { layers: plain, opts: { entrypoint: ['/probe', 'from-entrypoint'], cmd: ['from-cmd'] } },
    volumes: { layers: [base, probeLayer, vol], opts: { cmd, volumes: [...IMAGE_VOLUMES] } },
  };
  const refs = {} as Record<ImageName, string>;
  let probeId = '';
  let probeDigestRef = '';
  for (const [name, s] of Object.entries(specs) as Array<[ImageName, (typeof specs)[ImageName]]>) {
    const pushed = await pushImage(reg, `diff/${name}:1`, buildImage(s.layers, s.opts));
    refs[name] = pushed.ref;
    if (name === 'probe') {
      probeId = pushed.configDigest;
      probeDigestRef = `${reg.host}/diff/probe@${pushed.manifestDigest}`;
    }
  }
  const alias = await pushImage(reg, 'diff/probe:alias', buildImage(plain, { cmd }));
  return { refs, probeAlias: alias.ref, probeDigestRef, probeId };
}

export type { TarEntry };
