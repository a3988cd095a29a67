import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PTY_HELPER_SOURCE } from './pty-helper';

const python = (() => {
  try {
    execFileSync('python3', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!python)('PTY_HELPER_SOURCE', () => {
  it('compiles under the host python3', () => {
    const out = execFileSync('python3', ['-c', 'import sys; compile(sys.stdin.read(), "pty-helper", "exec"); print("ok")'], { input: PTY_HELPER_SOURCE });
    expect(out.toString().trim()).toBe('ok');
  });
});
