import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dialSpdy } from './spdy-client';
import { startHarness, type Harness } from './harness';
import { finishCommand, openCommand, spdyRun, until } from './spdy-remotecommand';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const exec = (cmd: string[], o: { tty?: boolean; stdin?: boolean; stderr?: boolean } = {}): string =>
  h.server.getExec({ containerId: 'c1', cmd, tty: o.tty ?? false, stdin: o.stdin ?? false, stdout: true, stderr: o.stderr ?? !o.tty });

describe('SPDY exec', () => {
  it('runs a command with separate stdout and stderr and exit code 0', async () => {
    const r = await spdyRun(exec(['sh', '-c', 'echo out; echo err >&2']));
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.errorText)).toMatchObject({ status: 'Success' });
    expect(r.how).toEqual({ stdout: 'fin', error: 'fin' });
  });

  it('reports a non-zero exit code in the status document', async () => {
    const r = await spdyRun(exec(['sh', '-c', 'echo bye; exit 3']));
    expect(r.stdout).toBe('bye\n');
    expect(r.exitCode).toBe(3);
  });

  it('pipes stdin to the process and ends it at the client FIN', async () => {
    const r = await spdyRun(exec(['sh', '-c', 'cat; echo done'], { stdin: true }), { stdin: 'hello\nworld\n' });
    expect(r.stdout).toBe('hello\nworld\ndone\n');
    expect(r.exitCode).toBe(0);
  });

  it('delivers large output without any WINDOW_UPDATE from the client', async () => {
    const r = await spdyRun(exec(['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x']));
    expect(r.stdout.length).toBe(300_000);
    expect(r.exitCode).toBe(0);
  });

  it('speaks v4 and the text-status v2 protocol when the client offers only those', async () => {
    const v4 = await spdyRun(exec(['sh', '-c', 'exit 4']), { protocols: ['v4.channel.k8s.io'] });
    expect(v4.protocol).toBe('v4.channel.k8s.io');
    expect(v4.exitCode).toBe(4);
    const s = await openCommand(exec(['sh', '-c', 'exit 5']), { stdin: false, stdout: true, stderr: true, tty: false }, ['v2.channel.k8s.io']);
    expect(s.protocol).toBe('v2.channel.k8s.io');
    await Promise.all([s.stdout!.ended, s.stderr!.ended, s.error.ended]);
    expect(s.error.text()).toContain('non-zero exit code');
    await s.client.close();
  });

  it('refuses unknown protocols with 403 and lists what it accepts', async () => {
    const url = exec(['true']);
    const { client, response } = await dialSpdy(url, { protocols: ['v9.channel.k8s.io'] });
    expect(client).toBeUndefined();
    expect(response.status).toBe(403);
    expect(response.headers['x-accepted-stream-protocol-versions']).toContain('v4.channel.k8s.io');
    expect(h.runtime.execCount).toBe(0);
  });

  it('gives the process a terminal and applies resizes (stty size)', async () => {
    const script = 'until [ "$(stty size)" = "24 80" ]; do sleep 0.02; done; echo first-ok; ' +
      'until [ "$(stty size)" = "40 120" ]; do sleep 0.02; done; echo second-ok; stty size; exit 7';
    const s = await openCommand(exec(['sh', '-c', script], { tty: true, stdin: true }), { stdin: true, stdout: true, stderr: false, tty: true });
    expect(s.stderr).toBeUndefined();
    s.resize!.write('{"Width":80,"Height":24}\n');
    await until(() => s.stdout!.text().includes('first-ok'), 'first resize');
    s.resize!.write('{"Width":120,"Height":40}\n');
    const r = await finishCommand(s);
    expect(r.stdout).toContain('second-ok');
    expect(r.stdout).toContain('40 120');
    expect(r.exitCode).toBe(7);
    expect(h.runtime.resizes).toEqual([{ width: 80, height: 24 }, { width: 120, height: 40 }]);
  });

  it('echoes the client keepalive PING', async () => {
    const s = await openCommand(exec(['sleep', '0.3']), { stdin: false, stdout: true, stderr: true, tty: false });
    await s.client.ping(7);
    const r = await finishCommand(s);
    expect(r.exitCode).toBe(0);
  });

  it('runs concurrent sessions independently', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => spdyRun(exec(['sh', '-c', `read x; echo "$x-${i}"; exit ${i}`], { stdin: true }), { stdin: `in${i}\n` })),
    );
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`in${i}-${i}\n`);
      expect(r.exitCode).toBe(i);
    });
  });

  it('kills the process when the client disappears', async () => {
    const s = await openCommand(exec(['sh', '-c', 'echo started; exec sleep 600']), { stdin: false, stdout: true, stderr: true, tty: false });
    await until(() => s.stdout!.text().includes('started'), 'process start');
    expect(h.runtime.live.size).toBe(1);
    s.client.destroy();
    await until(() => h.runtime.live.size === 0, 'process to be killed');
  });

  it('reports runtime failures as InternalError', async () => {
    const url = h.server.getExec({ containerId: 'missing', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: true });
    const s = await openCommand(url, { stdin: false, stdout: true, stderr: true, tty: false });
    await Promise.all([s.stdout!.ended, s.stderr!.ended, s.error.ended]);
    expect(JSON.parse(s.error.text())).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    await s.client.close();
  });
});

describe('SPDY stream setup', () => {
  it('gives up when the client does not open its streams in time, running nothing', async () => {
    await h.close();
    h = await startHarness({ streamTimeoutMs: 300 });
    const url = exec(['true']);
    const { client } = await dialSpdy(url, { protocols: ['v4.channel.k8s.io'] });
    await client!.open({ streamtype: 'error' });
    await client!.closed;
    expect(h.runtime.execCount).toBe(0);
  });
});
