import type { IncomingMessage } from 'node:http';

/**
 * Subprotocol names and negotiation (k8s.io/streaming `httpstream.go`
 * Handshake; kubelet `remotecommand/constants.go`). The client lists what it
 * speaks, preferred first; the first entry the server also speaks wins.
 */
export const PORT_FORWARD_SPDY = 'portforward.k8s.io';
export const PORT_FORWARD_TUNNEL = 'SPDY/3.1+portforward.k8s.io';

/** Remote-command protocol versions over SPDY. v5 only adds a WebSocket close signal, so it is served as v4. */
export const SPDY_REMOTE_COMMAND = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

export const WS_REMOTE_COMMAND = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
] as const;

export const WS_PORT_FORWARD = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', PORT_FORWARD_TUNNEL] as const;

/** What a remote-command protocol version implies for the session. */
export interface RemoteCommandVersion {
  readonly name: string;
  /** 1..5 */
  readonly version: number;
  /** v4+: JSON `metav1.Status` on the error stream; before: failure text only. */
  readonly jsonStatus: boolean;
  /** WebSocket only: text frames carrying base64. */
  readonly base64: boolean;
  /** WebSocket v5: `[255, ch]` half-closes a channel. */
  readonly closeSignal: boolean;
}

export function describeVersion(name: string): RemoteCommandVersion {
  const m = /^v(\d)\./.exec(name);
  const version = m ? Number(m[1]) : 1;
  return { name, version, jsonStatus: version >= 4, base64: name.includes('base64'), closeSignal: version >= 5 };
}

/**
 * Values of a possibly repeated header. Node joins repeated headers with ", "
 * for most names, so both forms are split here.
 */
export function headerValues(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== lower) continue;
    for (const v of req.rawHeaders[i + 1]!.split(',')) {
      const t = v.trim();
      if (t) out.push(t);
    }
  }
  return out;
}

/** The first protocol in the client's order that the server supports, if any. */
export function negotiate(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}
