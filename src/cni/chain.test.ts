import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { background } from '../common/ctx';
import { setLogSink } from '../common/log';
import { addNetworkList, checkNetworkList, delNetworkList } from './chain';
import type { NetworkConfigList } from './network-conf';
import { fakePlugins } from './fake-plugins.test-util';
import type { RuntimeConf } from './invoke';

const mk = (cniVersion: string, types: string[], disableCheck = false): NetworkConfigList => ({
  name: 'net',
  cniVersion,
  disableCheck,
  source: 'x',
  plugins: types.map((type) => ({ type })),
});
const rt: RuntimeConf = { containerId: 'sb', netns: '/ns', ifName: 'eth0', cniArgs: [], capabilityArgs: {} };
const cached = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.9/24' }] };

describe('chain', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('ADD runs in order, chaining each result into the next prevResult', async () => {
    const f = fakePlugins(['a', 'b'], (c) => ({ json: { from: c.plugin } }));
    dirs.push(f.binDir);
    const res = await addNetworkList({ exec: f.exec, binDirs: [f.binDir] }, mk('1.0.0', ['a', 'b']), rt, background());
    expect(res).toEqual({ from: 'b' });
    expect(f.calls.map((c) => [c.plugin, c.stdin.prevResult])).toEqual([
      ['a', undefined],
      ['b', { from: 'a' }],
    ]);
  });

  it('ADD stops at the first error', async () => {
    const f = fakePlugins(['a', 'b'], (c) => (c.plugin === 'a' ? { code: 1, json: { code: 100, msg: 'no' } } : { json: {} }));
    dirs.push(f.binDir);
    await expect(addNetworkList({ exec: f.exec, binDirs: [f.binDir] }, mk('1.0.0', ['a', 'b']), rt, background())).rejects.toThrow(/no/);
    expect(f.calls).toHaveLength(1);
  });

  it('DEL runs in reverse with the cached result on 1.0.0 and without it on 0.3.1', async () => {
    const f = fakePlugins(['a', 'b']);
    dirs.push(f.binDir);
    await delNetworkList({ exec: f.exec, binDirs: [f.binDir] }, mk('1.0.0', ['a', 'b']), rt, cached, background());
    await delNetworkList({ exec: f.exec, binDirs: [f.binDir] }, mk('0.3.1', ['a', 'b']), rt, cached, background());
    expect(f.calls.map((c) => [c.plugin, c.env.CNI_COMMAND, c.stdin.prevResult])).toEqual([
      ['b', 'DEL', cached],
      ['a', 'DEL', cached],
      ['b', 'DEL', undefined],
      ['a', 'DEL', undefined],
    ]);
  });

  it('DEL keeps going past a failing plugin, skips a missing one, and reports the first error', async () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    const f = fakePlugins(['ipam-owner', 'broken'], (c) => (c.plugin === 'broken' ? { code: 1, json: { code: 100, msg: 'broken del' } } : {}));
    dirs.push(f.binDir);
    await expect(
      delNetworkList({ exec: f.exec, binDirs: [f.binDir] }, mk('1.0.0', ['ipam-owner', 'broken', 'missing']), rt, cached, background()),
    ).rejects.toThrow(/broken del/);
    setLogSink((l) => process.stderr.write(`${l}\n`));
    expect(f.calls.map((c) => c.plugin)).toEqual(['broken', 'ipam-owner']);
    expect(lines.some((l) => l.includes('not installed'))).toBe(true);
  });

  it('CHECK runs in order on 0.4.0+, and is skipped for 0.3.x or disableCheck', async () => {
    const f = fakePlugins(['a', 'b']);
    dirs.push(f.binDir);
    const deps = { exec: f.exec, binDirs: [f.binDir] };
    expect(await checkNetworkList(deps, mk('0.3.1', ['a', 'b']), rt, cached, background())).toBe(false);
    expect(await checkNetworkList(deps, mk('1.0.0', ['a', 'b'], true), rt, cached, background())).toBe(false);
    expect(f.calls).toEqual([]);
    expect(await checkNetworkList(deps, mk('0.4.0', ['a', 'b']), rt, cached, background())).toBe(true);
    expect(f.calls.map((c) => [c.plugin, c.env.CNI_COMMAND, c.stdin.prevResult])).toEqual([
      ['a', 'CHECK', cached],
      ['b', 'CHECK', cached],
    ]);
  });
});
