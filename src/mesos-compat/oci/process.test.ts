import { describe, expect, it } from 'vitest';
import { buildArgs, buildEnv, DEFAULT_PATH, mergeEnv, workingDir } from './process';

describe('environment', () => {
  it('layers PATH, HOSTNAME, image and client env, later wins in place', () => {
    const env = buildEnv({
      hostname: 'pod-host',
      image: ['PATH=/image/bin', 'LANG=C', 'HOSTNAME=image'],
      client: [['LANG', 'en_US.UTF-8'], ['EXTRA', 'a=b']],
      home: '/home/app',
    });
    expect(env).toEqual(['PATH=/image/bin', 'HOSTNAME=image', 'LANG=en_US.UTF-8', 'EXTRA=a=b', 'HOME=/home/app']);
  });

  it('starts from the default PATH and keeps an explicit HOME', () => {
    expect(buildEnv({ hostname: 'h', image: [], client: [['HOME', '/x']], home: '/root' })).toEqual([DEFAULT_PATH, 'HOSTNAME=h', 'HOME=/x']);
  });

  it('sets TERM=xterm for a tty, which the image or the client may replace in place', () => {
    expect(buildEnv({ hostname: 'h', image: [], client: [], home: '/', tty: true })).toEqual([DEFAULT_PATH, 'TERM=xterm', 'HOSTNAME=h', 'HOME=/']);
    expect(buildEnv({ hostname: 'h', image: ['TERM=vt100'], client: [], home: '/', tty: true })).toEqual([DEFAULT_PATH, 'TERM=vt100', 'HOSTNAME=h', 'HOME=/']);
    expect(buildEnv({ hostname: 'h', image: [], client: [], home: '/' })).not.toContain('TERM=xterm');
  });

  it('removes keys given without a value and rejects bad client keys', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['A'])).toEqual(['B=2']);
    expect(() => buildEnv({ hostname: 'h', image: [], client: [['A=B', 'c']], home: '/' })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('envs[0].key') }),
    );
  });
});

describe('args', () => {
  const image = { entrypoint: ['/entry'], cmd: ['default', 'cmd'] };
  it('prepends the image entrypoint to the image cmd', () => {
    expect(buildArgs({ command: [], args: [] }, image)).toEqual(['/entry', 'default', 'cmd']);
  });
  it('replaces the cmd with client args', () => {
    expect(buildArgs({ command: [], args: ['x'] }, image)).toEqual(['/entry', 'x']);
  });
  it('replaces entrypoint and drops cmd with a client command', () => {
    expect(buildArgs({ command: ['/bin/sh', '-c'], args: ['echo hi'] }, image)).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(buildArgs({ command: ['/bin/true'], args: [] }, image)).toEqual(['/bin/true']);
  });
  it('fails when nothing is left to run', () => {
    expect(() => buildArgs({ command: [], args: [] }, { entrypoint: [], cmd: [] })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('no command specified') }),
    );
  });
});

describe('workingDir', () => {
  it('prefers the client, then the image, then /', () => {
    expect(workingDir({ workingDir: '/c' }, { workingDir: '/i' })).toBe('/c');
    expect(workingDir({ workingDir: '' }, { workingDir: '/i' })).toBe('/i');
    expect(workingDir({ workingDir: '' }, { workingDir: 'rel' })).toBe('/rel');
    expect(workingDir({ workingDir: '' }, { workingDir: '' })).toBe('/');
    expect(() => workingDir({ workingDir: 'rel' }, { workingDir: '' })).toThrow(expect.objectContaining({ message: expect.stringContaining('working_dir') }));
  });
});
