import { describe, expect, it } from 'vitest';
import { SPDY_REMOTE_COMMAND, WS_PORT_FORWARD, WS_REMOTE_COMMAND, describeVersion, negotiate } from './protocols';

describe('negotiate', () => {
  it('takes the first protocol in the client order that the server speaks', () => {
    expect(negotiate(['v5.channel.k8s.io', 'v4.channel.k8s.io'], SPDY_REMOTE_COMMAND)).toBe('v5.channel.k8s.io');
    expect(negotiate(['v9.x', 'v3.channel.k8s.io', 'v4.channel.k8s.io'], SPDY_REMOTE_COMMAND)).toBe('v3.channel.k8s.io');
    expect(negotiate(['v9.x'], SPDY_REMOTE_COMMAND)).toBeUndefined();
  });

  it('does not offer v5 or v3 for WebSocket port-forward', () => {
    expect(negotiate(['v5.channel.k8s.io', 'v4.channel.k8s.io'], WS_PORT_FORWARD)).toBe('v4.channel.k8s.io');
    expect(negotiate(['v3.channel.k8s.io'], WS_REMOTE_COMMAND)).toBeUndefined();
  });
});

describe('describeVersion', () => {
  it('derives framing and status format', () => {
    expect(describeVersion('v5.channel.k8s.io')).toMatchObject({ version: 5, jsonStatus: true, base64: false, closeSignal: true });
    expect(describeVersion('v4.base64.channel.k8s.io')).toMatchObject({ version: 4, jsonStatus: true, base64: true, closeSignal: false });
    expect(describeVersion('base64.channel.k8s.io')).toMatchObject({ version: 1, jsonStatus: false, base64: true });
    expect(describeVersion('')).toMatchObject({ version: 1, jsonStatus: false, base64: false });
  });
});
