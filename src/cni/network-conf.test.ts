import { describe, expect, it } from 'vitest';
import { parseNetworkConfig, supportsCheck } from './network-conf';

describe('parseNetworkConfig', () => {
  it('reads a conflist', () => {
    const list = parseNetworkConfig(
      JSON.stringify({ cniVersion: '1.0.0', name: 'net', disableCheck: true, plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] }),
      '/d/10.conflist',
    );
    expect(list).toMatchObject({ name: 'net', cniVersion: '1.0.0', disableCheck: true, source: '/d/10.conflist' });
    expect(list.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
  });

  it('lifts a single-plugin .conf into a list of one', () => {
    const list = parseNetworkConfig(JSON.stringify({ cniVersion: '0.3.1', name: 'old', type: 'bridge', bridge: 'cni0' }), '/d/a.conf');
    expect(list.plugins).toEqual([{ cniVersion: '0.3.1', name: 'old', type: 'bridge', bridge: 'cni0' }]);
    expect(list.disableCheck).toBe(false);
  });

  it.each([
    ['{', /invalid JSON/],
    ['[]', /not a JSON object/],
    [JSON.stringify({ name: 'n', plugins: [{ type: 'x' }] }), /missing "cniVersion"/],
    [JSON.stringify({ cniVersion: '0.2.0', name: 'n', plugins: [{ type: 'x' }] }), /unsupported cniVersion "0.2.0"/],
    [JSON.stringify({ cniVersion: '1.1.0', name: 'n', plugins: [{ type: 'x' }] }), /unsupported cniVersion/],
    [JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: 'x' }] }), /missing "name"/],
    [JSON.stringify({ cniVersion: '1.0.0', name: '../x', plugins: [{ type: 'x' }] }), /invalid network name/],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [] }), /no "plugins"/],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ bridge: 'x' }] }), /plugin 0 has no "type"/],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: '../../bin/sh' }] }), /invalid type/],
  ])('rejects %s', (text, reason) => {
    expect(() => parseNetworkConfig(text, '/d/x.conflist')).toThrow(reason);
  });

  it('rejects a conflist file without plugins even if it looks like a plugin', () => {
    expect(() => parseNetworkConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'bridge' }), '/d/x.conflist')).toThrow(/no "plugins"/);
  });

  it('knows which versions support CHECK', () => {
    expect(supportsCheck('0.3.1')).toBe(false);
    expect(supportsCheck('0.4.0')).toBe(true);
    expect(supportsCheck('1.0.0')).toBe(true);
  });
});
