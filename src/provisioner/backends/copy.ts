import {
  chmodSync, constants as C, copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync,
  rmSync, symlinkSync, utimesSync, type Stats,
} from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import type { Exec } from '../../common/exec';
import { applyNodeFixups, type NodeFixup } from '../unpack/fixups';
import { DirResolver } from '../unpack/resolve';
import type { Backend, LayerRef } from './backend';
import { Mounter } from './mounts';

/**
 * Mesos `CopyBackend`: every layer copied in order into one private rootfs,
 * whiteouts applied as deletions (opaque directories emptied, whited-out
 * paths removed) before the layer's own files land. Works on any file system.
 *
 * Paths in the rootfs are resolved with `DirResolver`, so a symlink left by a
 * lower layer (`/lib -> /usr/lib`) is followed inside the rootfs, never on the
 * host. NOTE: extended attributes of layer files are not copied (Node has no
 * xattr API); overlay keeps them.
 */
export class CopyBackend implements Backend {
  readonly name = 'copy' as const;

  constructor(private readonly mounter = new Mounter()) {}

  writable(dir: string): string {
    return join(dir, 'rootfs');
  }

  async provision(layers: readonly LayerRef[], dir: string, ctx: Ctx): Promise<string> {
    const rootfs = join(dir, 'rootfs');
    // A retry after a crash starts over: a partial copy is not trustworthy.
    await rm(rootfs, { recursive: true, force: true });
    await mkdir(rootfs, { recursive: true });
    for (const layer of layers) {
      ctx.signal.throwIfAborted();
      const resolver = new DirResolver(rootfs);
      const hide = (rel: string, contentsOnly: boolean): void => {
        const parts = rel.split('/').filter(Boolean);
        let target: string;
        try {
          target = parts.length === 0 ? rootfs : join(resolver.dir(parts.slice(0, -1), rel, false), parts[parts.length - 1]!);
        } catch {
          return; // Nothing below to hide.
        }
        if (!contentsOnly) {
          rmSync(target, { recursive: true, force: true });
          return;
        }
        const st = lstatSync(target, { throwIfNoEntry: false });
        if (st?.isDirectory()) for (const n of readdirSync(target)) rmSync(join(target, n), { recursive: true, force: true });
      };
      for (const o of layer.meta.opaques) hide(o, true);
      for (const w of layer.meta.whiteouts) hide(w, false);
      resolver.invalidate();
      await copyTree(layer.rootfs, rootfs, resolver, ctx, this.mounter.exec);
    }
    return rootfs;
  }

  destroy(dir: string, ctx: Ctx): Promise<boolean> {
    return this.mounter.destroyBackendDir(dir, ctx);
  }
}

const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

async function copyTree(src: string, rootfs: string, resolver: DirResolver, ctx: Ctx, exec: Exec): Promise<void> {
  const fixups: NodeFixup[] = [];
  const dirs: Array<{ path: string; st: Stats }> = [];
  const links = new Map<string, string>();
  const walk = (rel: string[]): void => {
    const from = join(src, ...rel);
    for (const name of readdirSync(from)) {
      const s = join(from, name);
      const st = lstatSync(s);
      if (isWhiteout(st)) continue;
      const parent = resolver.dir(rel, name);
      const d = join(parent, name);
      const existing = lstatSync(d, { throwIfNoEntry: false });
      if (st.isDirectory()) {
        if (!existing?.isDirectory()) {
          if (existing) rmSync(d, { recursive: true, force: true });
          mkdirSync(d);
          resolver.invalidate();
        }
        lchownSync(d, st.uid, st.gid);
        chmodSync(d, st.mode & 0o7777);
        dirs.push({ path: d, st });
        walk([...rel, name]);
        continue;
      }
      if (existing) {
        rmSync(d, { recursive: true, force: true });
        if (existing.isDirectory() || existing.isSymbolicLink()) resolver.invalidate();
      }
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        linkSync(first, d);
        continue;
      }
      if (st.isFile()) {
        copyFileSync(s, d, C.COPYFILE_FICLONE);
        lchownSync(d, st.uid, st.gid);
        chmodSync(d, st.mode & 0o7777);
        utimesSync(d, st.atime, st.mtime);
      } else if (st.isSymbolicLink()) {
        symlinkSync(readlinkSync(s), d);
        lchownSync(d, st.uid, st.gid);
        lutimesSync(d, st.atime, st.mtime);
      } else {
        // By path relative to the rootfs: the helper resolves it inside the rootfs again.
        fixups.push({ path: [...rel, name].join('/'), mode: st.mode, rdev: st.rdev, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs });
      }
      if (st.nlink > 1) links.set(key, d);
    }
  };
  walk([]);
  await applyNodeFixups(rootfs, fixups, ctx, exec);
  for (let i = dirs.length - 1; i >= 0; i--) utimesSync(dirs[i]!.path, dirs[i]!.st.atime, dirs[i]!.st.mtime);
}
