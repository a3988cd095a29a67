import { isUtf8 } from 'node:buffer';
import { CriError } from '../../common/errors';

/**
 * A CRI env value (`KeyValue.value`, `bytes` since cri-api v0.36) as the
 * string that goes into the OCI spec.
 *
 * The spec is JSON, and runc (Go) decodes it replacing every byte that does
 * not start a valid UTF-8 sequence with U+FFFD, so no OCI runtime we can run
 * ever puts non-UTF-8 bytes into a container's environment; containerd hands
 * runc the same replacement. We make it here with Go's rules (`utf8.DecodeRune`:
 * one U+FFFD per invalid byte, overlong forms and surrogates invalid) so the
 * spec we keep and report is the environment the container gets. Valid UTF-8
 * is kept exactly. A NUL byte cannot be in an environment entry at all: runc
 * fails the start on it, we refuse the request up front.
 */
export function envValue(value: Uint8Array, key: string, index: number): string {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (buf.includes(0)) throw new CriError('InvalidArgument', `failed to set envs[${index}] "${key}": the value contains a NUL byte`);
  return isUtf8(buf) ? buf.toString('utf8') : goUtf8Decode(buf);
}

/** Second-byte range of a sequence by its first byte (Go's `utf8` accept ranges); 0 when the byte cannot start one. */
function sequence(b0: number): { len: number; lo: number; hi: number } | null {
  if (b0 >= 0xc2 && b0 <= 0xdf) return { len: 2, lo: 0x80, hi: 0xbf };
  if (b0 === 0xe0) return { len: 3, lo: 0xa0, hi: 0xbf };
  if (b0 === 0xed) return { len: 3, lo: 0x80, hi: 0x9f };
  if (b0 >= 0xe1 && b0 <= 0xef) return { len: 3, lo: 0x80, hi: 0xbf };
  if (b0 === 0xf0) return { len: 4, lo: 0x90, hi: 0xbf };
  if (b0 === 0xf4) return { len: 4, lo: 0x80, hi: 0x8f };
  if (b0 >= 0xf1 && b0 <= 0xf3) return { len: 4, lo: 0x80, hi: 0xbf };
  return null;
}

function goUtf8Decode(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const b0 = buf[i]!;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i++;
      continue;
    }
    const s = sequence(b0);
    let ok = s !== null && i + s.len <= buf.length && buf[i + 1]! >= s.lo && buf[i + 1]! <= s.hi;
    for (let k = 2; ok && k < s!.len; k++) ok = buf[i + k]! >= 0x80 && buf[i + k]! <= 0xbf;
    if (ok) {
      out += buf.toString('utf8', i, i + s!.len);
      i += s!.len;
    } else {
      out += '\ufffd';
      i++;
    }
  }
  return out;
}
