import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { conmonBundle, monitorsUnder } from './monitor-procs';

describe('monitorsUnder', () => {
  const proc = mkdtempSync(join(tmpdir(), 'fake-proc-'));
  afterAll(() => rmSync(proc, { recursive: true, force: true }));
  const fake = (pid: number, argv: string[], state = 'S'): void => {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'cmdline'), argv.join('\0') + '\0');
    writeFileSync(join(proc, String(pid), 'stat'), `${pid} (x) ${state} 1 1`);
  };

  it('finds conmons by their bundle argument under the given dir only', async () => {
    const dir = '/var/lib/mesos-cri/containerizer/sandboxes/s1/containers/c1';
    fake(10, ['/usr/bin/conmon', '--api-version', '-c', 'c1', '-b', `${dir}/bundle`]);
    fake(11, ['conmon', '-c', 'c1', '-b', `${dir}x/bundle`]); // a sibling whose name extends ours
    fake(12, ['/usr/bin/conmon', '-c', 'c1', '-b', '/var/lib/other-runtime/c1/bundle']); // another instance's
    fake(13, ['/bin/sleep', '-b', `${dir}/bundle`]); // not a monitor
    fake(14, ['/usr/bin/conmon', '-c', 'c1', '-b', `${dir}/bundle`], 'Z'); // dead already
    fake(15, ['/usr/bin/notconmon', '-b', `${dir}/bundle`]);
    expect(await monitorsUnder(dir, proc)).toEqual([{ pid: 10, bundle: `${dir}/bundle` }]);
    expect((await monitorsUnder('/var/lib/mesos-cri', proc)).map((m) => m.pid).sort()).toEqual([10, 11]);
  });

  it('reads no bundle from a command line without one', () => {
    expect(conmonBundle(['conmon', '-c', 'x'].join('\0'))).toBeUndefined();
    expect(conmonBundle(['conmon', '-b'].join('\0'))).toBeUndefined();
    expect(conmonBundle('conmon\0-b\0\0')).toBeUndefined();
    expect(conmonBundle('conmon\0-b\0relative/bundle\0')).toBeUndefined();
    expect(conmonBundle('/usr/bin/conmon\0-b\0/b\0')).toBe('/b');
    expect(conmonBundle('')).toBeUndefined();
  });
});
