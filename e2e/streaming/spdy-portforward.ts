/** client-go's port-forward protocol (`tools/portforward`) over the test SPDY client. */
import type { ClientStream, SpdyClient } from './spdy-client';

export interface ForwardedConnection {
  readonly error: ClientStream;
  readonly data: ClientStream;
}

let requestCounter = 0;

/** Opens the error then the data stream for one local connection, and half-closes error. */
export async function forwardConnection(client: SpdyClient, port: number | string, requestId = String(requestCounter++)): Promise<ForwardedConnection> {
  const error = await client.open({ streamtype: 'error', port: String(port), requestid: requestId });
  const data = await client.open({ streamtype: 'data', port: String(port), requestid: requestId });
  error.finish();
  return { error, data };
}

/** Sends an HTTP/1.0 request over a forwarded connection and returns the raw response. */
export async function httpOver(conn: ForwardedConnection, path = '/'): Promise<string> {
  conn.data.write(`GET ${path} HTTP/1.0\r\nHost: pod\r\n\r\n`);
  const out = await conn.data.all();
  return out.toString();
}
