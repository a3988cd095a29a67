import type { HeaderField } from './hpack-decoder';

/**
 * Which `:authority` (and `host`) values the server's HTTP/2 layer accepts.
 *
 * nghttp2, under Node's http2, resets a request whose `:authority` or `host`
 * holds a byte outside RFC 3986's authority characters (unreserved,
 * sub-delims, ":", "@", "[", "]", "%"). Go gRPC clients before ~1.60 dialing a
 * unix socket send the socket path (`/run/mesos-cri/mesos-cri.sock`), and
 * `unix:/path` has slashes too; grpc-go servers (containerd, CRI-O) accept
 * them, and on a unix socket the authority means nothing, so we replace a
 * value nghttp2 would refuse with `localhost` and add one when missing.
 * `authority.test.ts` checks this table against the real nghttp2.
 */
const VALID = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&\'()*+,;=:@[]%') VALID[c.charCodeAt(0)] = 1;

export function isValidAuthority(v: Uint8Array): boolean {
  for (let i = 0; i < v.length; i++) if (!VALID[v[i]!]) return false;
  return true;
}

const AUTHORITY = Buffer.from(':authority');
const HOST = Buffer.from('host');
const METHOD = Buffer.from(':method');
export const REPLACEMENT_AUTHORITY = Buffer.from('localhost');

/**
 * Returns the request's fields with a valid `:authority`, or `fields` itself
 * when nothing needs to change. Blocks without `:method` (trailers, and
 * anything nghttp2 will judge on its own) are left alone.
 */
export function withValidAuthority(fields: readonly HeaderField[]): readonly HeaderField[] {
  let isRequest = false;
  let authority = -1;
  let bad = false;
  for (let i = 0; i < fields.length; i++) {
    const { name, value } = fields[i]!;
    if (name.equals(METHOD)) isRequest = true;
    else if (name.equals(AUTHORITY)) {
      if (authority < 0) authority = i;
      if (!isValidAuthority(value)) bad = true;
    } else if (name.equals(HOST) && !isValidAuthority(value)) bad = true;
  }
  if (!isRequest || (authority >= 0 && !bad)) return fields;
  const out = fields.map((f) =>
    (f.name.equals(AUTHORITY) || f.name.equals(HOST)) && !isValidAuthority(f.value) ? { ...f, value: REPLACEMENT_AUTHORITY } : f,
  );
  // Pseudo-header fields must precede regular ones (RFC 9113 section 8.3): first place is always right.
  if (authority < 0) out.unshift({ name: AUTHORITY, value: REPLACEMENT_AUTHORITY, neverIndex: false });
  return out;
}
