import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { isCriError } from '../../common/errors';
import { portForwardSession, socatError } from './port-forward-session';

describe('socatError', () => {
  it('keeps socat errors and foreign lines, drops its notices and warnings', () => {
    expect(socatError('2026/11/22 05:02:06 socat[16541] E connect(5, AF=2 127.0.0.1:22, 16): Connection refused')).toBe(
      'connect(5, AF=2 127.0.0.1:22, 16): Connection refused',
    );
    expect(socatError('2026/11/22 05:02:06 socat[16541] N opening connection to AF=2 127.0.0.1:22')).toBeUndefined();
    expect(socatError('2026/11/22 05:02:06 socat[16541] W recvmsg(): Resource temporarily unavailable')).toBeUndefined();
    expect(socatError("nsenter: cannot open /run/netns/x: No such file or directory")).toBe('nsenter: cannot open /run/netns/x: No such file or directory');
    expect(socatError('   ')).toBeUndefined();
  });
});

describe('portForwardSession', () => {
  it('rejects ports outside 1..65535 before spawning anything', async () => {
    for (const port of [0, -1, 65536, 1.5]) {
      const err = await portForwardSession({ port, socatPath: '/nonexistent' }, new PassThrough(), background()).catch((e: unknown) => e);
      expect(isCriError(err, 'InvalidArgument')).toBe(true);
    }
  });

  it('reports a helper that cannot be spawned', async () => {
    const err = await portForwardSession({ port: 80, socatPath: '/nonexistent/socat' }, new PassThrough(), background()).catch((e: unknown) => e);
    expect(isCriError(err, 'Unavailable')).toBe(true);
    expect(String(err)).toMatch(/ENOENT/);
  });
});
