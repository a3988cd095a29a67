import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { SeqpacketServer, type SeqpacketSocket } from 'node-unix-socket';
import { afterAll, describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { CriError, isCriError } from '../../common/errors';
import { ContainerSessions } from './container-sessions';
import type { AttachTarget, ExecTarget, IoTargets, PortForwardTarget } from './targets';

const dir = mkdtempSync(join(tmpdir(), 'container-sessions-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A stand-in for native/mesos-cri-exec: prints the plan it was given, runs
// its "command" as a shell script and reports the exit on fd 4.
const helper = join(dir, 'helper');
writeFileSync(helper, '#!/bin/sh\necho "plan=$1"\nshift\nsh -c "$1" 3>&- 4>&-\nprintf \'{"exitCode":%d}\\n\' $? >&4\n');
chmodSync(helper, 0o755);

/** A containerizer that knows one running container `c1` and one sandbox `s1`; records what was asked. */
class FakeTargets implements IoTargets {
  readonly asked: string[] = [];
  constructor(readonly attach: Partial<AttachTarget> = {}, readonly netnsPath?: string) {}
  async execTarget(id: string): Promise<ExecTarget> {
    this.asked.push(`exec ${id}`);
    if (id !== 'c1') throw new CriError('NotFound', `container ${JSON.stringify(id)} not found`);
    return { containerId: 'c1', helper, plan: '/plans/c1' };
  }
  async attachTarget(id: string): Promise<AttachTarget> {
    this.asked.push(`attach ${id}`);
    if (id !== 'c1') throw new CriError('FailedPrecondition', `container ${JSON.stringify(id)} is not running`);
    return { containerId: 'c1', attachSocket: join(dir, 'none'), ctlFifo: join(dir, 'ctl'), tty: false, stdinOnce: false, ...this.attach };
  }
  async portForwardTarget(id: string): Promise<PortForwardTarget> {
    this.asked.push(`port-forward ${id}`);
    if (id !== 's1') throw new CriError('NotFound', `pod sandbox ${JSON.stringify(id)} not found`);
    return { sandboxId: 's1', ...(this.netnsPath ? { netnsPath: this.netnsPath } : {}) };
  }
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

describe('ContainerSessions', () => {
  it('execs with the helper and plan the containerizer resolved, and answers the exit code', async () => {
    const targets = new FakeTargets();
    const out = collector();
    const code = await new ContainerSessions(targets).exec('c1', ['echo hi; exit 7'], { tty: false, stdout: out.stream }, background());
    expect(code).toBe(7);
    expect(out.text()).toBe('plan=/plans/c1\nhi\n');
    expect(targets.asked).toEqual(['exec c1']);
  });

  it("passes the containerizer's refusal through unchanged and starts nothing", async () => {
    const targets = new FakeTargets();
    const sessions = new ContainerSessions(targets);
    const out = collector();
    const exec = await sessions.exec('nope', ['echo ran'], { tty: false, stdout: out.stream }, background()).catch((e: unknown) => e);
    expect(isCriError(exec, 'NotFound')).toBe(true);
    expect(out.text()).toBe('');
    const attach = await sessions.attach('gone', { tty: false, stdout: out.stream }, background()).catch((e: unknown) => e);
    expect(isCriError(attach, 'FailedPrecondition')).toBe(true);
    const pf = await sessions.portForward('nope', 80, new PassThrough(), background()).catch((e: unknown) => e);
    expect(isCriError(pf, 'NotFound')).toBe(true);
    expect(targets.asked).toEqual(['exec nope', 'attach gone', 'port-forward nope']);
  });

  it("attaches to the monitor socket the containerizer named and relays the container's output", async () => {
    const socketPath = join(dir, 'attach');
    const server = new SeqpacketServer();
    let connections = 0;
    server.on('connection', (sock: SeqpacketSocket) => {
      connections++;
      // conmon's framing: the stream id (2 = stdout) then the bytes; it closes its clients when the container exits.
      sock.write(Buffer.from('\x02from the container'), 0, 19, () => sock.end());
    });
    server.listen(socketPath);
    try {
      const out = collector();
      await new ContainerSessions(new FakeTargets({ attachSocket: socketPath })).attach('c1', { tty: false, stdout: out.stream }, background());
      expect(connections).toBe(1);
      expect(out.text()).toBe('from the container');
    } finally {
      server.close();
    }
  });

  it("dials in the sandbox's network namespace the containerizer named", async () => {
    const missing = join(dir, 'no-such-netns');
    const err = await new ContainerSessions(new FakeTargets({}, missing)).portForward('s1', 80, new PassThrough(), background()).catch((e: unknown) => e);
    expect(isCriError(err, 'Unavailable')).toBe(true);
    expect(String(err)).toMatch(/in the pod network namespace/);
    expect(String(err)).toContain(missing);
  });

  it('caps the port-forward connections open at once and frees a slot when one ends', async () => {
    const held: Socket[] = [];
    const server: Server = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const sessions = new ContainerSessions(new FakeTargets(), { maxPortForwards: 1 });
    try {
      const first = new PassThrough();
      const relay = sessions.portForward('s1', port, first, background());
      while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
      const refused = await sessions.portForward('s1', port, new PassThrough(), background()).catch((e: unknown) => e);
      expect(isCriError(refused, 'ResourceExhausted')).toBe(true);
      // The client half-closes and the server hangs up: the relay ends and its slot is free again.
      first.end();
      held[0]!.end();
      await relay;
      const again = new PassThrough();
      const second = sessions.portForward('s1', port, again, background());
      while (held.length < 2) await new Promise((r) => setTimeout(r, 10));
      again.end();
      held[1]!.end();
      await second;
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});
