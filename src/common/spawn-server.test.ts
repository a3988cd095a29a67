import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { background, LOW_PRIORITY_NICE, sweepCtx } from './ctx';
import { nativeBinary } from './native';
import { ExecError, exec as forkExec } from './exec';
import { execVia, SpawnServer } from './spawn-server';

const path = nativeBinary('mesos-cri-spawn');

/** The shell's own niceness: field 19 of /proc/<pid>/stat (after the command name's closing parenthesis, field 17 of the rest). */
const niceOfShell = 'read -r s < /proc/$$/stat; s=${s##*) }; set -- $s; echo ${17}';

describe('exec (forked)', () => {
  it('runs a command at the niceness asked for, or of a low-priority context, else at ours', async () => {
    // Set just after the fork: a shell that reads its niceness after a moment sees it.
    const late = `sleep 0.2; ${niceOfShell}`;
    const [asked, low, ours] = await Promise.all([
      forkExec('sh', ['-c', late], background(), { nice: 7 }),
      forkExec('sh', ['-c', late], sweepCtx()),
      forkExec('sh', ['-c', late], background()),
    ]);
    expect([asked, low, ours].map((r) => r.stdout.toString().trim())).toEqual(['7', String(LOW_PRIORITY_NICE), String(getPriority())]);
  });
});

describe.skipIf(!existsSync(path))('SpawnServer (native/mesos-cri-spawn)', () => {
  const s = new SpawnServer(path);

  it('runs commands concurrently with their exit codes, output, stdin, env and cwd', async () => {
    const big = 'x'.repeat(300_000);
    const [a, b, c, d] = await Promise.all([
      s.run('sh', ['-c', 'echo out; echo err >&2; exit 3'], background()),
      s.run('sh', ['-c', 'cat; echo "[$FOO]"; pwd'], background(), { input: big, env: { FOO: 'bar baz', PATH: '/usr/bin:/bin' }, cwd: '/tmp' }),
      s.run('sh', ['-c', 'kill -TERM $$'], background()),
      s.run('true', [], background()),
    ]);
    expect(a).toMatchObject({ code: 3, signal: null });
    expect(a.stdout.toString()).toBe('out\n');
    expect(a.stderr.toString()).toBe('err\n');
    expect(b.stdout.toString()).toBe(`${big}[bar baz]\n/tmp\n`);
    expect(c.signal).toBe('SIGTERM');
    expect(d).toMatchObject({ code: 0, signal: null });
  });

  it('is an Exec: output on success, ExecError on a failed check, like the forked one', async () => {
    expect(execVia(s)).toBe(s.exec);
    expect(execVia(undefined)).toBe(forkExec);
    expect((await s.exec('sh', ['-c', 'echo hi'], background())).stdout.toString()).toBe('hi\n');
    await expect(s.exec('sh', ['-c', 'echo bad >&2; exit 4'], background())).rejects.toBeInstanceOf(ExecError);
    await expect(s.exec('sh', ['-c', 'exit 4'], background(), { check: false })).resolves.toMatchObject({ code: 4 });
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(s.exec('true', [], { signal: ac.signal })).rejects.toThrow('gone');
  });

  it('runs a command at the niceness asked for, or of a low-priority context, else at ours', async () => {
    const [asked, low, ours] = await Promise.all([
      s.run('sh', ['-c', niceOfShell], background(), { nice: 7 }),
      s.run('sh', ['-c', niceOfShell], sweepCtx()),
      s.run('sh', ['-c', niceOfShell], background()),
    ]);
    expect([asked, low, ours].map((r) => r.stdout.toString().trim())).toEqual(['7', String(LOW_PRIORITY_NICE), String(getPriority())]);
    await expect(s.run('true', [], background(), { nice: 40 })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('rejects a command that cannot be started with its errno, like child_process', async () => {
    await expect(s.run('/no/such/binary', [], background())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('kills a command when its context aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = s.run('sleep', ['30'], { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 100);
    const r = await p;
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  const root = process.getuid?.() === 0;

  it.skipIf(!root)('mounts and unmounts with the system calls, rejecting with their errno', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawn-mount-'));
    try {
      await s.mount({ source: 'tmpfs', target: dir, fstype: 'tmpfs', data: 'size=1m,mode=700' }, background());
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir);
      expect(line).toMatch(/ - tmpfs tmpfs .*size=1024k/);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      await s.umount(dir, 0, background());
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${dir} `);
      await expect(s.umount(dir, 0, background())).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(s.mount({ source: 'tmpfs', target: join(dir, 'absent'), fstype: 'tmpfs' }, background())).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes "0" to the warm file every few ms for the time asked, then stops', async () => {
    // A plain file stands in for cgroup.procs: each write appends a "0".
    const dir = mkdtempSync(join(tmpdir(), 'spawn-warm-'));
    const file = join(dir, 'procs');
    writeFileSync(file, '');
    try {
      s.warm(file, 150);
      await new Promise((r) => setTimeout(r, 400));
      const written = readFileSync(file, 'utf8');
      expect(written).toMatch(/^0+$/);
      // every 3 ms for 150 ms is about 50 writes; a loaded machine does fewer
      expect(written.length).toBeGreaterThan(10);
      expect(written.length).toBeLessThan(80);
      await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(file, 'utf8')).toBe(written);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a monitor with a start pipe on fd 4 and its report on fd 3, in its own session', async () => {
    // Like conmon: wait for the start byte, fork a daemonized child that reports, exit.
    const script = 'head -c1 <&4 | od -An -tx1 >&2; (sleep 0.1; echo "{\\"data\\": $(cut -d\" \" -f6 /proc/self/stat)}" >&3; echo never-read >&3) & exit 0';
    const m = s.monitor('sh', ['-c', script], background());
    let settled = false;
    void m.done.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(settled).toBe(false);
    m.go();
    const r = await m.done;
    expect(r.code).toBe(0);
    expect(r.stderr.toString().trim()).toBe('00');
    const report = JSON.parse(r.stdout.toString().split('\n')[0]!) as { data: number };
    expect(report.data).not.toBe(Number(readFileSync('/proc/self/stat', 'utf8').split(' ')[5]));
  });

  it('kills a monitor that was never let go, and reports it without a report', async () => {
    const m = s.monitor('sh', ['-c', 'head -c1 <&4; echo started >&3'], background());
    await new Promise((r) => setTimeout(r, 100));
    m.kill();
    const r = await m.done;
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout.toString()).toBe('');
  });

  interface RawServer {
    readonly child: ReturnType<typeof spawn>;
    write(op: number, id: number, body: Buffer): void;
    /** A run/monitor body: argv, the server's env, no cwd, no input. */
    argv(args: string[]): Buffer;
  }

  /** A raw client of the server, so that the test can be the daemon that dies. */
  function rawServer(): RawServer {
    const child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdout!.resume();
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const str = (t: string): Buffer => Buffer.concat([u32(Buffer.byteLength(t)), Buffer.from(t)]);
    return {
      child,
      write: (op, id, body) => child.stdin!.write(Buffer.concat([u32(5 + body.length), u32(id), Buffer.from([op]), body])),
      argv: (args) => Buffer.concat([u32(args.length), ...args.map(str), u32(0xffffffff), str(''), str('')]),
    };
  }

  const alive = (pid: number): boolean => {
    try {
      return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  it('kills the monitors still waiting for their start byte when the daemon goes, and lets started ones run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spawn-orphan-'));
    try {
      const srv = rawServer();
      // Each records its pid, then waits for its start byte; a started one then lives on.
      const script = (name: string): string => `echo $$ > ${dir}/${name}.pid; head -c1 <&4 >/dev/null; touch ${dir}/${name}.ran; echo '{"data": 1}' >&3; exec sleep 30`;
      srv.write(6, 1, srv.argv(['sh', '-c', script('waiting')]));
      srv.write(6, 2, srv.argv(['sh', '-c', script('started')]));
      const pidOf = async (name: string): Promise<number> => {
        for (let i = 0; i < 200; i++) {
          const t = existsSync(join(dir, `${name}.pid`)) ? readFileSync(join(dir, `${name}.pid`), 'utf8').trim() : '';
          if (t) return Number(t);
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`no pid for ${name}`);
      };
      const waiting = await pidOf('waiting');
      const started = await pidOf('started');
      const go = Buffer.alloc(4);
      go.writeUInt32LE(2);
      srv.write(7, 3, go);
      for (let i = 0; i < 200 && !existsSync(join(dir, 'started.ran')); i++) await new Promise((r) => setTimeout(r, 10));
      expect(existsSync(join(dir, 'started.ran'))).toBe(true);
      // The daemon dies: its end of the server's stdin closes.
      const exited = new Promise((r) => srv.child.once('exit', r));
      srv.child.stdin!.end();
      for (let i = 0; i < 200 && alive(waiting); i++) await new Promise((r) => setTimeout(r, 10));
      expect(alive(waiting)).toBe(false);
      expect(existsSync(join(dir, 'waiting.ran'))).toBe(false); // killed, not let go by the EOF
      expect(alive(started)).toBe(true);
      process.kill(started, 'SIGKILL');
      await exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
