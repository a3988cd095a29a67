import { describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { CallCtx } from '../wrap';
import { imageHandlers } from './index';
import type { ImageStoreView, ImageView } from './store';

const ctx: CallCtx = { ...background(), rpc: 'test' };

function fakeStore(images: ImageView[]): ImageStoreView & { removed: string[] } {
  const removed: string[] = [];
  const find = (ref: string) => images.find((i) => i.id === ref || i.repoTags.includes(ref));
  return {
    removed,
    pull: async (ref) => {
      const img = find(ref);
      if (!img) throw new CriError('NotFound', `image "${ref}" not found`);
      return img;
    },
    resolve: async (ref) => find(ref),
    list: async (f) => (f?.ref ? images.filter((i) => i === find(f.ref!)) : images),
    remove: async (ref) => {
      removed.push(ref);
      return find(ref) !== undefined;
    },
    fsInfo: async () => ({ mountpoint: '/var/lib/mesos-cri', usedBytes: 123n, inodesUsed: 7n, timestamp: 1700000000000000000n }),
  };
}

const busybox: ImageView = {
  id: 'sha256:aaa',
  repoTags: ['docker.io/library/busybox:latest'],
  repoDigests: ['docker.io/library/busybox@sha256:bbb'],
  size: 1234n,
  config: { user: '1000:1000' },
  pinned: false,
};
const named: ImageView = { ...busybox, id: 'sha256:ccc', repoTags: ['x/y:1'], config: { user: 'nobody' } };

describe('ImageService handlers', () => {
  const h = imageHandlers(fakeStore([busybox, named]));

  it('PullImage answers the image id and rejects an empty reference', async () => {
    expect(await h.PullImage!({ image: { image: 'docker.io/library/busybox:latest' } } as never, ctx)).toEqual({ image_ref: 'sha256:aaa' });
    await expect(h.PullImage!({ image: { image: '' } } as never, ctx)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('ImageStatus maps numeric users to uid and names to username, and leaves image unset when absent', async () => {
    const res = await h.ImageStatus!({ image: { image: 'sha256:aaa' }, verbose: true } as never, ctx);
    expect(res.image).toMatchObject({ id: 'sha256:aaa', size: '1234', uid: { value: '1000' }, username: '' });
    expect(JSON.parse(res.info!.info!)).toMatchObject({ id: 'sha256:aaa' });
    const n = await h.ImageStatus!({ image: { image: 'x/y:1' }, verbose: false } as never, ctx);
    expect(n.image).toMatchObject({ uid: null, username: 'nobody' });
    expect((await h.ImageStatus!({ image: { image: 'nope' }, verbose: false } as never, ctx)).image).toBeNull();
  });

  it('ListImages filters by reference', async () => {
    expect((await h.ListImages!({ filter: null } as never, ctx)).images).toHaveLength(2);
    expect((await h.ListImages!({ filter: { image: { image: 'x/y:1' } } } as never, ctx)).images!.map((i) => i.id)).toEqual(['sha256:ccc']);
  });

  it('StreamImages sends every image exactly once', async () => {
    const sent: unknown[] = [];
    await h.StreamImages!({ filter: null } as never, async (r) => void sent.push(...(r.images ?? [])), ctx);
    expect(sent).toHaveLength(2);
  });

  it('ImageFsInfo reports the store filesystem numbers', async () => {
    const res = await h.ImageFsInfo!({} as never, ctx);
    expect(res.image_filesystems![0]).toMatchObject({ fs_id: { mountpoint: '/var/lib/mesos-cri' }, used_bytes: { value: '123' }, inodes_used: { value: '7' } });
  });

  it('RemoveImage succeeds for an absent image (idempotent)', async () => {
    await expect(h.RemoveImage!({ image: { image: 'gone' } } as never, ctx)).resolves.toEqual({});
  });
});
