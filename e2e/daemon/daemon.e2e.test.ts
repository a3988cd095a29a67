import { status as Status } from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, MAIN_JS } from '../support/build';
import { codeOf } from '../support/cri-client';
import { startDaemon, type Daemon } from '../support/daemon';

describe('mesos-cri daemon over its unix socket', () => {
  let d: Daemon;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('answers Version with our name, the CRI API version and the package version', async () => {
    const res = await d.runtime.call<Record<string, string>>('Version', { version: 'v1' });
    expect(res.runtime_name).toBe('mesos-cri');
    expect(res.runtime_api_version).toBe('v1');
    expect(res.runtime_version).toBe(require('../../package.json').version);
  });

  it('reports RuntimeReady true and NetworkReady false with a reason while no CNI config exists', async () => {
    const res = await d.runtime.call<{ status: { conditions: Array<{ type: string; status: boolean; reason: string; message: string }> } }>('Status', {});
    const byType = Object.fromEntries(res.status.conditions.map((c) => [c.type, c]));
    expect(byType.RuntimeReady?.status).toBe(true);
    expect(byType.NetworkReady?.status).toBe(false);
    expect(byType.NetworkReady?.reason).toBe('NetworkPluginNotReady');
    expect(byType.NetworkReady?.message).toContain(join(d.base, 'cni'));
  });

  it('flips NetworkReady to true once a CNI config appears, without a restart', async () => {
    mkdirSync(join(d.base, 'cni'), { recursive: true });
    writeFileSync(join(d.base, 'cni', '99-loopback.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo-only', plugins: [{ type: 'loopback' }] }));
    const res = await d.runtime.call<{ status: { conditions: Array<{ type: string; status: boolean }> } }>('Status', {});
    expect(res.status.conditions.find((c) => c.type === 'NetworkReady')?.status).toBe(true);
  });

  it('reports the cgroupfs driver in RuntimeConfig', async () => {
    const res = await d.runtime.call<{ linux: { cgroup_driver: string } }>('RuntimeConfig', {});
    expect(res.linux.cgroup_driver).toBe('CGROUPFS');
  });

  it('answers UNIMPLEMENTED for a method the CRI does not have, and NOT_FOUND naming what is missing', async () => {
    const raw = d.runtime.raw;
    const err = await new Promise<unknown>((resolve) =>
      raw.makeUnaryRequest('/runtime.v1.RuntimeService/NoSuchRpc', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e)),
    );
    expect(codeOf(err)).toBe(Status.UNIMPLEMENTED);
    const nf = await d.runtime.call('CheckpointContainer', { container_id: 'x', location: '/tmp/x.tar' }).catch((e: unknown) => e);
    expect(codeOf(nf)).toBe(Status.NOT_FOUND);
    expect(String((nf as Error).message)).toContain('"x"');
  });

  it('creates the socket with mode 0660', () => {
    expect(statSync(d.socket).mode & 0o777).toBe(0o660);
  });

  it('refuses to start a second daemon on a live socket', () => {
    const r = spawnSync(process.execPath, [MAIN_JS, '--socket', d.socket, '--work-dir', join(d.base, 'lib2'), '--run-dir', join(d.base, 'run2'), '--config', join(d.base, 'none.yaml')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('another daemon is serving it');
  });

  it('logs each call as a JSON line with level, rpc and duration', async () => {
    // The line is written after the reply went out: give it a moment to arrive.
    const parse = (): Array<Record<string, unknown>> => d.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (let i = 0; i < 40 && !parse().some((l) => l.rpc === 'CheckpointContainer'); i++) await new Promise((r) => setTimeout(r, 50));
    const lines = parse();
    const call = lines.find((l) => l.rpc === 'Version');
    expect(call).toMatchObject({ level: 'debug', rpc: 'Version' });
    expect(typeof call?.duration_ms).toBe('number');
    const failed = lines.find((l) => l.rpc === 'CheckpointContainer');
    expect(failed).toMatchObject({ level: 'info', code: 'NOT_FOUND' });
  });
});

describe('daemon lifecycle', () => {
  it('replaces a stale socket left by a killed daemon and exits 0 on SIGTERM', async () => {
    const first = await startDaemon();
    try {
      await first.kill9();
      expect(statSync(first.socket).isSocket()).toBe(true);
      const second = await first.restart();
      const res = await second.runtime.call<Record<string, string>>('Version', {});
      expect(res.runtime_name).toBe('mesos-cri');
      expect(await second.stop()).toBe(0);
    } finally {
      await first.cleanup();
    }
  });

  it('stops with a message naming the key when the config file is invalid', () => {
    ensureBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'mcri-cfg-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, 'streaming:\n  port: "eighty"\n');
      const r = spawnSync(process.execPath, [MAIN_JS, '--config', file, '--socket', join(dir, 's.sock')], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('streaming.port');
      expect(r.stderr).toContain('non-negative number');
      writeFileSync(file, 'sokcet: /tmp/x.sock\n');
      const r2 = spawnSync(process.execPath, [MAIN_JS, '--config', file], { encoding: 'utf8', timeout: 20_000 });
      expect(r2.status).toBe(2);
      expect(r2.stderr).toContain('unknown key "sokcet"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists every flag in --help', () => {
    ensureBuilt();
    const r = spawnSync(process.execPath, [MAIN_JS, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const flag of ['--socket', '--work-dir', '--run-dir', '--runtime', '--cni-conf-dir', '--registry-mirror', '--stream-address'])
      expect(r.stdout).toContain(flag);
  });
});
