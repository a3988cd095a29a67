import { describe, expect, it } from 'vitest';
import { endpointsFor } from './endpoints';

describe('endpointsFor', () => {
  it('puts mirrors first, in order, then the origin', () => {
    expect(endpointsFor('registry.k8s.io', { 'registry.k8s.io': ['127.0.0.1:5000', 'https://mirror.example'] }, [])).toEqual([
      { base: 'http://127.0.0.1:5000', mirror: true },
      { base: 'https://mirror.example', mirror: true },
      { base: 'https://registry.k8s.io', mirror: false },
    ]);
  });

  it('maps docker.io to its API host and uses plain HTTP only for loopback or insecure hosts', () => {
    expect(endpointsFor('docker.io', {}, [])).toEqual([{ base: 'https://registry-1.docker.io', mirror: false }]);
    expect(endpointsFor('localhost:5000', {}, [])[0]!.base).toBe('http://localhost:5000');
    expect(endpointsFor('reg.lan:5000', {}, ['reg.lan:5000'])[0]!.base).toBe('http://reg.lan:5000');
    expect(endpointsFor('reg.lan:5000', {}, [])[0]!.base).toBe('https://reg.lan:5000');
    expect(() => endpointsFor('x.io', { 'x.io': ['http://mirror.example'] }, [])).toThrow(/plain HTTP only/);
  });
});
