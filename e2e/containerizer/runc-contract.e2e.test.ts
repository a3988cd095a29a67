import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { ociRuntimeContract } from '../../src/mesos-compat/oci-runtime.contract';
import { RuncRuntime } from '../../src/mesos-compat/runc';
import { tempBase } from './fixtures';

describe('RuncRuntime (real runc)', () => {
  const base = tempBase('runc-contract-');
  const runtime = new RuncRuntime({ name: 'runc', path: '/usr/sbin/runc', root: join(base, 'root') });
  afterAll(() => {
    for (const id of execFileSync('runc', ['--root', join(base, 'root'), 'list', '-q']).toString().split('\n').filter(Boolean)) {
      execFileSync('runc', ['--root', join(base, 'root'), 'delete', '-f', id]);
    }
    rmSync(base, { recursive: true, force: true });
  });
  ociRuntimeContract(async () => ({
    runtime,
    bundle: async (id) => {
      const b = join(base, id);
      if (existsSync(join(b, 'config.json'))) return b;
      mkdirSync(join(b, 'rootfs'), { recursive: true });
      execFileSync('runc', ['spec', '-b', b]);
      const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
      spec.process.terminal = false;
      spec.process.args = ['/catatonit', '-P'];
      spec.root = { path: join(b, 'rootfs'), readonly: true };
      spec.mounts.push({ destination: '/catatonit', type: 'bind', source: '/usr/bin/catatonit', options: ['rbind', 'ro'] });
      writeFileSync(join(b, 'rootfs', 'catatonit'), '');
      writeFileSync(join(b, 'config.json'), JSON.stringify(spec));
      return b;
    },
  }));
});
