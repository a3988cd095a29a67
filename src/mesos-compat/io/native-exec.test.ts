import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CriError } from '../../common/errors';
import { nativeBinary } from '../../common/native';
import { SpawnServer } from '../../common/spawn-server';
import { drained, startNativeExec } from './native-exec';

// A stand-in for native/mesos-cri-exec: runs its "command" as a shell
// script and reports the exit on fd 4, as the helper does.
const dir = mkdtempSync(join(tmpdir(), 'native-exec-'));
const helper = join(dir, 'helper');
writeFileSync(helper, '#!/bin/sh\nshift\nsh -c "$1" 3>&- 4>&-\nprintf \'{"exitCode":%d}\\n\' $? >&4\n');
chmodSync(helper, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The real spawn server (scripts/setup.sh builds it), and the fork of this process.
const server = new SpawnServer(nativeBinary('mesos-cri-spawn'));

describe.each([
  ['through the spawn server', server],
  ['forked', undefined],
])('startNativeExec %s', (_how, spawner) => {
  const start = (script: string, o: { stdin?: boolean } = {}) =>
    startNativeExec([script], { helper, plan: 'unused', containerId: 'c1', tty: false, stdin: !!o.stdin, stdout: true, stderr: false, drainMs: 50, spawner });

  it('delivers all output to a slow reader after the exit, however long that takes', async () => {
    const p = await start('head -c 262144 /dev/zero; exit 3');
    let got = 0;
    // A reader slower than the drain limit per chunk: what a client's flow control looks like.
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        got += chunk.length;
        setTimeout(cb, 150);
      },
    });
    p.stdout!.pipe(slow);
    expect(await p.done).toBe(3);
    // The writable may still hold the last chunk the pipe handed it; it ends once all were written.
    await finished(slow);
    expect(got).toBe(262144);
  });

  it('stops waiting for output that a background child holds open and idle', async () => {
    const p = await start('sleep 30 & echo started; exit 0');
    const chunks: Buffer[] = [];
    p.stdout!.on('data', (b: Buffer) => chunks.push(b));
    const t0 = Date.now();
    expect(await p.done).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(Buffer.concat(chunks).toString()).toBe('started\n');
    p.stdout!.destroy();
  });

  it('gives the process our stdin to its EOF, and the helper its own process group', async () => {
    const p = await start('echo "$(cat) $(ps -o pgid= -p $$) $PPID"', { stdin: true });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.stdin!.end('hello');
    expect(await p.done).toBe(0);
    const [word, pgid, helperPid] = out.trim().split(/\s+/);
    expect(word).toBe('hello');
    expect(pgid).toBe(helperPid); // the helper (the script's parent) leads its group
    expect(Number(helperPid)).not.toBe(process.pid);
  });

  it('fails with Internal when the helper cannot be started', async () => {
    const err = await startNativeExec(['true'], { helper: join(dir, 'missing'), plan: 'unused', containerId: 'c1', tty: false, stdin: false, stdout: true, stderr: true, spawner }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).message).toContain('cannot run');
  });
});

describe('drained', () => {
  it('does not take a stream its reader has just resumed for idle output', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    try {
      const stdout = new Readable({ read() {} });
      const child = Object.assign(new EventEmitter(), { stdout, stderr: null });
      let got = 0;
      stdout.on('data', (b: Buffer) => (got += b.length));
      stdout.pause(); // a slow reader holds it back
      let settled = false;
      const done = drained(child, 50).then(() => (settled = true));
      await vi.advanceTimersByTimeAsync(120); // two checks see it paused
      stdout.resume(); // the reader drained; the next chunk is still in the pipe
      await vi.advanceTimersByTimeAsync(40); // the check at 150 ms comes before it
      expect(settled).toBe(false);
      stdout.push(Buffer.alloc(32768));
      stdout.push(null);
      await vi.advanceTimersByTimeAsync(0);
      child.emit('close');
      await done;
      expect(got).toBe(32768);
    } finally {
      vi.useRealTimers();
    }
  });
});
