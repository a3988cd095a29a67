import { describe, expect, it } from 'vitest';
import { parseListenAddress } from './config-metrics';

describe('metrics.address', () => {
  it('takes HOST:PORT and [IPv6]:PORT', () => {
    expect(parseListenAddress('127.0.0.1:9090')).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseListenAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseListenAddress('localhost:1')).toEqual({ host: 'localhost', port: 1 });
  });

  it('refuses anything else', () => {
    for (const bad of ['9090', ':9090', 'localhost', '127.0.0.1:0', '127.0.0.1:70000', '::1:9090', 'a b:1']) {
      expect(() => parseListenAddress(bad), bad).toThrow(/HOST:PORT/);
    }
  });
});
