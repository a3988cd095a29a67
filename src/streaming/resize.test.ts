import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { JsonObjectSplitter, ResizeQueue, parseTerminalSize, resizeQueueFrom } from './resize';
import type { TerminalSize } from './runtime';

describe('JsonObjectSplitter', () => {
  it('splits newline-separated, concatenated and fragmented objects', () => {
    const s = new JsonObjectSplitter();
    expect(s.push('{"Width":80,"Height":24}\n{"Wid')).toEqual(['{"Width":80,"Height":24}']);
    expect(s.push('th":81,"Height":25}{"height":1,"width":2}')).toEqual(['{"Width":81,"Height":25}', '{"height":1,"width":2}']);
  });

  it('ignores braces inside strings', () => {
    expect(new JsonObjectSplitter().push('{"a":"}{","Width":1}')).toEqual(['{"a":"}{","Width":1}']);
  });
});

describe('parseTerminalSize', () => {
  it('accepts Go-style and lowercase keys', () => {
    expect(parseTerminalSize('{"Width":80,"Height":24}')).toEqual({ width: 80, height: 24 });
    expect(parseTerminalSize('{"height":24,"width":80}')).toEqual({ width: 80, height: 24 });
  });

  it('rejects zero, negative and malformed sizes', () => {
    expect(parseTerminalSize('{"Width":0,"Height":24}')).toBeUndefined();
    expect(parseTerminalSize('{"Width":-1,"Height":24}')).toBeUndefined();
    expect(parseTerminalSize('{"Width":80}')).toBeUndefined();
    expect(parseTerminalSize('nope')).toBeUndefined();
  });
});

describe('ResizeQueue', () => {
  it('delivers sizes in order and keeps only the newest when the consumer lags', async () => {
    const q = new ResizeQueue();
    q.push({ width: 1, height: 1 });
    q.push({ width: 2, height: 2 });
    const seen: TerminalSize[] = [];
    const done = (async () => {
      for await (const s of q) seen.push(s);
    })();
    await new Promise((r) => setImmediate(r));
    q.push({ width: 3, height: 3 });
    await new Promise((r) => setImmediate(r));
    q.close();
    await done;
    expect(seen).toEqual([{ width: 2, height: 2 }, { width: 3, height: 3 }]);
  });

  it('is fed from a byte stream and ends with it', async () => {
    const stream = new PassThrough();
    const q = resizeQueueFrom(stream);
    const seen: TerminalSize[] = [];
    const done = (async () => {
      for await (const s of q) seen.push(s);
    })();
    stream.write('{"Width":100,"Height":40}\n');
    await new Promise((r) => setImmediate(r));
    stream.end();
    await done;
    expect(seen).toEqual([{ width: 100, height: 40 }]);
  });
});
