import type { WebSocket } from 'ws';
import { describeError } from '../../common/errors';
import { log } from '../../common/log';
import type { RemoteCommandVersion } from '../protocols';
import type { StreamRuntime } from '../runtime';
import { ChannelMux } from './channels';

export interface WsPortForwardOptions {
  readonly runtime: StreamRuntime;
  readonly podSandboxId: string;
  readonly ports: readonly number[];
  readonly version: RemoteCommandVersion;
  /** Aborted when the streaming server stops. */
  readonly signal: AbortSignal;
}

/**
 * Port-forward over a channel WebSocket (kubelet `portforward/websocket.go`):
 * one TCP connection per requested port for the life of the socket; port i
 * uses channel 2i for data and 2i+1 for error text, and each channel opens
 * with the port number as a little-endian uint16.
 */
export async function serveWsPortForward(ws: WebSocket, opts: WsPortForwardOptions): Promise<void> {
  const mux = new ChannelMux(ws, { base64: opts.version.base64, closeSignal: opts.version.closeSignal });
  const signal = AbortSignal.any([mux.signal, opts.signal]);
  const onAbort = (): void => mux.terminate();
  opts.signal.addEventListener('abort', onAbort);
  try {
    if (opts.ports.length === 0) {
      await mux.close(1008, 'no ports requested');
      return;
    }
    await Promise.all(
      opts.ports.map(async (port, i) => {
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16LE(port);
        const data = mux.channel(2 * i);
        mux.send(2 * i, prefix);
        mux.send(2 * i + 1, prefix);
        try {
          await opts.runtime.portForward(opts.podSandboxId, port, data, { signal });
        } catch (err) {
          if (signal.aborted) return;
          log.debug({ port, sandbox: opts.podSandboxId, err }, 'port-forward failed');
          mux.send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${opts.podSandboxId}, uid : ${describeError(err)}`));
        }
      }),
    );
    await mux.close(1000);
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}
