import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateDirs, startOwnDaemon } from './own-daemon';

/**
 * Issue 16 (cluster-wide install): scripts/build-installer-image.sh really builds the
 * installer image with umoci (about 5 s); the test reads its config and layer, then runs
 * its entrypoint as a container (runc, the node's root replaced by a scratch directory
 * bind-mounted at /host) and starts the daemon it installed there.
 */
const REPO = join(__dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}
interface ImageConfig {
  architecture: string;
  os: string;
  config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; Labels?: Record<string, string> };
  rootfs: { diff_ids: string[] };
}

let work: string;
let layout: string;

const blob = (d: Pick<Descriptor, 'digest'>): Buffer => readFileSync(join(layout, 'blobs', 'sha256', d.digest.slice('sha256:'.length)));
const json = <T>(d: Pick<Descriptor, 'digest'>): T => JSON.parse(blob(d).toString('utf8')) as T;

interface LayerEntry {
  type: string;
  mode: number;
  data?: Buffer;
}

async function readLayer(gz: Buffer, keep: (name: string) => boolean): Promise<Map<string, LayerEntry>> {
  const out = new Map<string, LayerEntry>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const name = entry.header.name.replace(/^\.?\//, '');
      const chunks: Buffer[] = [];
      for await (const c of entry) if (keep(name)) chunks.push(c as Buffer);
      out.set(name, { type: entry.header.type ?? 'file', mode: entry.header.mode ?? 0, ...(keep(name) ? { data: Buffer.concat(chunks) } : {}) });
    }
  })();
  ex.end(gunzipSync(gz));
  await done;
  return out;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mcri-installer-image-'));
  layout = join(work, 'oci');
  const out = execFileSync('bash', [join(REPO, 'scripts', 'build-installer-image.sh'), layout], { encoding: 'utf8', timeout: 120_000 });
  expect(out.trim().split('\n').pop()).toBe(`${layout}:${VERSION}`);
}, 150_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installer image', () => {
  it('has the entrypoint, env and one layer holding Node, the daemon, the helpers and the unit', async () => {
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<Descriptor & { annotations?: Record<string, string> }> };
    const m = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === VERSION);
    expect(m).toBeDefined();
    const manifest = json<{ config: Descriptor; layers: Descriptor[] }>(m!);
    const config = json<ImageConfig>(manifest.config);
    expect(config.os).toBe('linux');
    expect(config.architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(config.config.Entrypoint).toEqual(['/opt/mesos-cri/bin/node', '/opt/mesos-cri/installer/install.js']);
    expect(config.config.Cmd).toEqual(['install']);
    expect(config.config.Env).toContain('MESOS_CRI_HOST_ROOT=/host');
    expect(config.config.Labels?.['org.opencontainers.image.version']).toBe(VERSION);
    expect(manifest.layers).toHaveLength(1);
    // A stock image tool reads the layout as the README's `skopeo copy` would.
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layout}:${VERSION}`], { encoding: 'utf8' })) as { Layers: string[]; Env: string[] };
    expect(inspected.Layers).toEqual([manifest.layers[0]!.digest]);
    expect(inspected.Env).toContain('MESOS_CRI_HOST_ROOT=/host');
    expect(manifest.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');

    const keep = (n: string): boolean => n === 'opt/mesos-cri/installer/install.js' || n === 'opt/mesos-cri/share/mesos-cri.service' || n === 'opt/mesos-cri/bin/mesos-cri';
    const layer = await readLayer(blob(manifest.layers[0]!), keep);
    const entry = (n: string): LayerEntry => {
      const e = layer.get(n);
      if (!e) throw new Error(`${n} is not in the layer`);
      return e;
    };
    expect(entry('opt/mesos-cri/installer/install.js').data!.equals(readFileSync(join(REPO, 'packaging', 'installer', 'install.js')))).toBe(true);
    expect(entry('opt/mesos-cri/installer/install.js').mode & 0o777).toBe(0o755);
    expect(entry('opt/mesos-cri/bin/node').mode & 0o777).toBe(0o755);
    expect(entry('opt/mesos-cri/bin/mesos-cri').data!.toString()).toContain('${MESOS_CRI_NODE:-$here/node}');
    expect(entry('opt/mesos-cri/dist/src/main.js').mode & 0o777).toBe(0o755);
    for (const h of ['mesos-cri-exec', 'mesos-cri-spawn', 'mesos-cri-unpack']) expect(entry(`opt/mesos-cri/native/bin/${h}`).mode & 0o777).toBe(0o755);
    expect(entry('opt/mesos-cri/share/mesos-cri.service').data!.toString()).toMatch(/^ExecStart=\/opt\/mesos-cri\/bin\/mesos-cri --config \/etc\/mesos-cri\/config.yaml$/m);
    for (const f of ['config.yaml', '10-mesos-cri.conflist', 'crictl.yaml', 'kubelet-config.yaml']) entry(`opt/mesos-cri/share/${f}`);
    entry('opt/mesos-cri/node_modules/@grpc/grpc-js/package.json');
    entry('opt/mesos-cri/cri/api.proto');
    entry('usr/bin/nsenter');
    expect([...layer.keys()].some((n) => /^lib(64|\/.*)\/ld-linux[^/]*\.so\.\d$/.test(n))).toBe(true);
    // Production packages only; the daemon without its tests and source maps.
    for (const n of layer.keys()) {
      expect(n).not.toMatch(/^opt\/mesos-cri\/node_modules\/(vitest|typescript|@kubernetes)\//);
      expect(n).not.toMatch(/^opt\/mesos-cri\/dist\/.*(\.test\.js|\.js\.map)$/);
    }
    expect([...layer.keys()].filter((n) => n.startsWith('opt/mesos-cri/dist/src/')).length).toBeGreaterThan(50);
  });

  it('runs its entrypoint as a container onto a scratch root, and the daemon it installed starts', async () => {
    const bundle = join(work, 'bundle');
    execFileSync('umoci', ['unpack', '--image', `${layout}:${VERSION}`, bundle], { stdio: 'ignore' });
    const root = join(work, 'node-root');
    mkdirSync(join(root, 'etc', 'mesos-cri'), { recursive: true });
    writeFileSync(join(root, 'etc', 'mesos-cri', 'config.yaml'), 'logLevel: info\n');
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      process: { terminal: boolean; args: string[] };
      mounts: Array<{ destination: string; type: string; source: string; options: string[] }>;
    };
    expect(spec.process.args).toEqual(['/opt/mesos-cri/bin/node', '/opt/mesos-cri/installer/install.js', 'install']);
    spec.process.terminal = false;
    spec.mounts.push({ destination: '/host', type: 'bind', source: root, options: ['rbind', 'rw'] });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const state = join(work, 'runc');
    const r = spawnSync('runc', ['--root', state, 'run', '--bundle', bundle, `mcri-installer-${process.pid}`], { encoding: 'utf8', timeout: 60_000 });
    spawnSync('runc', ['--root', state, 'delete', '--force', `mcri-installer-${process.pid}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kept /etc/mesos-cri/config.yaml');
    expect(r.stdout).toMatch(/mesos-cri-install: \d+ changed, 1 unchanged under \/host/);

    const opt = join(root, 'opt', 'mesos-cri');
    expect(lstatSync(join(opt, 'bin', 'node')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(root, 'etc', 'systemd', 'system', 'mesos-cri.service'), 'utf8')).toContain('ExecStart=/opt/mesos-cri/bin/mesos-cri --config');
    expect(readFileSync(join(root, 'etc', 'mesos-cri', 'config.yaml'), 'utf8')).toBe('logLevel: info\n');
    expect(readdirSync(join(root, 'etc', 'cni', 'net.d'))).toEqual(['10-mesos-cri.conflist']);

    // The installed wrapper, its Node and its packages serve CRI (on private dirs).
    const base = join(work, 'daemon');
    mkdirSync(join(base, 'run'), { recursive: true });
    const d = await startOwnDaemon(base, ['--config', join(root, 'etc', 'mesos-cri', 'config.yaml'), '--cni-conf-dir', join(root, 'etc', 'cni', 'net.d'), ...privateDirs(base)], {
      cmd: [join(opt, 'bin', 'mesos-cri')],
      env: { MESOS_CRI_NODE: '' },
    });
    try {
      const v = await d.runtime.call<{ runtime_name: string; runtime_version: string }>('Version', {});
      expect(v.runtime_name).toBe('mesos-cri');
      expect(v.runtime_version).toBe(VERSION);
      expect(existsSync(join(base, 'run', 'mesos-cri.sock'))).toBe(true);
    } finally {
      await d.cleanup();
    }
  });
});
