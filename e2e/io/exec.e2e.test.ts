import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../src/common/ctx';
import { isCriError } from '../../src/common/errors';
import { execSession, type ExecSessionOptions } from '../../src/mesos-compat/io';
import { cgroupExists } from '../oci/harness';
import { IoEnv, Sink, Sizes, until } from './fixtures';

/** `execSession` against real runc: exit codes, stream separation, stdin, tty with resize, cancellation. */

const usable = process.getuid?.() === 0 && existsSync('/bin/busybox') &&
  (() => { try { execFileSync('runc', ['--version']); execFileSync('python3', ['--version']); return true; } catch { return false; } })();

describe.skipIf(!usable)('execSession on real runc', () => {
  let env: IoEnv;
  let id: string;
  let work: string;

  beforeAll(async () => {
    env = await IoEnv.create();
    id = await env.run('target', ['sleep', '1000']);
    work = join(env.dir, 'work');
    await mkdir(work);
  });

  afterAll(async () => {
    await env?.cleanup();
    if (env) expect(await cgroupExists(env.parent)).toBe(false);
  });

  const opts = (args: readonly string[], workDir = work): ExecSessionOptions => ({
    runtimePath: 'runc',
    runtimeRoot: env.runtimeRoot,
    containerId: id,
    processSpec: { ...env.spec(id, args).process },
    workDir,
  });

  it('returns exit codes and keeps stdout and stderr apart', async () => {
    const out = new Sink();
    const err = new Sink();
    expect(await execSession(opts(['sh', '-c', 'echo to-out; echo to-err >&2; exit 3']), { tty: false, stdout: out, stderr: err }, background())).toBe(3);
    expect(out.text).toBe('to-out\n');
    expect(err.text).toBe('to-err\n');
    expect(await execSession(opts(['true']), { tty: false }, background())).toBe(0);
    // Killed by a signal: 128+n, as a shell reports it.
    expect(await execSession(opts(['sh', '-c', 'kill -9 $$']), { tty: false }, background())).toBe(137);
    // Nothing is left behind in the work dir.
    expect(await readdir(work)).toEqual([]);
  });

  it('pipes stdin and closes it at EOF', async () => {
    const stdin = new PassThrough();
    const out = new Sink();
    const done = execSession(opts(['sh', '-c', 'cat; echo "<eof>"']), { tty: false, stdin, stdout: out }, background());
    const payload = 'x'.repeat(100_000);
    stdin.write('hello\n');
    await until(() => out.text.includes('hello\n'), 15_000, 'echo of the first line');
    stdin.end(payload);
    expect(await done).toBe(0);
    expect(out.text).toBe(`hello\n${payload}<eof>\n`);
  });

  it('rejects when the command cannot be started or the container is unknown', async () => {
    const err = await execSession(opts(['/no/such/binary']), { tty: false }, background()).catch((e: unknown) => e);
    expect(isCriError(err, 'Internal')).toBe(true);
    expect(String(err)).toMatch(/no such file/i);
    const missing = await execSession({ ...opts(['true']), containerId: `${id}-missing` }, { tty: false }, background()).catch((e: unknown) => e);
    expect(isCriError(missing, 'NotFound')).toBe(true);
  });

  it('runs on a tty: merged output, stdin, and resizes that stty sees', async () => {
    // A work dir deeper than `sun_path` allows must still work for the console socket.
    const deep = join(work, 'd'.repeat(120));
    await mkdir(deep);
    const stdin = new PassThrough();
    const out = new Sink();
    const sizes = new Sizes();
    sizes.push(100, 30);
    // Each input line prints the terminal size; stderr goes to the terminal too.
    const script = 'while read l; do [ "$l" = q ] && exit 4; echo "size=$(stty size)"; echo err-line >&2; done';
    const done = execSession(opts(['sh', '-c', script], deep), { tty: true, stdin, stdout: out, resize: sizes }, background());
    stdin.write('a\n');
    await until(() => out.text.includes('size=30 100'), 15_000, 'the initial size');
    expect(out.text).toContain('err-line\r\n');
    sizes.push(132, 43);
    await until(async () => {
      stdin.write('b\n');
      await new Promise((r) => setTimeout(r, 50));
      return out.text.includes('size=43 132');
    }, 15_000, 'the resized terminal');
    stdin.write('q\n');
    expect(await done).toBe(4);
    sizes.end();
    expect(await readdir(deep)).toEqual([]);
    await rm(deep, { recursive: true });
  });

  for (const tty of [false, true]) {
    it(`kills the process when the context aborts (tty=${tty})`, async () => {
      const abort = new AbortController();
      const out = new Sink();
      const stdin = new PassThrough();
      const done = execSession(opts(['sh', '-c', 'echo started; exec sleep 777']), { tty, stdin, stdout: out, resize: tty ? new Sizes() : undefined }, { signal: abort.signal });
      await until(() => out.text.includes('started'), 15_000, 'the exec to start');
      const before = await env.ps(id);
      expect(before.length).toBe(2);
      abort.abort(new Error('client went away'));
      const err = await done.catch((e: unknown) => e);
      expect(isCriError(err, 'Canceled')).toBe(true);
      // Only the container's own init is left.
      expect(await env.ps(id)).toHaveLength(1);
      expect(await readdir(work)).toEqual([]);
    });
  }
});
