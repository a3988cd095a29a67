import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { background, withTimeout } from '../../src/common/ctx';
import { exec } from '../../src/common/exec';
import type { OciSpec } from '../../src/mesos-compat/oci/types';
import { busyboxRootfs, Harness, writeBundle } from '../oci/harness';

/**
 * Real containers for the IO session tests: one shared read-only busybox
 * rootfs, containers run detached by runc or under conmon (as the
 * containerizer's `conmon.ts` starts them), and a pinned netns. `cleanup`
 * removes all of it, conmon processes by pid included.
 */
export class IoEnv {
  readonly parent = `mesos-cri-io-e2e-${randomBytes(4).toString('hex')}`;
  readonly h: Harness;
  readonly #conmons: Array<{ id: string; pid: number }> = [];

  private constructor(readonly dir: string, readonly rootfs: string) {
    this.h = new Harness(join(dir, 'runc'), this.parent);
  }

  /** Short paths on purpose: conmon's and our unix sockets live under `dir`. */
  static async create(): Promise<IoEnv> {
    const dir = await mkdtemp(join(tmpdir(), 'io-'));
    const rootfs = await busyboxRootfs(join(dir, 'rootfs'), { passwd: 'root:x:0:0:root:/root:/bin/sh\n', group: 'root:x:0:\n' });
    return new IoEnv(dir, rootfs);
  }

  get runtimeRoot(): string {
    return this.h.runcRoot;
  }

  /** A `runc spec`-like spec: fresh namespaces (or the given netns), the shared read-only rootfs, a cgroup under our parent. */
  spec(id: string, args: readonly string[], opts: { tty?: boolean; netns?: string } = {}): OciSpec {
    return {
      ociVersion: '1.0.2',
      process: {
        terminal: opts.tty ?? false,
        user: { uid: 0, gid: 0 },
        args: [...args],
        env: ['PATH=/bin', 'TERM=xterm'],
        cwd: '/',
        capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
        noNewPrivileges: true,
      },
      root: { path: this.rootfs, readonly: true },
      hostname: id.slice(-12),
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
        { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
        { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
        { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
      ],
      linux: {
        cgroupsPath: `/${this.parent}/${id}`,
        namespaces: [
          { type: 'pid' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'mount' },
          opts.netns ? { type: 'network', path: opts.netns } : { type: 'network' },
        ],
      },
    } as OciSpec;
  }

  /**
   * A background container; returns its id (prefixed with our parent so ids
   * never clash). Under conmon rather than `runc run -d`, so that something
   * reaps its init when it is killed (this sandbox's pid 1 does not).
   */
  async run(name: string, args: readonly string[], opts: { netns?: string } = {}): Promise<string> {
    return (await this.runUnderConmon(name, args, { tty: false, stdin: false, stdinOnce: false, ...opts })).id;
  }

  /**
   * Creates and starts a container under conmon with the containerizer's
   * flags (`src/mesos-compat/conmon.ts`); returns where its attach socket
   * and control FIFO are.
   */
  async runUnderConmon(
    name: string,
    args: readonly string[],
    opts: { tty: boolean; stdin: boolean; stdinOnce: boolean; netns?: string },
  ): Promise<{ id: string; bundle: string; attachSocket: string; ctlFifo: string; logPath: string; exitFile: string }> {
    const id = `${this.parent}-${name}`;
    const bundle = await writeBundle(join(this.dir, name), this.spec(id, args, { tty: opts.tty, netns: opts.netns }));
    const socks = join(this.dir, 'socks');
    const persist = join(bundle, 'persist');
    await mkdir(socks, { recursive: true });
    await mkdir(persist, { recursive: true });
    const logPath = join(bundle, 'ctr.log');
    const flags = [
      '--api-version', '-c', id, '-u', id, '-n', id, '-r', '/usr/sbin/runc', '-b', bundle,
      '-p', join(bundle, 'pidfile'), '-P', join(bundle, 'conmon-pidfile'), '-l', `k8s-file:${logPath}`,
      '--exit-dir', join(this.dir, 'exits'), '--socket-dir-path', socks, '--persist-dir', persist,
      '--runtime-arg', `--root=${this.runtimeRoot}`, '--log-level', 'error',
      ...(opts.tty ? ['-t'] : []),
      ...(opts.stdin ? ['-i', ...(opts.stdinOnce ? [] : ['--leave-stdin-open'])] : []),
    ];
    await mkdir(join(this.dir, 'exits'), { recursive: true });
    this.h.track(id);
    const child = spawn('conmon', flags, {
      cwd: bundle,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
    });
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => stderr.push(b));
    (child.stdio[4] as Writable).write('\0');
    const msg = await firstLine(child.stdio[3] as Readable);
    for (const s of [child.stdio[3], child.stdio[4], child.stderr]) s?.destroy();
    const conmonPid = Number((await readFile(join(bundle, 'conmon-pidfile'), 'utf8').catch(() => '0')).trim());
    if (conmonPid > 0) this.#conmons.push({ id, pid: conmonPid });
    const pid = (JSON.parse(msg) as { data: number }).data;
    if (!(pid > 0)) throw new Error(`conmon failed to create ${id}: ${msg} ${Buffer.concat(stderr).toString()}`);
    await this.h.runc(['start', id]);
    return { id, bundle, attachSocket: join(socks, id, 'attach'), ctlFifo: join(bundle, 'ctl'), logPath, exitFile: join(persist, 'exit') };
  }

  /** A pinned network namespace with loopback up. */
  async netns(name: string): Promise<string> {
    const file = await this.h.pinNetns(join(this.dir, `netns-${name}`));
    await exec('nsenter', [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up'], withTimeout(background(), 10_000));
    return file;
  }

  /** Pids of the processes in a container, from `runc ps`. */
  async ps(id: string): Promise<number[]> {
    const r = await this.h.runc(['ps', '--format', 'json', id]);
    return JSON.parse(r.stdout.toString() || '[]') as number[];
  }

  async cleanup(): Promise<void> {
    // Let each conmon reap its container and exit on its own first; killing
    // it early would leave the container's init a zombie.
    for (const c of this.#conmons) await this.h.runc(['kill', c.id, 'KILL'], { check: false }).catch(() => undefined);
    for (const c of this.#conmons) await until(() => !existsSync(`/proc/${c.pid}`), 10_000, 'conmon to exit').catch(() => undefined);
    await this.h.cleanup();
    for (const c of this.#conmons) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // Already exited with its container.
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_SETUID', 'CAP_SETGID', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT'];

function firstLine(r: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    r.on('data', (b: Buffer) => {
      buf += b.toString();
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    r.once('end', () => reject(new Error(`conmon closed its sync pipe: ${buf}`)));
    r.once('error', reject);
  });
}

/** A client-side stream that records everything written to it. */
export class Sink extends PassThrough {
  text = '';
  constructor() {
    super();
    this.on('data', (b: Buffer) => (this.text += b.toString()));
  }
}

/** Polls `fn` until it returns true; fails after `ms`. */
export async function until(fn: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** An async iterable of terminal sizes the test pushes into. */
export class Sizes implements AsyncIterable<{ width: number; height: number }> {
  readonly #queue: Array<{ width: number; height: number }> = [];
  #wake: (() => void) | undefined;
  #done = false;
  push(width: number, height: number): void {
    this.#queue.push({ width, height });
    this.#wake?.();
  }
  end(): void {
    this.#done = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<{ width: number; height: number }> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) yield next;
      else if (this.#done) return;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }
}
