import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { topmostOnce } from '../backends/overlay';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { nativeBinary } from '../../common/native';
import { SpawnServer } from '../../common/spawn-server';
import { parseRecords, unpackLayer } from './unpack';
import { ByteLimit, chain, decompress, sniffCompression } from './decompress';

describe('sniffCompression', () => {
  it('goes by magic bytes, not by label', () => {
    expect(sniffCompression(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(sniffCompression(Buffer.from('BZh91AY'))).toBe('bzip2');
    expect(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(sniffCompression(Buffer.from('file.txt\0\0\0'))).toBe('none');
    expect(sniffCompression(Buffer.alloc(0))).toBe('none');
  });
});

describe('ByteLimit and chain', () => {
  it('fails the last stream once more than the limit went through', async () => {
    const { out } = chain(Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), new ByteLimit(1000, 'the test stream'));
    await expect(async () => {
      for await (const _c of out) void _c;
    }).rejects.toThrow('the test stream exceeds 1000 bytes');
  });

  it('hands a decompressor error to the last stream instead of crashing', async () => {
    const input = new PassThrough();
    const { out } = chain(decompress(input, 'gzip'), new PassThrough());
    input.end(Buffer.from('this is not gzip'));
    await expect(async () => {
      for await (const _c of out) void _c;
    }).rejects.toThrow(/incorrect header check/);
  });
});

describe('unpackLayer', () => {
  it('leaves no late error of its input unhandled once it answered (a decompressor error behind the helper exit)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'unpack-late-'));
    try {
      const input = new PassThrough();
      input.end(Buffer.alloc(1024, 0x55)); // no tar: the helper refuses it and exits
      await expect(unpackLayer(input, join(root, 'rootfs'), background())).rejects.toThrow(/failed to unpack layer/);
      // What a stream destroyed with an error before the answer emits on a later tick.
      expect(() => input.emit('error', new Error('late zlib error'))).not.toThrow();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// The real spawn server (scripts/setup.sh builds it), and the fork of this process.
const server = new SpawnServer(nativeBinary('mesos-cri-spawn'));

describe.each([
  ['through the spawn server', server],
  ['forked', undefined],
])('unpackLayer started %s', (_how, spawner) => {
  it('answers with an input error that comes while the helper starts, and leaves it handled', async () => {
    const root = mkdtempSync(join(tmpdir(), 'unpack-early-'));
    try {
      const input = new PassThrough();
      const layer = unpackLayer(input, join(root, 'rootfs'), background(), { spawner });
      // Before the helper is up (the first await is the rootfs mkdir): a corrupt gzip's error, as zlib emits it.
      setImmediate(() => input.destroy(new Error('invalid bit length repeat')));
      await expect(layer).rejects.toThrow('invalid bit length repeat');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('unpacks a tar', async () => {
    const root = mkdtempSync(join(tmpdir(), 'unpack-ok-'));
    try {
      const tar = spawnSync('tar', ['-c', '-C', root, '--files-from', '/dev/null']).stdout;
      const info = await unpackLayer(Readable.from([tar]), join(root, 'rootfs'), background(), { spawner });
      expect(info).toEqual({ whiteouts: [], opaques: [] });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('parseRecords', () => {
  it('splits whiteout and opaque records', () => {
    expect(parseRecords(Buffer.from('wa/b\0oc\0o\0wx\0'))).toEqual({ whiteouts: ['a/b', 'x'], opaques: ['c', ''] });
  });
});

describe('topmostOnce', () => {
  it('keeps each lower dir once, at its topmost place', () => {
    expect(topmostOnce(['a', 'b', 'a', 'c', 'b'])).toEqual(['a', 'c', 'b']);
    expect(topmostOnce(['a', 'b'])).toEqual(['a', 'b']);
  });
});
