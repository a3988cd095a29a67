import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectablePath, MAX_SOCKET_PATH } from './socket-path';

describe('connectablePath', () => {
  it('keeps short paths and reaches long ones through an open directory fd', async () => {
    const short = await connectablePath('/run/x/attach');
    expect(short.path).toBe('/run/x/attach');
    await short.close();

    const base = await mkdtemp(join(tmpdir(), 'sockpath-'));
    try {
      const deep = join(base, 'd'.repeat(MAX_SOCKET_PATH));
      await mkdir(deep);
      const long = await connectablePath(join(deep, 'attach'));
      expect(long.path).toMatch(/^\/proc\/self\/fd\/\d+\/attach$/);
      expect(long.path.length).toBeLessThanOrEqual(MAX_SOCKET_PATH);
      await long.close();
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
