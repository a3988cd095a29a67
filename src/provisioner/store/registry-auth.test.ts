import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { credentialsOf, parseChallenges, TokenCache } from './registry-auth';
import type { HttpClient, HttpResponse } from './registry-http';

const reply = (status: number, body: string): HttpResponse => ({ status, header: () => undefined, body: Readable.from([Buffer.from(body)]) });

describe('parseChallenges', () => {
  it('parses bearer and basic challenges with quoted values', () => {
    const got = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
    expect(got).toEqual([{ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } }]);
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseChallenges(null)).toEqual([]);
  });
});

describe('credentialsOf', () => {
  it('decodes the auth field', () => {
    expect(credentialsOf({ auth: Buffer.from('u:p:x').toString('base64') })).toEqual({ username: 'u', password: 'p:x' });
    expect(credentialsOf({ username: 'a', password: 'b' })).toEqual({ username: 'a', password: 'b' });
    expect(credentialsOf({})).toBeUndefined();
  });
});

describe('TokenCache', () => {
  it('caches a token until it expires and sends basic credentials', async () => {
    let now = 1_000_000;
    const calls: string[] = [];
    const fake: HttpClient = async (url, req) => {
      calls.push(`${String(url)} ${JSON.stringify(req.headers)}`);
      return reply(200, JSON.stringify({ token: `t${calls.length}`, expires_in: 120 }));
    };
    const cache = new TokenCache(fake, () => now);
    const ch = { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/token', service: 'reg' } };
    const auth = { username: 'u', password: 'p' };
    expect(await cache.token(ch, 'repository:x:pull', auth, background())).toBe('t1');
    expect(await cache.token(ch, 'repository:x:pull', auth, background())).toBe('t1');
    expect(calls[0]).toContain('scope=repository%3Ax%3Apull');
    expect(calls[0]).toContain('Basic dTpw');
    now += 200_000;
    expect(await cache.token(ch, 'repository:x:pull', auth, background())).toBe('t2');
  });

  it('maps a rejected credential to Unauthenticated', async () => {
    const fake: HttpClient = async () => reply(401, 'no');
    const cache = new TokenCache(fake);
    await expect(cache.token({ scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/t' } }, 's', undefined, background())).rejects.toMatchObject({ code: 'Unauthenticated' });
  });
});

describe('parseChallenges with several challenges', () => {
  it('splits challenges and keeps commas inside quotes', () => {
    expect(parseChallenges('Basic realm="a, b", Bearer realm="https://t/x",service=reg')).toEqual([
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', service: 'reg' } },
    ]);
  });
});
