import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getXattr } from '../support/xattr';
import { unpackLayer } from '../../src/provisioner/unpack/unpack';
import { buildImage, buildLayer, busyboxEntries, pushImage, tarOf, type TarEntry } from '../support/images';
import { startRegistry, type TestRegistry } from '../support/registry';
import { ctx, tempProvisioner } from './helpers';

// Layer extraction as root: metadata is preserved, whiteouts become overlay
// whiteouts, and hostile layers fail without writing outside the root.
let base: string;
let outside: string;
const passwdHash = (): string => createHash('sha256').update(readFileSync('/etc/passwd')).digest('hex');
const passwdBefore = passwdHash();

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'mesos-cri-unpack-'));
  outside = join(base, 'outside');
  await rm(outside, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(outside));
  await writeFile(join(outside, 'sentinel'), 'x');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

let n = 0;
async function unpack(entries: TarEntry[]): Promise<string> {
  const root = join(base, `root${n++}`);
  await unpackLayer(Readable.from([await tarOf(entries)]), root, ctx);
  return root;
}

describe('unpackLayer', () => {
  it('preserves ownership, modes, setuid, mtimes, links, xattrs and special files', async () => {
    const mtime = new Date('2020-02-02T02:02:02Z');
    const root = await unpack([
      { name: 'dir/', type: 'directory', mode: 0o710, uid: 1000, gid: 1001, mtime },
      { name: 'dir/suid', content: 'bin', mode: 0o4755, uid: 1000, gid: 1001, mtime },
      { name: 'dir/link', type: 'symlink', linkname: 'suid', mtime },
      { name: 'dir/hard', type: 'link', linkname: 'dir/suid' },
      { name: 'dir/attr', content: 'a', pax: { 'SCHILY.xattr.user.test': 'value' } },
      { name: 'dir/fifo', type: 'fifo', mode: 0o600 },
      { name: 'dir/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    ]);
    const d = statSync(join(root, 'dir'));
    expect([d.mode & 0o7777, d.uid, d.gid, d.mtime.getTime()]).toEqual([0o710, 1000, 1001, mtime.getTime()]);
    const f = statSync(join(root, 'dir/suid'));
    expect([f.mode & 0o7777, f.uid, f.gid, f.mtime.getTime()]).toEqual([0o4755, 1000, 1001, mtime.getTime()]);
    expect(readlinkSync(join(root, 'dir/link'))).toBe('suid');
    expect(lstatSync(join(root, 'dir/link')).mtime.getTime()).toBe(mtime.getTime());
    expect(statSync(join(root, 'dir/hard')).ino).toBe(f.ino);
    expect(getXattr(join(root, 'dir/attr'), 'user.test')?.toString()).toBe('value');
    expect(lstatSync(join(root, 'dir/fifo')).isFIFO()).toBe(true);
    const dev = lstatSync(join(root, 'dir/null'));
    expect(dev.isCharacterDevice() && dev.rdev === 0x103).toBe(true);
  });

  it('converts whiteouts and opaque directories to overlay form', async () => {
    const root = await unpack([
      { name: 'a/', type: 'directory' },
      { name: 'a/.wh.gone', content: '' },
      { name: 'b/.wh..wh..opq', content: '' },
      { name: 'b/kept', content: 'k' },
    ]);
    const wh = lstatSync(join(root, 'a/gone'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(existsSync(join(root, 'a/.wh.gone'))).toBe(false);
    expect(getXattr(join(root, 'b'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(readdirSync(join(root, 'b'))).toEqual(['kept']);
  });

  it('keeps absolute symlinks inside the root and never writes through a symlink', async () => {
    const root = await unpack([
      { name: 'abs', type: 'symlink', linkname: outside },
      { name: 'abs/pwned', content: 'x' },
      { name: 'passwd', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'passwd', content: 'replaced' },
    ]);
    expect(readFileSync(join(root, outside, 'pwned'), 'utf8')).toBe('x');
    expect(readFileSync(join(root, 'passwd'), 'utf8')).toBe('replaced');
    expect(lstatSync(join(root, 'passwd')).isFile()).toBe(true);
    expect(readdirSync(outside)).toEqual(['sentinel']);
    expect(passwdHash()).toBe(passwdBefore);
  });

  const hostile: Array<[string, TarEntry[]]> = [
    ['a ".." path', [{ name: '../../escape', content: 'x' }]],
    ['a hardlink with ".."', [{ name: 'hl', type: 'link', linkname: '../../../../etc/passwd' }]],
    ['a hardlink to a file outside the layer', [{ name: 'hl', type: 'link', linkname: '/etc/passwd' }]],
    ['a hardlink through a symlink out', [{ name: 'up', type: 'symlink', linkname: '../../../../../..' }, { name: 'hl', type: 'link', linkname: 'up/etc/passwd' }]],
  ];
  it.each(hostile)('refuses %s and writes nothing outside', async (_what, entries) => {
    await expect(unpack(entries)).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/entry ".*": /) });
    expect(readdirSync(outside)).toEqual(['sentinel']);
    expect(existsSync(join(base, 'escape'))).toBe(false);
    expect(passwdHash()).toBe(passwdBefore);
  });

  // Symlinks in parents resolve as if the root were `/` (containerd's `fs.RootPath`): contained, not refused.
  // (Functions: `outside` is known only once `beforeAll` ran.)
  const contained: Array<[string, () => TarEntry[]]> = [
    ['a symlink parent leading out', () => [{ name: 'evil', type: 'symlink', linkname: '../../../../../../../../..' + outside }, { name: 'evil/pwned', content: 'x' }]],
    ['a nested symlink climbing out', () => [{ name: 'a/', type: 'directory' }, { name: 'a/b', type: 'symlink', linkname: '../..' + outside }, { name: 'a/b/pwned', content: 'x' }]],
  ];
  it.each(contained)('keeps %s inside the root', async (_what, entries) => {
    const root = await unpack(entries());
    expect(readFileSync(join(root, outside, 'pwned'), 'utf8')).toBe('x');
    expect(readdirSync(outside)).toEqual(['sentinel']);
  });
});

describe('pulling a hostile image', () => {
  let reg: TestRegistry;
  let p: Awaited<ReturnType<typeof tempProvisioner>>;
  beforeAll(async () => {
    reg = await startRegistry();
    p = await tempProvisioner();
  });
  afterAll(async () => {
    await p?.cleanup();
    await reg?.stop();
  });

  it('fails the pull, lists no image and leaves no layer', async () => {
    const evil = await buildLayer([{ name: 'x/', type: 'directory' }, { name: 'x/../../pwned', content: 'x' }]);
    const { ref } = await pushImage(reg, 'hostile:1', buildImage([await buildLayer(busyboxEntries()), evil]));
    await expect(p.store.pull(ref, {}, ctx)).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect(await p.store.list()).toEqual([]);
    expect(readdirSync(outside)).toEqual(['sentinel']);
    expect(existsSync(join(p.workDir, 'provisioner/store/layers/sha256', evil.digest.slice(7)))).toBe(false);
  });
});

describe('pulling onto a full disk', () => {
  it('fails with RESOURCE_EXHAUSTED naming the layer, and leaves nothing in staging', async () => {
    const reg = await startRegistry();
    const small = await import('node:fs/promises').then((fs) => fs.mkdtemp(join(tmpdir(), 'mesos-cri-full-')));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      const p = await tempProvisioner({ workDir: small });
      // 16 MiB of zeros: a few KiB to download, too big to extract on 4 MiB.
      const l = await buildLayer([{ name: 'zeros', content: Buffer.alloc(16 << 20) }]);
      const { ref } = await pushImage(reg, 'full:1', buildImage([l]));
      await expect(p.store.pull(ref, {}, ctx)).rejects.toMatchObject({ code: 'ResourceExhausted', message: expect.stringMatching(new RegExp(`layer ${l.digest}: entry "zeros": cannot write file: No space left on device`)) });
      expect(readdirSync(join(small, 'provisioner/store/staging'))).toEqual([]);
    } finally {
      execFileSync('umount', ['-l', small]);
      rmSync(small, { recursive: true, force: true });
      await reg.stop();
    }
  });
});
