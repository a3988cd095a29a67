#!/usr/bin/env node
// mesos-cri installer: the entrypoint of the installer image (scripts/build-installer-image.sh),
// run by the DaemonSet in manifests/daemonset.yaml with the node's root mounted at /host.
//
//   install.js [install] [--root DIR] [--from DIR] [--activate]
//   install.js pause
//
// `install` copies this image's /opt/mesos-cri (the daemon, its production npm packages, the
// native helpers, Node itself and the `bin/mesos-cri` wrapper; `--from`, default: the directory
// above this script) to <root>/opt/mesos-cri, the systemd unit to
// <root>/etc/systemd/system/mesos-cri.service, and the defaults an operator owns afterwards:
// <root>/etc/mesos-cri/config.yaml and config.d/ only when absent, and
// <root>/etc/cni/net.d/10-mesos-cri.conflist only when that directory holds no CNI config at
// all (a network config there would change the network of a runtime already on the node).
// The root is `--root`, else $MESOS_CRI_HOST_ROOT, else /host; it must be a directory.
//
// Files are compared first and rewritten only when their content or mode differs (a second
// run changes nothing), each through a temporary file renamed into place. What a previous run
// installed under /opt/mesos-cri (listed in its .installed-files) and this payload no longer
// has is removed; anything else there is left alone.
//
// NOTE: The target is the node's root, where a planted or stale symlink (say
// /opt/mesos-cri -> /somewhere) must not make us write outside it. Every path is resolved
// inside the root as the node itself would see it after chroot: a symlink's target, absolute
// or relative, is resolved against the root, and `..` stops at the root (like
// openat2(RESOLVE_IN_ROOT)). Each step opens the next directory with O_NOFOLLOW through the
// parent's descriptor (/proc/self/fd/N/name), so a directory swapped for a symlink mid-way
// fails the open instead of being followed. Files are created O_EXCL|O_NOFOLLOW and renamed
// over the old entry: a symlink in a file's place is replaced, never written through.
//
// `--activate` then asks the node's systemd (through `nsenter --target 1 --mount`, which
// needs hostPID) to reload units, enable mesos-cri, and restart it when anything changed or
// start it otherwise. Without it nothing is started or stopped. `pause` sleeps until SIGTERM
// (the DaemonSet's long-running container).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const PREFIX = 'opt/mesos-cri';
const UNIT = 'etc/systemd/system/mesos-cri.service';
// What the last run installed under PREFIX (one relative path a line): the next run removes
// what it lists and the new payload no longer has.
const MANIFEST = '.installed-files';
const MAX_MANIFEST_BYTES = 16 << 20;
const MAX_SYMLINKS = 40;

class InstallError extends Error {}

/** The target root, held open; every path below it is resolved inside it. */
class Root {
  constructor(dir) {
    let st;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      throw new InstallError(`target root ${dir}: ${err.code ?? err.message}`);
    }
    if (!st.isDirectory()) throw new InstallError(`target root ${dir} is not a directory`);
    this.dir = dir;
    this.fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  }

  close() {
    fs.closeSync(this.fd);
  }

  /**
   * Opens the directory `rel` (relative to the root) and returns its descriptor (the caller
   * closes it); with `create`, missing directories are made with mode 0755. Symlinks on the
   * way resolve inside the root; `null` when absent and not created.
   */
  openDir(rel, create) {
    const pending = split(rel);
    const stack = [dup(this.fd)];
    let links = 0;
    try {
      while (pending.length > 0) {
        const name = pending.shift();
        if (name === '.') continue;
        if (name === '..') {
          if (stack.length > 1) fs.closeSync(stack.pop());
          continue;
        }
        const p = at(stack[stack.length - 1], name);
        let st = lstatOrNull(p);
        let made = false;
        if (!st) {
          if (!create) return null;
          fs.mkdirSync(p, 0o755);
          made = true;
          st = fs.lstatSync(p);
        }
        if (st.isSymbolicLink()) {
          if (++links > MAX_SYMLINKS) throw new InstallError(`${rel}: too many levels of symbolic links`);
          const target = fs.readlinkSync(p);
          if (target.startsWith('/')) while (stack.length > 1) fs.closeSync(stack.pop());
          pending.unshift(...split(target));
          continue;
        }
        if (!st.isDirectory()) throw new InstallError(`${rel}: ${name} is not a directory`);
        // O_NOFOLLOW: if `name` became a symlink since the lstat, this fails (ELOOP).
        stack.push(fs.openSync(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
        if (made) fs.fchmodSync(stack[stack.length - 1], 0o755);
      }
      return stack.pop();
    } finally {
      for (const fd of stack) fs.closeSync(fd);
    }
  }
}

const split = (p) => p.split('/').filter((c) => c !== '');
const at = (dirFd, name) => `/proc/self/fd/${dirFd}/${name}`;
const dup = (fd) => fs.openSync(`/proc/self/fd/${fd}`, O_RDONLY | O_DIRECTORY);

function lstatOrNull(p) {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

function sameFile(p, st, data, mode) {
  if (!st || !st.isFile() || st.size !== data.length || (st.mode & 0o7777) !== mode) return false;
  const fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW);
  try {
    return fs.readFileSync(fd).equals(data);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opens the directory `parts` below `baseFd` refusing every symlink on the way (our own
 * tree has none as directories); `null` when it is absent or not a plain directory.
 */
function openBelow(baseFd, parts) {
  let fd = dup(baseFd);
  for (const name of parts) {
    let next;
    try {
      next = fs.openSync(at(fd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if (['ENOENT', 'ELOOP', 'ENOTDIR'].includes(err.code)) next = null;
      else throw err;
    } finally {
      fs.closeSync(fd);
    }
    if (next === null) return null;
    fd = next;
  }
  return fd;
}

/** The previous run's list, or none when it is absent, not a regular file or too large. */
function readManifest(dirFd) {
  let fd;
  try {
    fd = fs.openSync(at(dirFd, MANIFEST), O_RDONLY | O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    if (['ENOENT', 'ELOOP'].includes(err.code)) return [];
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_MANIFEST_BYTES) return [];
    return fs.readFileSync(fd, 'utf8').split('\n').filter((l) => l !== '');
  } finally {
    fs.closeSync(fd);
  }
}

const tmpName = (name) => `.${name}.mesos-cri-install.${process.pid}`;

/** Writes `data` as `name` in the directory `dirFd`; false when it was already so. */
function putFile(dirFd, name, data, mode) {
  const p = at(dirFd, name);
  const st = lstatOrNull(p);
  if (st && st.isDirectory()) throw new InstallError(`${name} is a directory where a file belongs`);
  if (sameFile(p, st, data, mode)) return false;
  const tmp = at(dirFd, tmpName(name));
  fs.rmSync(tmp, { force: true });
  const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, p);
  return true;
}

/** Makes `name` in `dirFd` a symlink to `target`; false when it already was. */
function putSymlink(dirFd, name, target) {
  const p = at(dirFd, name);
  const st = lstatOrNull(p);
  if (st && st.isSymbolicLink() && fs.readlinkSync(p) === target) return false;
  if (st && st.isDirectory()) throw new InstallError(`${name} is a directory where a symlink belongs`);
  const tmp = at(dirFd, tmpName(name));
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, p);
  return true;
}

class Installer {
  constructor(root, from, log) {
    this.root = root;
    this.from = from;
    this.log = log;
    this.changed = 0;
    this.unchanged = 0;
    /** Files and symlinks copied, and directories made, relative to PREFIX. */
    this.installed = [];
    this.shippedDirs = new Set();
  }

  count(changed, what) {
    if (changed) {
      this.changed++;
      this.log(`updated ${what}`);
    } else this.unchanged++;
  }

  /** Copies the source tree `srcDir` to `rel` under the root, recursively. */
  copyTree(srcDir, rel) {
    const dirFd = this.root.openDir(rel, true);
    const subdirs = [];
    try {
      for (const ent of fs.readdirSync(srcDir, { withFileTypes: true })) {
        const src = path.join(srcDir, ent.name);
        const dst = `${rel}/${ent.name}`;
        if (!ent.isDirectory() && (ent.isSymbolicLink() || ent.isFile())) this.installed.push(dst.slice(PREFIX.length + 1));
        if (ent.isDirectory()) {
          subdirs.push([src, dst]);
          this.shippedDirs.add(dst.slice(PREFIX.length + 1));
        }
        else if (ent.isSymbolicLink()) this.count(putSymlink(dirFd, ent.name, fs.readlinkSync(src)), `/${dst}`);
        else if (ent.isFile()) {
          const mode = fs.statSync(src).mode & 0o755;
          this.count(putFile(dirFd, ent.name, fs.readFileSync(src), mode), `/${dst}`);
        }
      }
    } finally {
      fs.closeSync(dirFd);
    }
    for (const [src, dst] of subdirs) this.copyTree(src, dst);
  }

  /**
   * Removes what the previous run installed under PREFIX and this payload no longer has
   * (then the directories that held only that), and records this run's list. Entries are
   * validated and reached without following any symlink below PREFIX.
   */
  removeStale() {
    const prefixFd = this.root.openDir(PREFIX, true);
    try {
      const now = new Set(this.installed);
      const emptied = new Set();
      for (const rel of readManifest(prefixFd)) {
        const parts = rel.split('/');
        if (now.has(rel) || rel === MANIFEST || parts.some((c) => c === '' || c === '.' || c === '..')) continue;
        const dirFd = openBelow(prefixFd, parts.slice(0, -1));
        if (dirFd === null) continue;
        try {
          const p = at(dirFd, parts[parts.length - 1]);
          const st = lstatOrNull(p);
          if (!st || st.isDirectory()) continue;
          fs.unlinkSync(p);
          this.changed++;
          this.log(`removed /${PREFIX}/${rel}`);
        } finally {
          fs.closeSync(dirFd);
        }
        for (let i = parts.length - 1; i > 0; i--) emptied.add(parts.slice(0, i).join('/'));
      }
      const deepestFirst = [...emptied].filter((d) => !this.shippedDirs.has(d)).sort((a, b) => b.split('/').length - a.split('/').length);
      for (const dir of deepestFirst) {
        const parts = dir.split('/');
        const parentFd = openBelow(prefixFd, parts.slice(0, -1));
        if (parentFd === null) continue;
        try {
          fs.rmdirSync(at(parentFd, parts[parts.length - 1]));
        } catch (err) {
          if (!['ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR'].includes(err.code)) throw err;
        } finally {
          fs.closeSync(parentFd);
        }
      }
      const list = Buffer.from(`${[...now].sort().join('\n')}\n`);
      this.count(putFile(prefixFd, MANIFEST, list, 0o644), `/${PREFIX}/${MANIFEST}`);
    } finally {
      fs.closeSync(prefixFd);
    }
  }

  /** Writes `rel` from `src` only when nothing is there yet: the operator's file is kept. */
  putDefault(src, rel) {
    const dirFd = this.root.openDir(path.posix.dirname(rel), true);
    try {
      const name = path.posix.basename(rel);
      if (lstatOrNull(at(dirFd, name))) {
        this.log(`kept /${rel}`);
        this.unchanged++;
        return;
      }
      this.count(putFile(dirFd, name, fs.readFileSync(src), 0o644), `/${rel}`);
    } finally {
      fs.closeSync(dirFd);
    }
  }

  /** The example network, only into a CNI config directory that has no network at all. */
  putConflist(src) {
    const rel = 'etc/cni/net.d';
    const dirFd = this.root.openDir(rel, true);
    try {
      const configs = fs.readdirSync(at(dirFd, '.')).filter((n) => /\.(conf|conflist|json)$/.test(n));
      if (configs.length > 0) {
        this.log(`kept /${rel}: it already holds ${configs.join(', ')}`);
        this.unchanged++;
        return;
      }
      this.count(putFile(dirFd, path.basename(src), fs.readFileSync(src), 0o644), `/${rel}/${path.basename(src)}`);
    } finally {
      fs.closeSync(dirFd);
    }
  }

  run() {
    const share = path.join(this.from, 'share');
    for (const f of ['mesos-cri.service', 'config.yaml', '10-mesos-cri.conflist']) {
      if (!fs.existsSync(path.join(share, f))) throw new InstallError(`${this.from} is not an installer payload: share/${f} is missing`);
    }
    this.copyTree(this.from, PREFIX);
    this.removeStale();
    const unitDir = this.root.openDir(path.posix.dirname(UNIT), true);
    try {
      this.count(putFile(unitDir, path.posix.basename(UNIT), fs.readFileSync(path.join(share, 'mesos-cri.service')), 0o644), `/${UNIT}`);
    } finally {
      fs.closeSync(unitDir);
    }
    this.putDefault(path.join(share, 'config.yaml'), 'etc/mesos-cri/config.yaml');
    fs.closeSync(this.root.openDir('etc/mesos-cri/config.d', true));
    this.putConflist(path.join(share, '10-mesos-cri.conflist'));
  }
}

function activate(changed, log) {
  const nsenter = process.env.MESOS_CRI_NSENTER || 'nsenter';
  const steps = [['daemon-reload'], ['enable', 'mesos-cri.service'], [changed ? 'restart' : 'start', 'mesos-cri.service']];
  for (const args of steps) {
    log(`systemctl ${args.join(' ')}`);
    const r = spawnSync(nsenter, ['--target', '1', '--mount', '--', 'systemctl', ...args], { stdio: 'inherit' });
    if (r.error) throw new InstallError(`failed to run ${nsenter}: ${r.error.message}`);
    if (r.status !== 0) throw new InstallError(`systemctl ${args.join(' ')} failed (exit ${r.status})`);
  }
}

function parseArgs(argv) {
  const opts = {
    cmd: 'install',
    root: process.env.MESOS_CRI_HOST_ROOT || '/host',
    from: path.resolve(__dirname, '..'),
    activate: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === 'install' || a === 'pause') opts.cmd = a;
    else if (a === '--activate') opts.activate = true;
    else if ((a === '--root' || a === '--from') && i + 1 < argv.length) opts[a.slice(2)] = argv[++i];
    else throw new InstallError(`unknown argument ${a} (usage: install.js [install|pause] [--root DIR] [--from DIR] [--activate])`);
  }
  return opts;
}

function main() {
  const log = (msg) => process.stdout.write(`mesos-cri-install: ${msg}\n`);
  try {
    const opts = parseArgs(process.argv.slice(2));
    if (opts.cmd === 'pause') {
      const timer = setInterval(() => {}, 2 ** 31 - 1);
      for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => clearInterval(timer));
      return;
    }
    const root = new Root(opts.root);
    const installer = new Installer(root, path.resolve(opts.from), log);
    try {
      installer.run();
    } finally {
      root.close();
    }
    log(`${installer.changed} changed, ${installer.unchanged} unchanged under ${opts.root}`);
    if (opts.activate) activate(installer.changed > 0, log);
  } catch (err) {
    process.stderr.write(`mesos-cri-install: ${err instanceof InstallError ? err.message : err.stack}\n`);
    process.exitCode = 1;
  }
}

main();
