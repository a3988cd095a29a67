import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendCheckpoint, checkpoint, checkpointFault, moveAside, readCheckpoint, removeStaleTemps } from './checkpoint';
import { CriError, describeError, findCriError } from './errors';
import { KeyedMutex } from './keyed-mutex';
import { Rollback } from './rollback';

describe('checkpoint', () => {
  it('writes atomically, reads back, leaves no temp files, and rejects other versions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    try {
      const path = join(dir, 'sub', 'state.json');
      await checkpoint(path, { a: 1 });
      await checkpoint(path, { a: 2 });
      expect(await readCheckpoint(path)).toEqual({ a: 2 });
      expect(readdirSync(join(dir, 'sub'))).toEqual(['state.json']);
      expect(await readCheckpoint(join(dir, 'absent.json'))).toBeUndefined();
      writeFileSync(path, JSON.stringify({ version: 99, value: {} }));
      await expect(readCheckpoint(path)).rejects.toMatchObject({ fault: 'newer', message: expect.stringMatching(/version 99 is newer/) });
      for (const text of ['{"value":{}}', '{"version":0,"value":{}}', 'garbage', '[1]', '']) {
        writeFileSync(path, text);
        await expect(readCheckpoint(path)).rejects.toMatchObject({ fault: 'corrupt' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports an unreadable checkpoint as such, not as corrupt, and moves a corrupt one aside', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    try {
      // EISDIR would be corrupt; a directory component that is a file gives ENOTDIR: unreadable.
      writeFileSync(join(dir, 'file'), 'x');
      await expect(readCheckpoint(join(dir, 'file', 'state.json'))).rejects.toMatchObject({ fault: 'unreadable' });
      expect(checkpointFault(new Error('EIO'))).toBe('unreadable');
      const path = join(dir, 'bad.json');
      writeFileSync(path, '{torn');
      const aside = await moveAside(path, join(dir, 'quarantine'), 'sandbox-abc/../x');
      expect(aside).toMatch(/quarantine\/.*-sandbox-abc_.._x-[0-9a-f]{6}$/);
      expect(readFileSync(aside!, 'utf8')).toBe('{torn');
      expect(existsSync(path)).toBe(false);
      expect(await moveAside(path, join(dir, 'quarantine'), 'again')).toBeUndefined();
      // The temp files a kill mid-checkpoint leaves, and nothing else.
      for (const f of ['.0123456789ab.tmp', '.4242-7.tmp', '.keep.tmp', 'state.json']) writeFileSync(join(dir, f), '');
      expect(await removeStaleTemps(dir)).toBe(2);
      expect(readdirSync(dir).sort()).toEqual(['.keep.tmp', 'file', 'quarantine', 'state.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('appends states, reads the last whole one, survives a torn write and compacts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    try {
      const path = join(dir, 'sub', 'record.json');
      appendCheckpoint(path, { phase: 'created' });
      appendCheckpoint(path, { phase: 'running' });
      expect(await readCheckpoint(path)).toEqual({ phase: 'running' });
      expect(readdirSync(join(dir, 'sub'))).toEqual(['record.json']);
      // A daemon killed mid-write leaves half a line: the state before it wins,
      // and the next state starts on a line of its own.
      appendFileSync(path, '\n{"version":1,"value":{"phase":"exi');
      expect(await readCheckpoint(path)).toEqual({ phase: 'running' });
      appendCheckpoint(path, { phase: 'exited' });
      expect(await readCheckpoint(path)).toEqual({ phase: 'exited' });
      // A file written by `checkpoint` reads the same.
      await checkpoint(path, { phase: 'old' });
      appendCheckpoint(path, { phase: 'new' });
      expect(await readCheckpoint(path)).toEqual({ phase: 'new' });
      const big = 'x'.repeat(10_000);
      for (let i = 0; i < 20; i++) appendCheckpoint(path, { i, big });
      expect(statSync(path).size).toBeLessThan(64 * 1024);
      expect(await readCheckpoint(path)).toEqual({ i: 19, big });
      expect(readFileSync(path, 'utf8').split('\n').filter(Boolean).length).toBeLessThan(7);
      writeFileSync(path, '{"version":1,"val');
      await expect(readCheckpoint(path)).rejects.toThrow(/no whole state/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Rollback', () => {
  it('runs undo steps in reverse unless committed', async () => {
    const order: string[] = [];
    {
      await using rb = new Rollback();
      rb.add('a', async () => order.push('a'));
      rb.add('b', async () => order.push('b'));
    }
    expect(order).toEqual(['b', 'a']);
    {
      await using rb = new Rollback();
      rb.add('c', async () => order.push('c'));
      rb.commit();
    }
    expect(order).toEqual(['b', 'a']);
  });

  it('keeps going when a step fails', async () => {
    const order: string[] = [];
    const rb = new Rollback();
    rb.add('a', async () => order.push('a'));
    rb.add('b', async () => {
      throw new Error('x');
    });
    await rb.run();
    expect(order).toEqual(['a']);
  });
});

describe('KeyedMutex', () => {
  it('serializes work on one key and not across keys', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const slow = (k: string, tag: string) =>
      m.run(k, async () => {
        log.push(`${tag}+`);
        await new Promise((r) => setTimeout(r, 20));
        log.push(`${tag}-`);
      });
    await Promise.all([slow('x', '1'), slow('x', '2'), slow('y', '3')]);
    expect(log.indexOf('1-')).toBeLessThan(log.indexOf('2+'));
    expect(log.indexOf('3+')).toBeLessThan(log.indexOf('1-'));
    expect(m.size).toBe(0);
  });
});

describe('errors', () => {
  it('finds the CriError along the cause chain and renders causes once', () => {
    const inner = new CriError('NotFound', 'image "x" not found');
    const outer = new Error('failed to create container', { cause: inner });
    expect(findCriError(outer)?.code).toBe('NotFound');
    expect(describeError(outer)).toBe('failed to create container: image "x" not found');
  });
});
