import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../src/common/ctx';
import { isCriError } from '../../src/common/errors';
import { execSession, type ExecSessionOptions } from '../../src/mesos-compat/io';
import { ensureExecPlan } from '../../src/mesos-compat/io/exec-plan';
import { nativeBinary } from '../../src/common/native';
import { cgroupExists } from '../oci/harness';
import { IoEnv, Sink, Sizes, until } from './fixtures';

/**
 * `execSession` through the native exec helper into a container run by
 * real runc under conmon: exit codes, stream separation, stdin, tty with
 * resize, cancellation.
 */

const usable = process.getuid?.() === 0 && existsSync('/bin/busybox') && existsSync(nativeBinary('mesos-cri-exec')) &&
  (() => { try { execFileSync('runc', ['--version']); return true; } catch { return false; } })();

describe.skipIf(!usable)('execSession on real runc', () => {
  let env: IoEnv;
  let id: string;
  let plan: string;
  let work: string;

  beforeAll(async () => {
    env = await IoEnv.create();
    const ctr = await env.runUnderConmon('target', ['sleep', '1000'], { tty: false, stdin: false, stdinOnce: false });
    id = ctr.id;
    const pid = Number((await readFile(join(ctr.bundle, 'pidfile'), 'utf8')).trim());
    plan = (await ensureExecPlan(ctr.bundle, pid))!;
    work = join(env.dir, 'work');
    await mkdir(work);
  });

  afterAll(async () => {
    await env?.cleanup();
    if (env) expect(await cgroupExists(env.parent)).toBe(false);
  });

  const opts = (cmd: readonly string[]): ExecSessionOptions => ({ helper: nativeBinary('mesos-cri-exec'), plan, containerId: id, cmd });

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

  it('rejects when the command cannot be started or the container process is gone', async () => {
    const err = await execSession(opts(['/no/such/binary']), { tty: false }, background()).catch((e: unknown) => e);
    expect(isCriError(err, 'Internal')).toBe(true);
    expect(String(err)).toMatch(/no such file/i);
    // A plan whose process start time does not match: the pid was recycled.
    const stale = join(work, 'stale.plan');
    await writeFile(stale, (await readFile(plan, 'utf8')).replace(/^pid (\d+) \d+$/m, 'pid $1 1'));
    const gone = await execSession({ ...opts(['true']), plan: stale }, { tty: false }, background()).catch((e: unknown) => e);
    await rm(stale);
    expect(isCriError(gone, 'FailedPrecondition')).toBe(true);
  });

  it('runs on a tty: merged output, stdin, TERM, and resizes that stty sees', async () => {
    const stdin = new PassThrough();
    const out = new Sink();
    const sizes = new Sizes();
    sizes.push(100, 30);
    // Each input line prints the terminal size; stderr goes to the terminal too.
    const script = 'echo "term=$TERM tty=$(tty)"; while read l; do [ "$l" = q ] && exit 4; echo "size=$(stty size)"; echo err-line >&2; done';
    const done = execSession(opts(['sh', '-c', script]), { tty: true, stdin, stdout: out, resize: sizes }, background());
    // The initial size may land after the shell's first `stty size`, as it
    // does with kubelet: ask until it shows.
    await until(async () => {
      stdin.write('a\n');
      await new Promise((r) => setTimeout(r, 50));
      return out.text.includes('size=30 100');
    }, 15_000, 'the initial size');
    expect(out.text).toContain('err-line\r\n');
    expect(out.text).toMatch(/term=xterm tty=\/dev\/pts\/\d+/);
    sizes.push(132, 43);
    await until(async () => {
      stdin.write('b\n');
      await new Promise((r) => setTimeout(r, 50));
      return out.text.includes('size=43 132');
    }, 15_000, 'the resized terminal');
    stdin.write('q\n');
    expect(await done).toBe(4);
    sizes.end();
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
