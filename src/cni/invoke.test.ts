import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { background } from '../common/ctx';
import type { NetworkConfigList } from './network-conf';
import { fakePlugins } from './fake-plugins.test-util';
import { CniPluginError, invokePlugin, pluginStdin, type RuntimeConf } from './invoke';

const list: NetworkConfigList = {
  name: 'net',
  cniVersion: '1.0.0',
  disableCheck: false,
  source: '/d/x.conflist',
  plugins: [
    { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local' } },
    { type: 'portmap', capabilities: { portMappings: true, bandwidth: false, dns: true } },
  ],
};
const rt: RuntimeConf = {
  containerId: 'sb1',
  netns: '/run/netns/sb1',
  ifName: 'eth0',
  cniArgs: [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAME', 'web'],
  ],
  capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }], bandwidth: { ingressRate: 1 } },
};

describe('pluginStdin', () => {
  it('injects name, version, prevResult and only declared capabilities', () => {
    expect(pluginStdin(list, list.plugins[1]!, rt, { ips: [] })).toEqual({
      type: 'portmap',
      capabilities: { portMappings: true, bandwidth: false, dns: true },
      name: 'net',
      cniVersion: '1.0.0',
      prevResult: { ips: [] },
      runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] },
    });
  });

  it('adds no runtimeConfig or prevResult when there is none', () => {
    const conf = pluginStdin(list, list.plugins[0]!, rt);
    expect(conf).not.toHaveProperty('runtimeConfig');
    expect(conf).not.toHaveProperty('prevResult');
  });
});

describe('invokePlugin', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('passes the CNI environment and returns the ADD result', async () => {
    const f = fakePlugins(['bridge'], () => ({ json: { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] } }));
    dirs.push(f.binDir);
    const res = await invokePlugin({ exec: f.exec, binDirs: ['/nonexistent', f.binDir] }, 'ADD', list, list.plugins[0]!, rt, undefined, background());
    expect(res).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
    expect(f.calls[0]!.env).toMatchObject({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'sb1',
      CNI_NETNS: '/run/netns/sb1',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
      CNI_PATH: `/nonexistent:${f.binDir}`,
    });
  });

  it('turns a CNI error object into CniPluginError with the plugin message', async () => {
    const f = fakePlugins(['bridge'], () => ({ code: 1, json: { cniVersion: '1.0.0', code: 7, msg: 'bad config', details: 'no bridge' } }));
    dirs.push(f.binDir);
    const err = await invokePlugin({ exec: f.exec, binDirs: [f.binDir] }, 'ADD', list, list.plugins[0]!, rt, undefined, background()).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CniPluginError);
    expect(err).toMatchObject({ cniCode: 7, message: 'plugin type="bridge" failed (add): bad config; no bridge' });
  });

  it('falls back to stderr when the plugin prints no error object', async () => {
    const f = fakePlugins(['bridge'], () => ({ code: 2, stderr: Buffer.from('panic: boom\n') }));
    dirs.push(f.binDir);
    await expect(invokePlugin({ exec: f.exec, binDirs: [f.binDir] }, 'DEL', list, list.plugins[0]!, rt, undefined, background())).rejects.toThrow(
      'plugin type="bridge" failed (del): panic: boom',
    );
  });

  it('names a missing plugin and the search path', async () => {
    const f = fakePlugins([]);
    dirs.push(f.binDir);
    await expect(invokePlugin({ exec: f.exec, binDirs: [f.binDir] }, 'ADD', list, list.plugins[0]!, rt, undefined, background())).rejects.toThrow(
      `failed to find plugin "bridge" in path [${f.binDir}]`,
    );
    expect(f.calls).toEqual([]);
  });
});
