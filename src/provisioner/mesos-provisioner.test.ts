import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpoint } from '../common/checkpoint';
import { nested, topLevel } from '../common/container-id';
import { background, sweepCtx } from '../common/ctx';
import { exec as forkExec, type Exec } from '../common/exec';
import type { Backend } from './backends/backend';
import { Mounter } from './backends/mounts';
import { MesosProvisioner } from './mesos-provisioner';
import { backendDir, containerDir, layersCheckpoint, trashDir } from './paths';
import type { DockerStore } from './store/image-store';
import { RwLock } from './sync';

const ctx = background();

/** The store as GC sees it: images in the index and what `gc` was told is in use. */
function fakeStore(images: Array<{ id: string; layers: string[] }>) {
  const index = new Map(images.map((i) => [i.id, { ...i, layers: i.layers.map((digest) => ({ digest })), pinned: false, repoTags: [], manifestDigests: [], configDigest: '' }]));
  const gcCalls: Array<ReadonlySet<string> | 'unknown'> = [];
  const store = {
    recover: async () => undefined,
    find: (id: string) => index.get(id),
    isPinned: (s: { pinned: boolean }) => s.pinned,
    index: { all: () => [...index.values()], delete: async (id: string) => void index.delete(id) },
    gc: async (inUse: ReadonlySet<string> | 'unknown') => {
      gcCalls.push(inUse);
      return { layers: 0, blobs: 0 };
    },
  };
  return { store: store as unknown as DockerStore, index, gcCalls };
}

const backend: Backend = { name: 'overlay', provision: async (_l, dir) => dir, destroy: async () => true, writable: (d) => d };

describe('MesosProvisioner garbage collection after recovery', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'prov-unit-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const rootfs = async (id: ReturnType<typeof nested>, info: unknown): Promise<void> => {
    mkdirSync(backendDir(work, id, 'overlay'), { recursive: true });
    if (info !== undefined) await checkpoint(layersCheckpoint(work, id), info);
  };

  it('counts the layers of every recovered rootfs as in use, and the image it came from as used', async () => {
    const { store, index, gcCalls } = fakeStore([
      { id: 'sha256:used', layers: ['sha256:l1', 'sha256:l2'] },
      { id: 'sha256:idle', layers: ['sha256:l3'] },
    ]);
    const c = nested(topLevel('s'), 'c');
    await rootfs(c, { backend: 'overlay', imageId: 'sha256:used', layers: ['sha256:l1', 'sha256:l2'], rootfs: '/r' });
    const p = new MesosProvisioner(work, backend, store, new RwLock());
    await p.recover([topLevel('s'), c], ctx);
    await p.pruneImages([], ctx);
    expect([...index.keys()]).toEqual(['sha256:used']);
    // Once at start-up, once for the prune.
    expect(gcCalls).toEqual([new Set(['sha256:l1', 'sha256:l2']), new Set(['sha256:l1', 'sha256:l2'])]);
  });

  it('removes no image and no layer while a rootfs has an unreadable or missing layer list, until that rootfs goes', async () => {
    const { store, index, gcCalls } = fakeStore([{ id: 'sha256:img', layers: ['sha256:l1'] }]);
    const torn = nested(topLevel('s'), 'torn');
    const lost = nested(topLevel('s'), 'lost');
    await rootfs(torn, undefined);
    writeFileSync(layersCheckpoint(work, torn), '{"version":1,"value":{"lay');
    await rootfs(lost, undefined);
    const p = new MesosProvisioner(work, backend, store, new RwLock());
    await p.recover([topLevel('s'), torn, lost], ctx);
    expect(p.layersInUse()).toBe('unknown');
    await p.pruneImages([], ctx);
    expect([...index.keys()]).toEqual(['sha256:img']);
    expect(gcCalls).toEqual(['unknown', 'unknown']);
    await p.destroy(torn, ctx);
    expect(p.layersInUse()).toBe('unknown');
    await p.destroy(lost, ctx);
    expect(p.layersInUse()).toEqual(new Set());
  });
});

describe('MesosProvisioner destroy behind a reply', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'prov-trash-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('moves the unmounted tree to the trash under the lock and deletes it after, without holding image work back', async () => {
    const { store } = fakeStore([]);
    const lock = new RwLock();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const calls: string[] = [];
    // The delete of the tree (a process at a low priority) takes a while: image work goes on meanwhile.
    const exec: Exec = async (file, args, c, o) => {
      calls.push(`${file} ${args.at(-1)}`);
      if (file === 'rm') await held;
      return forkExec(file, args, c, o);
    };
    const p = new MesosProvisioner(work, backend, store, lock, new Mounter(exec));
    const c = nested(topLevel('s'), 'c');
    mkdirSync(join(backendDir(work, c, 'overlay'), 'upper', 'deep'), { recursive: true });
    await p.recover([topLevel('s'), c], ctx);
    const destroyed = p.destroy(c, sweepCtx());
    await until(() => calls.length > 0);
    expect(existsSync(containerDir(work, c))).toBe(false);
    const [moved] = readdirSync(trashDir(work));
    expect(calls).toEqual([`rm ${join(trashDir(work), moved!)}`]);
    await lock.write(async () => undefined); // a pull or an image removal is not held back
    release();
    expect(await destroyed).toBe(true);
    expect(readdirSync(trashDir(work))).toEqual([]);
  });

  it('empties at the next start what a daemon killed before the delete left in the trash', async () => {
    mkdirSync(join(trashDir(work), 'c-0123', 'upper'), { recursive: true });
    const p = new MesosProvisioner(work, backend, fakeStore([]).store, new RwLock());
    await p.recover([], ctx);
    expect(existsSync(trashDir(work))).toBe(false);
  });
});

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
}
