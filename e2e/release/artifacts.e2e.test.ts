import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../support/build';
import { privateBase, privateDirs, startOwnDaemon, type OwnDaemon } from './own-daemon';

/**
 * Issue 16: the release artifacts an operator installs without git: the npm
 * package (bin and native helpers built by its install script) and the .deb
 * (unpacked into a fresh root with dpkg -x, started from there, asked for
 * its Version by the stock crictl).
 */
const CRICTL = join(ROOT, '..', 'shared', 'bin', 'crictl');
const out = mkdtempSync(join(tmpdir(), 'mcri16-release-'));
let d: OwnDaemon | undefined;
afterAll(async () => {
  await d?.cleanup();
  rmSync(out, { recursive: true, force: true });
});

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}): string => execFileSync(cmd, args, { encoding: 'utf8', timeout: 240_000, ...opts }).trim();

describe('release artifacts', () => {
  it('npm pack: installs with the mesos-cri bin and builds the native helpers at install', () => {
    ensureBuilt();
    const tgz = run('bash', [join(ROOT, 'scripts', 'pack.sh'), join(out, 'npm')]);
    const files = run('tar', ['tzf', tgz]).split('\n');
    expect(files).toContain('package/dist/src/main.js');
    expect(files).toContain('package/cri/api.proto');
    expect(files).toContain('package/native/mesos-cri-exec.c');
    expect(files.some((f) => f.includes('native/bin/'))).toBe(false);
    expect(files.some((f) => /\.test\.js$/.test(f) || f.startsWith('package/dist/e2e'))).toBe(false);
    const prefix = join(out, 'prefix');
    mkdirSync(prefix);
    run('npm', ['install', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tgz]);
    const installed = join(prefix, 'node_modules', 'mesos-cri');
    expect(statSync(join(installed, 'native', 'bin', 'mesos-cri-exec')).mode & 0o111).not.toBe(0);
    expect(run(join(prefix, 'node_modules', '.bin', 'mesos-cri'), ['--version'])).toMatch(/^mesos-cri \d+\.\d+\.\d+$/);
  }, 240_000);

  it('.deb: declares its dependencies, unpacks into a fresh root, and serves crictl from there', async () => {
    const deb = run('bash', [join(ROOT, 'scripts', 'build-deb.sh'), join(out, 'deb')]);
    expect(run('dpkg-deb', ['-f', deb, 'Depends'])).toBe('runc | crun, conmon, catatonit, containernetworking-plugins, nodejs (>= 20), iproute2, iptables, libarchive13');
    expect(run('dpkg-deb', ['-f', deb, 'Package'])).toBe('mesos-cri');
    // No maintainer scripts: installing starts, stops and enables nothing.
    const control = run('dpkg-deb', ['-I', deb]);
    expect(control).not.toMatch(/postinst|preinst|prerm|postrm/);
    expect(run('bash', ['-c', `dpkg-deb --ctrl-tarfile "${deb}" | tar xO ./conffiles`])).toBe('/etc/mesos-cri/config.yaml');

    const root = join(out, 'root');
    mkdirSync(root);
    run('dpkg', ['-x', deb, root]);
    for (const f of ['lib/systemd/system/mesos-cri.service', 'etc/mesos-cri/config.yaml', 'usr/share/mesos-cri/10-mesos-cri.conflist', 'usr/lib/mesos-cri/native/bin/mesos-cri-exec']) {
      expect(existsSync(join(root, f)), f).toBe(true);
    }
    expect(existsSync(join(root, 'etc/cni/net.d'))).toBe(false);
    expect(existsSync(join(root, 'usr/lib/mesos-cri/node_modules/vitest'))).toBe(false);
    expect(readFileSync(join(root, 'usr/bin/mesos-cri'), 'utf8')).toContain('exec "${MESOS_CRI_NODE:-node}"');

    // Started as /usr/bin/mesos-cri of the unpacked tree, node from PATH, on private dirs.
    const base = privateBase();
    const bin = join(root, 'usr', 'bin', 'mesos-cri');
    const env = { PATH: `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin` };
    const args = ['--config', join(root, 'etc', 'mesos-cri', 'config.yaml'), ...privateDirs(base), '--cni-conf-dir', join(base, 'cni')];
    const check = spawnSync(bin, [...args, 'check'], { encoding: 'utf8', env });
    expect(check.stdout).toContain(`ok   exec helper: ${join(root, 'usr/lib/mesos-cri/native/bin/mesos-cri-exec')}`);
    expect(check.stdout).toContain(`ok   unpack helper: ${join(root, 'usr/lib/mesos-cri/native/bin/mesos-cri-unpack')}`);
    d = await startOwnDaemon(base, args, { cmd: [bin], env });
    const version = run(CRICTL, ['--runtime-endpoint', `unix://${d.socket}`, 'version']);
    expect(version).toMatch(/RuntimeName:\s+mesos-cri/);
    expect(version).toMatch(/RuntimeApiVersion:\s+v1/);
    // The daemon is the unpacked tree's (not this checkout's), run by the node found in PATH.
    const [exe, main] = readFileSync(`/proc/${d.child.pid}/cmdline`, 'utf8').split('\0');
    expect([exe, resolve(main!)]).toEqual(['node', join(root, 'usr/lib/mesos-cri/dist/src/main.js')]);
  }, 240_000);
});
