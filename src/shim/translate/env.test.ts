import { describe, expect, it } from 'vitest';
import { isCriError } from '../../common/errors';
import { envValue } from './env';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

describe('env values (KeyValue.value bytes)', () => {
  it('keeps valid UTF-8 exactly, whatever the script', () => {
    for (const s of ['', 'plain', 'line1\nline2 \\ end', 'héllo wörld', '日本語', '🙂 emoji', '\u{10ffff}'])
      expect(envValue(Buffer.from(s, 'utf8'), 'K', 0)).toBe(s);
  });

  it("replaces each byte that starts no valid sequence with U+FFFD, as runc's JSON decoding does", () => {
    // Bytes and results checked against runc 1.1 on this host: a config.json env value
    // of a\xffb\xc3(c reaches the container as "a\ufffdb\ufffd(c".
    expect(envValue(b(0x61, 0xff, 0x62, 0xc3, 0x28, 0x63), 'K', 0)).toBe('a\ufffdb\ufffd(c');
    // Go decodes byte by byte: a truncated 3-byte sequence is two replacements, not one.
    expect(envValue(b(0xe2, 0x82), 'K', 0)).toBe('\ufffd\ufffd');
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
    expect(envValue(b(0xc0, 0xaf), 'K', 0)).toBe('\ufffd\ufffd');
    expect(envValue(b(0xed, 0xa0, 0x80), 'K', 0)).toBe('\ufffd\ufffd\ufffd');
    expect(envValue(b(0xf4, 0x90, 0x80, 0x80), 'K', 0)).toBe('\ufffd\ufffd\ufffd\ufffd');
    // Valid sequences around invalid bytes survive.
    expect(envValue(Buffer.concat([Buffer.from('é'), b(0x80), Buffer.from('日')]), 'K', 0)).toBe('é\ufffd日');
  });

  it('refuses a NUL byte, naming the variable', () => {
    let err: unknown;
    try {
      envValue(b(0x61, 0x00, 0x62), 'SECRET', 3);
    } catch (e) {
      err = e;
    }
    expect(isCriError(err, 'InvalidArgument')).toBe(true);
    expect(String(err)).toContain('envs[3] "SECRET"');
  });
});
