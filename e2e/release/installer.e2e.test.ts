import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 16 (cluster-wide install): the installer image's entrypoint
 * (packaging/installer/install.js) run against scratch roots, with a small payload
 * laid out as the image's /opt/mesos-cri (real files from this build).
 */
const REPO = join(__dirname, '..', '..');
const INSTALL = join(REPO, 'packaging', 'installer', 'install.js');

let work: string;
let payload: string;

function makePayload(dir: string): void {
  const put = (rel: string, content: string | Buffer, mode = 0o644): void => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
    chmodSync(join(dir, rel), mode);
  };
  put('dist/src/main.js', readFileSync(join(REPO, 'dist', 'src', 'main.js')), 0o755);
  put('dist/src/common/native.js', readFileSync(join(REPO, 'dist', 'src', 'common', 'native.js')));
  put('native/bin/mesos-cri-exec', readFileSync(join(REPO, 'native', 'bin', 'mesos-cri-exec')), 0o755);
  put('node_modules/yaml/package.json', readFileSync(join(REPO, 'node_modules', 'yaml', 'package.json')));
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync('../yaml/bin.mjs', join(dir, 'node_modules', '.bin', 'yaml'));
  put('package.json', readFileSync(join(REPO, 'package.json')));
  put('bin/mesos-cri', '#!/bin/sh\nexec node "$(dirname "$0")/../dist/src/main.js" "$@"\n', 0o755);
  put('installer/install.js', readFileSync(INSTALL), 0o755);
  put('share/mesos-cri.service', readFileSync(join(REPO, 'manifests', 'mesos-cri.service')));
  put('share/config.yaml', readFileSync(join(REPO, 'manifests', 'config.yaml')));
  put('share/10-mesos-cri.conflist', readFileSync(join(REPO, 'manifests', '10-mesos-cri.conflist')));
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function install(root: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [INSTALL, 'install', '--root', root, '--from', payload, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every entry under `dir`: type, mode, inode, mtime and content (files) or target (links). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      const base = `${st.mode.toString(8)} ${st.ino} ${st.mtimeMs}`;
      if (st.isSymbolicLink()) out.set(r, `${base} -> ${readlinkSync(join(dir, r))}`);
      else if (st.isDirectory()) {
        out.set(r, base);
        walk(r);
      } else out.set(r, `${base} ${readFileSync(join(dir, r)).toString('base64')}`);
    }
  };
  walk('');
  return out;
}

const mode = (p: string): number => lstatSync(p).mode & 0o7777;
let n = 0;
const scratch = (): string => {
  const d = join(work, `root${n++}`);
  mkdirSync(d);
  return d;
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mcri-installer-'));
  payload = join(work, 'payload');
  makePayload(payload);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installer entrypoint', () => {
  it('installs the payload, the unit and the defaults with their modes', () => {
    const root = scratch();
    const r = install(root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const opt = join(root, 'opt', 'mesos-cri');
    expect(readFileSync(join(opt, 'dist', 'src', 'main.js')).equals(readFileSync(join(REPO, 'dist', 'src', 'main.js')))).toBe(true);
    expect(mode(join(opt, 'dist', 'src', 'main.js'))).toBe(0o755);
    expect(mode(join(opt, 'dist', 'src', 'common', 'native.js'))).toBe(0o644);
    expect(mode(join(opt, 'native', 'bin', 'mesos-cri-exec'))).toBe(0o755);
    expect(mode(join(opt, 'bin', 'mesos-cri'))).toBe(0o755);
    expect(mode(join(opt, 'dist'))).toBe(0o755);
    expect(readlinkSync(join(opt, 'node_modules', '.bin', 'yaml'))).toBe('../yaml/bin.mjs');
    const unit = join(root, 'etc', 'systemd', 'system', 'mesos-cri.service');
    expect(readFileSync(unit, 'utf8')).toBe(readFileSync(join(payload, 'share', 'mesos-cri.service'), 'utf8'));
    expect(mode(unit)).toBe(0o644);
    const config = join(root, 'etc', 'mesos-cri', 'config.yaml');
    expect(readFileSync(config, 'utf8')).toBe(readFileSync(join(REPO, 'manifests', 'config.yaml'), 'utf8'));
    expect(mode(config)).toBe(0o644);
    expect(statSync(join(root, 'etc', 'mesos-cri', 'config.d')).isDirectory()).toBe(true);
    expect(mode(join(root, 'etc', 'mesos-cri', 'config.d'))).toBe(0o755);
    const conflist = join(root, 'etc', 'cni', 'net.d', '10-mesos-cri.conflist');
    expect(readFileSync(conflist, 'utf8')).toBe(readFileSync(join(REPO, 'manifests', '10-mesos-cri.conflist'), 'utf8'));
    expect(mode(conflist)).toBe(0o644);
    // Nothing else: no temporary files left behind.
    expect(readdirSync(join(root, 'etc', 'systemd', 'system'))).toEqual(['mesos-cri.service']);
    expect(readdirSync(root).sort()).toEqual(['etc', 'opt']);
    expect(r.stdout).toMatch(/mesos-cri-install: 1[0-9] changed, 0 unchanged/);
  });

  it('changes nothing on a second run, and only what differs after an update', () => {
    const root = scratch();
    expect(install(root).status).toBe(0);
    const before = snapshot(root);
    const again = install(root);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/ 0 changed, \d+ unchanged/);
    expect(snapshot(root)).toEqual(before);

    // The operator edits the config; a new payload version changes one file.
    writeFileSync(join(root, 'etc', 'mesos-cri', 'config.yaml'), 'logLevel: debug\n');
    const upd = join(work, 'payload-v2');
    makePayload(upd);
    writeFileSync(join(upd, 'dist', 'src', 'common', 'native.js'), '// v2\n');
    const r = spawnSync(process.execPath, [INSTALL, '--root', root, '--from', upd], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('updated /opt/mesos-cri/dist/src/common/native.js');
    expect(r.stdout).toMatch(/ 1 changed, /);
    expect(readFileSync(join(root, 'opt', 'mesos-cri', 'dist', 'src', 'common', 'native.js'), 'utf8')).toBe('// v2\n');
    expect(readFileSync(join(root, 'etc', 'mesos-cri', 'config.yaml'), 'utf8')).toBe('logLevel: debug\n');
  });

  it('removes what an older version installed and the new one no longer ships, nothing else', () => {
    const root = scratch();
    const v1 = join(work, 'payload-old');
    makePayload(v1);
    mkdirSync(join(v1, 'node_modules', 'gone', 'lib'), { recursive: true });
    writeFileSync(join(v1, 'node_modules', 'gone', 'lib', 'index.js'), '');
    writeFileSync(join(v1, 'dist', 'src', 'old.js'), '');
    const r1 = spawnSync(process.execPath, [INSTALL, '--root', root, '--from', v1], { encoding: 'utf8' });
    expect(r1.status).toBe(0);
    const opt = join(root, 'opt', 'mesos-cri');
    expect(readFileSync(join(opt, '.installed-files'), 'utf8')).toContain('node_modules/gone/lib/index.js\n');
    // The operator's own file in the tree is not the installer's.
    writeFileSync(join(opt, 'dist', 'local-note'), 'mine');
    const r = install(root);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('removed /opt/mesos-cri/dist/src/old.js');
    expect(r.stdout).toContain('removed /opt/mesos-cri/node_modules/gone/lib/index.js');
    expect(existsSync(join(opt, 'dist', 'src', 'old.js'))).toBe(false);
    expect(existsSync(join(opt, 'node_modules', 'gone'))).toBe(false);
    expect(existsSync(join(opt, 'dist', 'src', 'main.js'))).toBe(true);
    expect(readFileSync(join(opt, 'dist', 'local-note'), 'utf8')).toBe('mine');
    expect(readFileSync(join(opt, '.installed-files'), 'utf8')).not.toContain('gone');
  });

  it('removes nothing outside the tree whatever a tampered list of installed files says (canary)', () => {
    const canary = join(work, 'canary-list');
    mkdirSync(join(canary, 'sub'), { recursive: true });
    writeFileSync(join(canary, 'victim'), 'canary\n');
    writeFileSync(join(canary, 'sub', 'victim'), 'canary\n');
    const canaryBefore = snapshot(canary);
    const root = scratch();
    expect(install(root).status).toBe(0);
    const opt = join(root, 'opt', 'mesos-cri');
    writeFileSync(join(root, 'keep-me'), 'x');
    // A directory under the tree swapped for a symlink to the canary, and to the root.
    symlinkSync(join(canary, 'sub'), join(opt, 'evil'));
    symlinkSync('/', join(opt, 'up'));
    writeFileSync(join(opt, '.installed-files'), ['../../keep-me', '../../../' + canary + '/victim', canary + '/victim', 'evil/victim', 'up/keep-me', './x/../../keep-me', ''].join('\n'));
    const r = install(root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('removed');
    expect(snapshot(canary)).toEqual(canaryBefore);
    expect(readFileSync(join(root, 'keep-me'), 'utf8')).toBe('x');
  });

  it("keeps an operator's config and leaves a configured CNI directory alone", () => {
    const root = scratch();
    mkdirSync(join(root, 'etc', 'mesos-cri'), { recursive: true });
    writeFileSync(join(root, 'etc', 'mesos-cri', 'config.yaml'), 'socket: /run/x.sock\n', { mode: 0o600 });
    mkdirSync(join(root, 'etc', 'cni', 'net.d'), { recursive: true });
    writeFileSync(join(root, 'etc', 'cni', 'net.d', '87-podman.conflist'), '{}\n');
    const r = install(root);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kept /etc/mesos-cri/config.yaml');
    expect(r.stdout).toContain('kept /etc/cni/net.d: it already holds 87-podman.conflist');
    expect(readFileSync(join(root, 'etc', 'mesos-cri', 'config.yaml'), 'utf8')).toBe('socket: /run/x.sock\n');
    expect(mode(join(root, 'etc', 'mesos-cri', 'config.yaml'))).toBe(0o600);
    expect(readdirSync(join(root, 'etc', 'cni', 'net.d'))).toEqual(['87-podman.conflist']);
    expect(existsSync(join(root, 'opt', 'mesos-cri', 'bin', 'mesos-cri'))).toBe(true);
  });

  it('refuses a target that is not a directory, writing nothing', () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const dir = scratch();
    const link = join(work, 'a-link');
    symlinkSync(dir, link);
    for (const [target, msg] of [
      [file, 'is not a directory'],
      [link, 'is not a directory'],
      [join(work, 'missing'), 'ENOENT'],
    ] as const) {
      const r = install(target);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`target root ${target}`);
      expect(r.stderr).toContain(msg);
    }
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(work, 'missing'))).toBe(false);
  });

  it('never writes through symlinks planted in the target (canary)', () => {
    const canary = join(work, 'canary');
    mkdirSync(join(canary, 'etc'), { recursive: true });
    writeFileSync(join(canary, 'victim'), 'canary\n');
    writeFileSync(join(canary, 'etc', 'config.yaml'), 'canary\n');
    const canaryBefore = snapshot(canary);
    const root = scratch();
    mkdirSync(join(root, 'opt'));
    mkdirSync(join(root, 'etc', 'systemd', 'system'), { recursive: true });
    mkdirSync(join(root, 'etc', 'cni'), { recursive: true });
    // Absolute: the node would resolve it inside its own root.
    symlinkSync(canary, join(root, 'opt', 'mesos-cri'));
    // Relative, climbing out: `..` stops at the root.
    symlinkSync('../../../../../../../../..' + canary + '/etc', join(root, 'etc', 'mesos-cri'));
    // A file's place taken by a symlink to a host file.
    symlinkSync(join(canary, 'victim'), join(root, 'etc', 'systemd', 'system', 'mesos-cri.service'));
    // A directory swapped for a symlink to the canary's directory.
    symlinkSync(join(canary, 'etc'), join(root, 'etc', 'cni', 'net.d'));

    const r = install(root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(snapshot(canary)).toEqual(canaryBefore);
    // What the links name, resolved inside the root, got the files.
    const inRoot = join(root, canary);
    expect(existsSync(join(inRoot, 'bin', 'mesos-cri'))).toBe(true);
    expect(readFileSync(join(inRoot, 'etc', 'config.yaml'), 'utf8')).toBe(readFileSync(join(REPO, 'manifests', 'config.yaml'), 'utf8'));
    expect(existsSync(join(inRoot, 'etc', '10-mesos-cri.conflist'))).toBe(true);
    const unit = join(root, 'etc', 'systemd', 'system', 'mesos-cri.service');
    expect(lstatSync(unit).isFile()).toBe(true);
    expect(readFileSync(unit, 'utf8')).toContain('Type=notify');
  });

  it('fails on a symlink loop instead of spinning, and on a file where a directory belongs', () => {
    const root = scratch();
    symlinkSync('/opt/loop', join(root, 'loop'));
    mkdirSync(join(root, 'opt'));
    symlinkSync('/loop', join(root, 'opt', 'loop'));
    symlinkSync('/loop', join(root, 'opt', 'mesos-cri'));
    const r = install(root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('too many levels of symbolic links');

    const root2 = scratch();
    writeFileSync(join(root2, 'opt'), 'a file');
    const r2 = install(root2);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain('opt is not a directory');
    expect(readFileSync(join(root2, 'opt'), 'utf8')).toBe('a file');
  });

  it('asks systemd to reload, enable and (re)start only with --activate', () => {
    const fake = join(work, 'fake-nsenter');
    const calls = join(work, 'nsenter-calls');
    writeFileSync(fake, `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
    const root = scratch();
    expect(install(root, [], { MESOS_CRI_NSENTER: fake }).status).toBe(0);
    expect(existsSync(calls)).toBe(false);
    expect(install(root, ['--activate'], { MESOS_CRI_NSENTER: fake }).status).toBe(0);
    // Nothing changed on this second run: start (a no-op when running), not restart.
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      '--target 1 --mount -- systemctl daemon-reload',
      '--target 1 --mount -- systemctl enable mesos-cri.service',
      '--target 1 --mount -- systemctl start mesos-cri.service',
    ]);
    rmSync(calls);
    const root2 = scratch();
    expect(install(root2, ['--activate'], { MESOS_CRI_NSENTER: fake }).status).toBe(0);
    expect(readFileSync(calls, 'utf8')).toContain('systemctl restart mesos-cri.service');
    copyFileSync('/bin/false', fake);
    const failed = install(root2, ['--activate'], { MESOS_CRI_NSENTER: fake });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain('systemctl daemon-reload failed');
  });

  it('pause keeps running until SIGTERM, then exits 0', async () => {
    const child = spawn(process.execPath, [INSTALL, 'pause'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 500));
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('rejects unknown arguments', () => {
    const r = spawnSync(process.execPath, [INSTALL, '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown argument --bogus');
  });
});
