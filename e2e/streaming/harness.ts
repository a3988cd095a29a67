import type { Clock } from '../../src/common/clock';
import { StreamingServer, type StreamingServerOptions } from '../../src/streaming/server';
import { HostRuntime } from './host-runtime';
import { until } from './spdy-remotecommand';

export interface ManualClock extends Clock {
  advance(ms: number): void;
}

export function manualClock(): ManualClock {
  let offset = 0;
  return {
    nowMs: () => Date.now() + offset,
    nowNanos: () => BigInt(Date.now() + offset) * 1_000_000n,
    advance: (ms) => (offset += ms),
  };
}

export interface Harness {
  readonly server: StreamingServer;
  readonly runtime: HostRuntime;
  readonly clock: ManualClock;
  /** Stops the server, kills whatever the runtime still runs, and checks nothing leaked. */
  close(): Promise<void>;
}

export async function startHarness(opts: Partial<StreamingServerOptions> = {}): Promise<Harness> {
  const runtime = new HostRuntime();
  const clock = manualClock();
  const server = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, clock, ...opts });
  await server.start();
  return {
    server,
    runtime,
    clock,
    async close() {
      await server.stop();
      for (const id of [...runtime.containers.keys()]) await runtime.stopContainer(id);
      // Sessions aborted by stop() kill their processes; wait for that to land.
      await until(() => runtime.live.size === 0, 'host processes to exit').catch((err: unknown) => {
        for (const pid of runtime.live) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        throw err;
      });
    },
  };
}
