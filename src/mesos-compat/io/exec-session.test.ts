import { describe, expect, it } from 'vitest';
import { execProcess } from './exec-session';

describe('execProcess', () => {
  it('sets terminal from the session and adds TERM only for a tty without one', () => {
    const spec = { args: ['sh'], env: ['PATH=/bin'], cwd: '/' };
    expect(execProcess(spec, false)).toEqual({ args: ['sh'], env: ['PATH=/bin'], cwd: '/', terminal: false });
    expect(execProcess(spec, true)).toEqual({ args: ['sh'], env: ['PATH=/bin', 'TERM=xterm'], cwd: '/', terminal: true });
    expect(execProcess({ ...spec, env: ['TERM=vt100'] }, true)).toMatchObject({ env: ['TERM=vt100'] });
    expect(execProcess({ args: ['sh'] }, true)).toMatchObject({ env: ['TERM=xterm'] });
  });
});
