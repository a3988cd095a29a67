import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { writeHttpError } from '../http-reply';
import { headerValues, negotiate } from '../protocols';

/**
 * The HTTP/1.1 → SPDY/3.1 upgrade (k8s.io/streaming `spdy/upgrade.go`,
 * `httpstream.go` Handshake). Returns the negotiated protocol, or writes the
 * reference error response and returns `undefined`.
 */
export function upgradeToSpdy(req: IncomingMessage, socket: Duplex, supported: readonly string[]): string | undefined {
  const connection = (req.headers.connection ?? '').toLowerCase();
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (!connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
    writeHttpError(socket, 400, 'unable to upgrade: missing upgrade headers in request');
    return undefined;
  }
  const offered = headerValues(req, 'x-stream-protocol-version');
  const chosen = negotiate(offered, supported);
  if (chosen === undefined) {
    const accepted = supported.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}\r\n`).join('');
    writeHttpError(
      socket,
      403,
      `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server accepts ${JSON.stringify(supported)}`,
      accepted,
    );
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      'Upgrade: SPDY/3.1\r\n' +
      `X-Stream-Protocol-Version: ${chosen}\r\n\r\n`,
  );
  return chosen;
}
