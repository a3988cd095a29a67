import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, MessageType, messageLength, splitSignature, variant } from './wire';

describe('D-Bus wire format', () => {
  it('encodes a method call byte for byte as the specification lays it out', () => {
    const b = encodeMessage({ type: MessageType.MethodCall, serial: 7, path: '/a', member: 'M', signature: 'u', body: [0x01020304] });
    // Fixed header: 'l', METHOD_CALL, flags 0, version 1, body length 4, serial 7.
    expect([...b.subarray(0, 12)]).toEqual([0x6c, 1, 0, 1, 4, 0, 0, 0, 7, 0, 0, 0]);
    // Fields: (1, o "/a") padded to 8, (3, s "M"), (8, g "u").
    const fieldsLen = b.readUInt32LE(12);
    const fields = b.subarray(16, 16 + fieldsLen);
    expect([...fields.subarray(0, 4)]).toEqual([1, 1, 0x6f, 0]); // code 1, sig "o"
    expect([...fields.subarray(4, 11)]).toEqual([2, 0, 0, 0, 0x2f, 0x61, 0]); // "/a"
    // Body starts 8-aligned; little-endian u32.
    const bodyAt = Math.ceil((16 + fieldsLen) / 8) * 8;
    expect([...b.subarray(bodyAt)]).toEqual([4, 3, 2, 1]);
    expect(messageLength(b)).toBe(b.length);
  });

  it('round-trips StartTransientUnit arguments (ssa(sv)a(sa(sv)))', () => {
    const props = [
      ['Description', variant('s', 'x')],
      ['Delegate', variant('b', true)],
      ['PIDs', variant('au', [1, 4242])],
      ['MemoryMax', variant('t', 1n << 40n)],
    ];
    const m = decodeMessage(
      encodeMessage({ type: MessageType.MethodCall, serial: 1, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager', member: 'StartTransientUnit', destination: 'org.freedesktop.systemd1', signature: 'ssa(sv)a(sa(sv))', body: ['u.scope', 'replace', props, []] }),
    );
    expect(m.member).toBe('StartTransientUnit');
    expect(m.destination).toBe('org.freedesktop.systemd1');
    expect(m.body).toEqual(['u.scope', 'replace', props, []]);
  });

  it('splits signatures and refuses malformed ones', () => {
    expect(splitSignature('ssa(sv)a(sa(sv))')).toEqual(['s', 's', 'a(sv)', 'a(sa(sv))']);
    expect(splitSignature('a{sv}u')).toEqual(['a{sv}', 'u']);
    expect(() => splitSignature('(s')).toThrow();
    expect(() => splitSignature('a')).toThrow();
    expect(() => splitSignature('()')).toThrow();
    expect(() => splitSignature('h')).toThrow();
  });

  it('refuses hostile input: truncated bodies, lying array lengths, huge messages, bad object paths', () => {
    const good = encodeMessage({ type: MessageType.MethodReturn, serial: 2, replySerial: 1, signature: 'as', body: [['a', 'b']] });
    expect(() => decodeMessage(good.subarray(0, good.length - 1))).toThrow();
    const lying = Buffer.from(good);
    const bodyAt = good.length - good.readUInt32LE(4);
    lying.writeUInt32LE(0xfffffff0, bodyAt);
    expect(() => decodeMessage(lying)).toThrow();
    const huge = Buffer.from(good);
    huge.writeUInt32LE(0x7fffffff, 4);
    expect(() => messageLength(huge)).toThrow(/over the limit/);
    expect(() => encodeMessage({ type: MessageType.MethodCall, serial: 1, path: '/a/../b', member: 'M' })).toThrow(/object path/);
    expect(() => encodeMessage({ type: MessageType.MethodCall, serial: 1, path: '/', member: 'M', signature: 's', body: ['a\0b'] })).toThrow(/NUL/);
  });
});
