import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nativeBinary } from '../../common/native';
import { SpawnServer } from '../../common/spawn-server';
import { layerDir, layerTrashDir } from '../paths';
import { LayerStore } from './layer-store';

const digest = `sha256:${'ab'.repeat(32)}`;

describe.each([
  ['through the spawn server', new SpawnServer(nativeBinary('mesos-cri-spawn'))],
  ['in the daemon', undefined],
])('LayerStore.remove, deleting %s', (_how, spawner) => {
  let work: string;
  let canary: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'layer-rm-'));
    canary = join(work, 'canary');
    mkdirSync(canary);
    writeFileSync(join(canary, 'keep'), 'x');
    const rootfs = join(layerDir(work, digest), 'rootfs');
    mkdirSync(join(rootfs, 'usr', 'bin'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(rootfs, 'usr', 'bin', `f${i}`), 'x');
    // An image's layer is hostile content: a symlink out of it must not be followed.
    symlinkSync(canary, join(rootfs, 'escape'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('takes the layer away at once and deletes it behind the caller, leaving what a symlink in it points at', async () => {
    const layers = new LayerStore(work, undefined, spawner);
    await layers.remove(digest);
    expect(existsSync(layerDir(work, digest))).toBe(false);
    for (let i = 0; i < 500 && readdirSync(layerTrashDir(work)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(readdirSync(layerTrashDir(work))).toEqual([]);
    expect(readdirSync(canary)).toEqual(['keep']);
    await layers.remove(digest); // gone: nothing to do
  });

  it('empties at start the trash a daemon killed during a delete left', async () => {
    mkdirSync(join(layerTrashDir(work), 'left', 'rootfs'), { recursive: true });
    await new LayerStore(work, undefined, spawner).recover();
    expect(existsSync(layerTrashDir(work))).toBe(false);
  });
});
