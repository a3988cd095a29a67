import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../src/common/ctx';
import { ATTACH_OUTPUT_LIMIT } from '../../src/mesos-compat/io/attach-session';
import { attachSession } from '../../src/mesos-compat/io';
import { cgroupExists } from '../oci/harness';
import { IoEnv, Sink, Sizes, until } from './fixtures';

/** `attachSession` against containers running under conmon 2.1.6, as the containerizer runs them. */

const usable = process.getuid?.() === 0 && existsSync('/bin/busybox') &&
  (() => { try { execFileSync('runc', ['--version']); execFileSync('conmon', ['--version']); return true; } catch { return false; } })();

describe.skipIf(!usable)('attachSession over conmon', () => {
  let env: IoEnv;

  beforeAll(async () => {
    env = await IoEnv.create();
  });

  afterAll(async () => {
    await env?.cleanup();
    if (env) expect(await cgroupExists(env.parent)).toBe(false);
  });

  const state = async (id: string): Promise<string> => (JSON.parse((await env.h.runc(['state', id])).stdout.toString()) as { status: string }).status;

  it('separates stdout and stderr, pipes stdin, and detaches at stdin EOF without stdin_once', async () => {
    const c = await env.runUnderConmon('plain', ['sh', '-c', 'while read l; do echo "out:$l"; echo "err:$l" >&2; done; echo stdin-closed'], { tty: false, stdin: true, stdinOnce: false });
    const opts = { attachSocket: c.attachSocket, ctlFifo: c.ctlFifo, tty: false, stdinOnce: false };
    for (const word of ['first', 'second']) {
      const stdin = new PassThrough();
      const out = new Sink();
      const err = new Sink();
      const done = attachSession(opts, { tty: false, stdin, stdout: out, stderr: err }, background());
      await until(async () => {
        stdin.write(`${word}\n`);
        await new Promise((r) => setTimeout(r, 50));
        return out.text.includes(`out:${word}\n`);
      }, 15_000, `the echo of ${word}`);
      await until(() => err.text.includes(`err:${word}\n`), 15_000, 'stderr');
      expect(out.text).not.toContain('err:');
      expect(err.text).not.toContain('out:');
      stdin.end();
      await done;
      // Detaching left the container, and its stdin, alone: the next attach still talks to it.
      expect(await state(c.id)).toBe('running');
    }
    expect(await readFile(c.logPath, 'utf8')).not.toContain('stdin-closed');
  });

  it('with stdin_once, stdin EOF closes the container stdin and the session lasts until the output ends', async () => {
    const c = await env.runUnderConmon('once', ['sh', '-c', 'cat; echo "<eof>"'], { tty: false, stdin: true, stdinOnce: true });
    const stdin = new PassThrough();
    const out = new Sink();
    const done = attachSession({ attachSocket: c.attachSocket, ctlFifo: c.ctlFifo, tty: false, stdinOnce: true }, { tty: false, stdin, stdout: out }, background());
    await until(async () => {
      stdin.write('hello\n');
      await new Promise((r) => setTimeout(r, 50));
      return out.text.includes('hello\n');
    }, 15_000, 'the echo');
    const big = 'y'.repeat(100_000);
    stdin.end(`${big}\n`);
    await done;
    expect(out.text.endsWith(`${big}\n<eof>\n`)).toBe(true);
    await until(() => existsSync(c.exitFile), 15_000, 'conmon to record the exit');
    expect(await readFile(c.exitFile, 'utf8')).toBe('0');
  });

  it('on a tty: merged output, resizes through the ctl FIFO, a long socket path, detach at stdin EOF', async () => {
    const c = await env.runUnderConmon('tty', ['sh', '-c', 'while read l; do echo "size=$(stty size)"; echo err >&2; done'], { tty: true, stdin: true, stdinOnce: true });
    // Deeper than `sun_path` allows: reached through /proc/self/fd.
    const longDir = join(env.dir, 'l'.repeat(120));
    await symlink(c.bundle, longDir);
    const stdin = new PassThrough();
    const out = new Sink();
    const sizes = new Sizes();
    sizes.push(90, 25);
    const done = attachSession({ attachSocket: join(longDir, 'attach'), ctlFifo: c.ctlFifo, tty: true, stdinOnce: true }, { tty: true, stdin, stdout: out, resize: sizes }, background());
    const expectSize = (s: string): Promise<void> =>
      until(async () => {
        stdin.write('x\n');
        await new Promise((r) => setTimeout(r, 50));
        return out.text.includes(s);
      }, 15_000, s);
    await expectSize('size=25 90');
    expect(out.text).toContain('err\r\n');
    sizes.push(120, 40);
    await expectSize('size=40 120');
    stdin.end();
    await done;
    sizes.end();
    expect(await state(c.id)).toBe('running');
  });

  it('follows output without stdin, never stalls the container on a client that does not read, ends on abort', async () => {
    const c = await env.runUnderConmon('chatty', ['sh', '-c', 'while :; do echo tick; sleep 0.05; done'], { tty: false, stdin: false, stdinOnce: false });
    const out = new Sink();
    const abort = new AbortController();
    const done = attachSession({ attachSocket: c.attachSocket, ctlFifo: c.ctlFifo, tty: false, stdinOnce: false }, { tty: false, stdout: out }, { signal: abort.signal });
    await until(() => out.text.includes('tick\ntick\n'), 15_000, 'ticks');
    abort.abort();
    await done;
    expect(await state(c.id)).toBe('running');

    // 32 MiB to a client that never reads: the container still finishes, and what is held for the client stays bounded.
    const flood = await env.runUnderConmon('flood', ['sh', '-c', 'sleep 1; dd if=/dev/zero bs=1048576 count=32 2>/dev/null; echo finished >&2'], { tty: false, stdin: false, stdinOnce: false });
    const stuck = new Writable({ highWaterMark: 1024, write: () => undefined });
    const err = new Sink();
    await attachSession({ attachSocket: flood.attachSocket, ctlFifo: flood.ctlFifo, tty: false, stdinOnce: false }, { tty: false, stdout: stuck, stderr: err }, background());
    expect(err.text).toBe('finished\n');
    expect(stuck.writableLength).toBeLessThanOrEqual(ATTACH_OUTPUT_LIMIT + 64 * 1024);
    expect(stuck.writableLength).toBeGreaterThan(0);
  });
});
