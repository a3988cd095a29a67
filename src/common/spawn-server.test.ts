import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { background } from './ctx';
import { nativeBinary } from './native';
import { SpawnServer } from './spawn-server';

const path = nativeBinary('mesos-cri-spawn');

describe.skipIf(!existsSync(path))('SpawnServer (native/mesos-cri-spawn)', () => {
  const s = new SpawnServer(path);

  it('runs commands concurrently with their exit codes, output, stdin, env and cwd', async () => {
    const big = 'x'.repeat(300_000);
    const [a, b, c, d] = await Promise.all([
      s.run('sh', ['-c', 'echo out; echo err >&2; exit 3'], background()),
      s.run('sh', ['-c', 'cat; echo "[$FOO]"; pwd'], background(), { input: big, env: { FOO: 'bar baz', PATH: '/usr/bin:/bin' }, cwd: '/tmp' }),
      s.run('sh', ['-c', 'kill -TERM $$'], background()),
      s.run('true', [], background()),
    ]);
    expect(a).toMatchObject({ code: 3, signal: null });
    expect(a.stdout.toString()).toBe('out\n');
    expect(a.stderr.toString()).toBe('err\n');
    expect(b.stdout.toString()).toBe(`${big}[bar baz]\n/tmp\n`);
    expect(c.signal).toBe('SIGTERM');
    expect(d).toMatchObject({ code: 0, signal: null });
  });

  it('rejects a command that cannot be started with its errno, like child_process', async () => {
    await expect(s.run('/no/such/binary', [], background())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('kills a command when its context aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = s.run('sleep', ['30'], { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 100);
    const r = await p;
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
