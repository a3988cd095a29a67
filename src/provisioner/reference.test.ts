import { describe, expect, it } from 'vitest';
import { formatReference, parseReference } from './reference';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['foo/bar', 'docker.io/foo/bar:latest'],
    ['index.docker.io/foo/bar:1', 'docker.io/foo/bar:1'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['127.0.0.1:5000/test/busybox:v1', '127.0.0.1:5000/test/busybox:v1'],
    ['localhost/a', 'localhost/a:latest'],
    ['localhost:5000/a/b/c:x', 'localhost:5000/a/b/c:x'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox@${D}`],
    ['a.b/c__d-e.f:tag_1.2-3', 'a.b/c__d-e.f:tag_1.2-3'],
  ])('normalises %s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });

  it.each(['', ' busybox', 'Busybox', 'busybox:', 'busybox:-x', 'busybox@sha256:abc', 'a//b', 'a/-b', 'a'.repeat(64), 'x/' + 'a'.repeat(300), 'bad host!/x', ':tag'])(
    'rejects %j as InvalidArgument',
    (input) => {
      expect(() => parseReference(input)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    },
  );
});
