import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRegularFileInRoot } from './in-root';

const root = mkdtempSync(join(tmpdir(), 'rootfs-file-'));
const host = mkdtempSync(join(tmpdir(), 'rootfs-host-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(host, { recursive: true, force: true });
});

describe('readRegularFileInRoot', () => {
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(host, 'secret'), 'host secret');

  it('reads a regular file and answers undefined for a missing one', async () => {
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    expect((await readRegularFileInRoot(root, '/etc/passwd', 1024))?.toString()).toMatch(/^root:/);
    expect(await readRegularFileInRoot(root, '/etc/missing', 1024)).toBeUndefined();
  });

  it('refuses a FIFO at once instead of hanging on it', async () => {
    execFileSync('mkfifo', [join(root, 'etc/fifo')]);
    const t = Date.now();
    await expect(readRegularFileInRoot(root, '/etc/fifo', 1024)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('refuses a file over the cap', async () => {
    writeFileSync(join(root, 'etc/big'), Buffer.alloc(2048));
    await expect(readRegularFileInRoot(root, '/etc/big', 1024)).rejects.toMatchObject({ code: 'EFBIG' });
  });

  it('resolves a symlink to a host path inside the root', async () => {
    symlinkSync(join(host, 'secret'), join(root, 'etc/group'));
    expect(await readRegularFileInRoot(root, '/etc/group', 1024)).toBeUndefined();
  });
});
