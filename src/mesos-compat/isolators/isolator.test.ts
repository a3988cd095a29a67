import { describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import type { SandboxRecord } from '../state';
import { IsolatorList, type Isolator, type SandboxLaunch } from './isolator';

const sb = { id: 'sb', podCgroup: '/pod', hostNetwork: false };

function recording(calls: string[], name: string, fail?: 'prepare' | 'cleanup'): Isolator {
  return {
    name,
    async prepare() {
      calls.push(`prepare ${name}`);
      if (fail === 'prepare') throw new Error(`${name} failed`);
      return { files: { [name]: `/${name}` } };
    },
    async cleanup() {
      calls.push(`cleanup ${name}`);
      if (fail === 'cleanup') throw new Error(`${name} failed`);
    },
    async recover() {
      calls.push(`recover ${name}`);
    },
  };
}

const launch = { id: 'sb', ctx: background(), lap: () => undefined, checkpoint: async () => undefined } as unknown as SandboxLaunch;

describe('IsolatorList', () => {
  it('prepares and recovers in list order, cleans up in reverse, and merges what prepare hands on', async () => {
    const calls: string[] = [];
    const list = new IsolatorList([recording(calls, 'shm'), { name: 'bare' }, recording(calls, 'hosts'), { name: 'cg', prepare: async () => ({ cgroupDirs: ['/a'] }) }]);
    const info = await list.prepare(launch);
    expect(info).toEqual({ files: { shm: '/shm', hosts: '/hosts' }, cgroupDirs: ['/a'] });
    const done: string[] = [];
    await list.cleanup(sb, background(), { done: (iso) => done.push(iso.name) });
    expect(done).toEqual(['hosts', 'shm']);
    await list.recover({ sandboxes: [] as SandboxRecord[], untouched: new Set() }, background());
    expect(calls).toEqual(['prepare shm', 'prepare hosts', 'cleanup hosts', 'cleanup shm', 'recover shm', 'recover hosts']);
  });

  it('stops at the first failure unless told to report and go on', async () => {
    const calls: string[] = [];
    const list = new IsolatorList([recording(calls, 'a'), recording(calls, 'b', 'cleanup'), recording(calls, 'c', 'prepare')]);
    await expect(list.prepare(launch)).rejects.toThrow('c failed');
    await expect(list.cleanup(sb, background())).rejects.toThrow('b failed');
    expect(calls).toEqual(['prepare a', 'prepare b', 'prepare c', 'cleanup c', 'cleanup b']);
    const failed: string[] = [];
    await list.cleanup(sb, background(), { onError: (iso) => failed.push(iso.name) });
    expect(failed).toEqual(['b']);
    expect(calls.slice(5)).toEqual(['cleanup c', 'cleanup b', 'cleanup a']);
  });
});
