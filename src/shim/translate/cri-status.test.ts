import { describe, expect, it } from 'vitest';
import type { ContainerStatus } from '../../mesos-compat/containerizer';
import { containerConfig, imageConfig } from '../../mesos-compat/oci/test-fixtures';
import { container, containerStatus } from './cri-status';

const ID = `sha256:${'a'.repeat(64)}`;
const status = (image: string): ContainerStatus => ({
  kind: 'container',
  id: 'c1',
  sandboxId: 's1',
  config: containerConfig({ image }),
  state: 'running',
  createdAt: 1n,
  startedAt: 2n,
  finishedAt: 0n,
  exitCode: 0,
  reason: '',
  message: '',
  image: { ref: image, id: ID, repoDigest: 'reg/app@sha256:bbb', config: imageConfig() },
  logPath: '',
});

describe('container image in statuses (as containerd reports it)', () => {
  it('ContainerStatus: the image\'s first tag and repo digest now, never the bare id', () => {
    const st = containerStatus(status(ID), { repoTags: ['reg/app:1', 'reg/app:latest'], repoDigests: ['reg/app@sha256:ccc'] });
    expect(st.image).toMatchObject({ image: 'reg/app:1', user_specified_image: ID });
    expect(st.image_ref).toBe('reg/app@sha256:ccc');
  });

  it('ContainerStatus of an untagged or removed image: the name it was created with, and the id', () => {
    expect(containerStatus(status('reg/app@sha256:bbb'), { repoTags: [], repoDigests: [] }).image?.image).toBe('reg/app@sha256:bbb');
    const gone = containerStatus(status('reg/app:1'));
    expect(gone.image?.image).toBe('reg/app:1');
    expect(gone.image_ref).toBe(ID);
  });

  it('ListContainers: the created-with name and the image id', () => {
    const c = container(status('reg/app:1'));
    expect(c.image?.image).toBe('reg/app:1');
    expect(c.image_ref).toBe(ID);
  });
});
