import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { ctx, tempProvisioner } from '../provisioner/helpers';
import { privateBase, privateDirs, startOwnDaemon, type OwnDaemon } from './own-daemon';

/** Issue 16: pinned images (`images.pinned`): reported `pinned: true`, never pruned. */
let d: OwnDaemon | undefined;
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await d?.cleanup();
  for (const c of cleanups) await c();
  await stopTestRegistry();
});

describe('pinned images', () => {
  it('are reported pinned and survive pruning; others are pruned', async () => {
    const reg = await ensureTestRegistry();
    const a = await pushBusybox(reg, 'pin/a:1', { extra: [{ name: 'a', content: 'a' }] });
    const b = await pushBusybox(reg, 'pin/b:1', { extra: [{ name: 'b', content: 'b' }] });
    const p = await tempProvisioner({ pinned: [a.ref] });
    cleanups.push(p.cleanup);
    const imgA = await p.store.pull(a.ref, {}, ctx);
    const imgB = await p.store.pull(b.ref, {}, ctx);
    expect(imgA.pinned).toBe(true);
    expect(imgB.pinned).toBe(false);
    await p.provisioner.pruneImages([], ctx);
    expect((await p.store.list()).map((i) => i.id)).toEqual([imgA.id]);
  });

  it('ListImages and ImageStatus report pinned: true for a configured reference', async () => {
    const reg = await ensureTestRegistry();
    const a = await pushBusybox(reg, 'pin/c:1', { extra: [{ name: 'c', content: 'c' }] });
    const base = privateBase();
    writeFileSync(join(base, 'config.yaml'), `images:\n  pinned: ["${a.ref}"]\n`);
    d = await startOwnDaemon(base, ['--config', join(base, 'config.yaml'), ...privateDirs(base)]);
    await d.image.call('PullImage', { image: { image: a.ref } });
    const list = await d.image.call<{ images: Array<{ repo_tags: string[]; pinned: boolean }> }>('ListImages', {});
    expect(list.images.map((i) => [i.repo_tags, i.pinned])).toEqual([[[a.ref], true]]);
    const st = await d.image.call<{ image: { pinned: boolean } }>('ImageStatus', { image: { image: a.ref } });
    expect(st.image.pinned).toBe(true);
  });
});
