import { describe, expect, it } from 'vitest';
import { buildCapabilities, capabilitiesFromMask, currentCapabilities, DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES } from './capabilities';
import { setLogSink } from '../../common/log';
import { securityContext } from './test-fixtures';

const ALL = KNOWN_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
const caps = (add: string[], drop: string[], addAmbient: string[] = []) =>
  buildCapabilities(securityContext({ capabilities: { add, drop, addAmbient } }), ALL);

describe('buildCapabilities', () => {
  it('starts from containerd defaults in all three sets, nothing inheritable or ambient', () => {
    const c = caps([], []);
    expect(new Set(c.bounding)).toEqual(new Set(DEFAULT_CAPABILITIES));
    expect(c.effective).toEqual(c.bounding);
    expect(c.permitted).toEqual(c.bounding);
    expect(c.inheritable).toEqual([]);
    expect(c.ambient).toEqual([]);
    expect(c.bounding).not.toContain('CAP_SYS_ADMIN');
  });

  it('adds and drops with or without the CAP_ prefix, any case', () => {
    const c = caps(['net_admin', 'CAP_SYS_TIME'], ['chown', 'CAP_KILL']);
    expect(c.bounding).toContain('CAP_NET_ADMIN');
    expect(c.bounding).toContain('CAP_SYS_TIME');
    expect(c.bounding).not.toContain('CAP_CHOWN');
    expect(c.bounding).not.toContain('CAP_KILL');
  });

  it('applies ALL before individual entries', () => {
    expect(caps(['ALL'], ['CHOWN']).bounding).toEqual(ALL.filter((x) => x !== 'CAP_CHOWN'));
    expect(caps(['KILL'], ['ALL']).bounding).toEqual(['CAP_KILL']);
    expect(caps([], ['all']).bounding).toEqual([]);
  });

  it('gives privileged containers everything the runtime holds', () => {
    const c = buildCapabilities(securityContext({ privileged: true, capabilities: { add: [], drop: ['ALL'], addAmbient: [] } }), ALL);
    expect(c.bounding).toEqual(ALL);
  });

  it('puts ambient capabilities in every set they need', () => {
    const c = caps([], ['ALL'], ['NET_BIND_SERVICE']);
    for (const set of [c.bounding, c.permitted, c.effective, c.inheritable, c.ambient]) expect(set).toEqual(['CAP_NET_BIND_SERVICE']);
  });

  it('ignores unknown names with a warning, as runc does, so newer names do not fail the pod', () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    try {
      expect(caps(['NOT_A_CAP', 'NET_ADMIN'], ['BOGUS'], ['ALSO_NEW']).bounding).toEqual(caps(['NET_ADMIN'], []).bounding);
    } finally {
      setLogSink((l) => process.stderr.write(l + '\n'));
    }
    expect(lines.join('\n')).toMatch(/add_capabilities.*NOT_A_CAP/);
    expect(lines.join('\n')).toMatch(/drop_capabilities.*BOGUS/);
    expect(lines.join('\n')).toMatch(/add_ambient_capabilities.*ALSO_NEW/);
  });
});

describe('capability masks', () => {
  it('decodes /proc status masks', () => {
    expect(capabilitiesFromMask('0000000000000003')).toEqual(['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    expect(capabilitiesFromMask('000001fffeffffff')).toEqual(ALL);
  });

  it('reads our own capabilities', () => {
    const mine = currentCapabilities();
    expect(mine.every((c) => KNOWN_CAPABILITIES.includes(c))).toBe(true);
  });
});
