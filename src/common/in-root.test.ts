import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRegularFileInRoot, resolveInRoot } from './in-root';

describe('resolveInRoot', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'oci-root-'));
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'real/dir'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('joins plain paths', async () => {
    expect(await resolveInRoot(root, '/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, 'etc//./passwd')).toBe(join(root, 'etc/passwd'));
  });

  it('keeps .. from climbing above the root', async () => {
    expect(await resolveInRoot(root, '/../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
  });

  it('re-roots absolute symlink targets', async () => {
    await symlink('/etc/shadow-of-host', join(root, 'etc/link'));
    expect(await resolveInRoot(root, '/etc/link')).toBe(join(root, 'etc/shadow-of-host'));
    await symlink('/real', join(root, 'r'));
    expect(await resolveInRoot(root, '/r/dir/x')).toBe(join(root, 'real/dir/x'));
  });

  it('follows relative symlinks without escaping', async () => {
    await symlink('../../../../../etc', join(root, 'real/dir/up'));
    expect(await resolveInRoot(root, '/real/dir/up/passwd')).toBe(join(root, 'etc/passwd'));
  });

  it('keeps missing components literally', async () => {
    expect(await resolveInRoot(root, '/no/such/path')).toBe(join(root, 'no/such/path'));
  });

  it('fails on symlink loops', async () => {
    await symlink('/b', join(root, 'a'));
    await symlink('/a', join(root, 'b'));
    await expect(resolveInRoot(root, '/a/x')).rejects.toMatchObject({ code: 'ELOOP' });
  });
});

describe('readRegularFileInRoot', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'oci-read-'));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('reads small files at once and big ones through the pool, the same bytes, through in-root symlinks, and refuses what is over the bound', async () => {
    const small = Buffer.from('root:x:0:0::/root:/bin/sh\n');
    const big = Buffer.alloc(200 << 10, 7);
    await writeFile(join(root, 'small'), small);
    await writeFile(join(root, 'big'), big);
    await symlink('/big', join(root, 'link'));
    expect(await readRegularFileInRoot(root, '/small', 1 << 20)).toEqual(small);
    expect(await readRegularFileInRoot(root, '/big', 1 << 20)).toEqual(big);
    expect(await readRegularFileInRoot(root, '/link', 1 << 20)).toEqual(big);
    expect(await readRegularFileInRoot(root, '/missing', 1 << 20)).toBeUndefined();
    await expect(readRegularFileInRoot(root, '/big', 100 << 10)).rejects.toMatchObject({ code: 'EFBIG' });
    await expect(readRegularFileInRoot(root, '/', 1 << 20)).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
