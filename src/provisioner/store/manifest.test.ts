import { describe, expect, it } from 'vitest';
import { parseConfig, parseDocument, selectPlatform } from './manifest';
import { MT } from './media-types';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

describe('parseDocument', () => {
  it('parses OCI and Docker manifests, trusting the body over a generic Content-Type', () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: d('a'), size: 10 }, layers: [{ mediaType: MT.dockerLayer, digest: d('b'), size: 5 }] }));
    const doc = parseDocument(body, 'application/octet-stream', 'm');
    expect(doc).toEqual({ kind: 'manifest', manifest: { config: { mediaType: MT.dockerConfig, digest: d('a'), size: 10 }, layers: [{ mediaType: MT.dockerLayer, digest: d('b'), size: 5 }] } });
  });

  it('refuses schema 1, bad digests and unknown layer types', () => {
    expect(() => parseDocument(Buffer.from('{"schemaVersion":1}'), 'application/vnd.docker.distribution.manifest.v1+json', 'm')).toThrow(/schemaVersion 1/);
    const bad = { schemaVersion: 2, mediaType: MT.ociManifest, config: { digest: 'sha256:xyz', size: 1 }, layers: [] };
    expect(() => parseDocument(Buffer.from(JSON.stringify(bad)), '', 'm')).toThrow(/bad descriptor/);
    const weird = { schemaVersion: 2, mediaType: MT.ociManifest, config: { digest: d('a'), size: 1 }, layers: [{ mediaType: 'application/x-foo', digest: d('b'), size: 1 }] };
    expect(() => parseDocument(Buffer.from(JSON.stringify(weird)), '', 'm')).toThrow(/unsupported layer media type/);
    expect(() => parseDocument(Buffer.from('nope'), '', 'm')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });

  it('selects the linux/amd64 entry of an index', () => {
    const doc = parseDocument(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [
        { mediaType: MT.ociManifest, digest: d('1'), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MT.ociManifest, digest: d('2'), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
        { mediaType: MT.ociManifest, digest: d('3'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      ] })),
      '',
      'i',
    );
    expect(doc.kind).toBe('index');
    if (doc.kind !== 'index') return;
    expect(selectPlatform(doc.manifests, { os: 'linux', architecture: 'amd64' })?.digest).toBe(d('3'));
    expect(selectPlatform(doc.manifests, { os: 'linux', architecture: 's390x' })).toBeUndefined();
  });
});

describe('parseConfig', () => {
  it('maps the image config and tolerates nulls', () => {
    const cfg = parseConfig(Buffer.from(JSON.stringify({ config: { User: '1000', Env: null, Cmd: ['sh'], Volumes: { '/data': {} }, ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGQUIT', Labels: { a: 'b' } }, rootfs: { diff_ids: [d('c')] } })), 'c');
    expect(cfg).toEqual({ diffIds: [d('c')], config: { user: '1000', env: [], entrypoint: [], cmd: ['sh'], workingDir: '', volumes: ['/data'], stopSignal: 'SIGQUIT', labels: { a: 'b' }, exposedPorts: ['80/tcp'] } });
  });
});
