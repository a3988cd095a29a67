import { status as Status } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../support/cri-client';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';

/**
 * `KeyValue.value` is `bytes` (cri-api v0.36): env values travel as bytes and
 * what reaches the container is checked in its own /proc/1/environ, read back
 * byte for byte from the container log.
 */
describe('container env values sent as bytes', () => {
  let d: Daemon;
  let ref = '';
  let podId = '';
  const logDir = (): string => join(d.base, 'pods', 'env');
  const sandboxConfig = (): object => ({
    metadata: { name: 'env', namespace: 'default', uid: 'uid-env', attempt: 0 },
    log_directory: logDir(),
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  });

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    ref = (await pushBusybox(reg, 'env/busybox:1')).ref;
    d = await startDaemon();
    await d.image.call('PullImage', { image: { image: ref } });
    podId = (await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig() })).pod_sandbox_id;
  });
  afterAll(async () => {
    if (podId) {
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
    }
    await d?.cleanup();
    await stopTestRegistry();
  });

  const removeAfter: string[] = [];
  const create = (name: string, envs: Array<{ key: string; value: Buffer }>) =>
    d.runtime.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: podId,
      config: { metadata: { name, attempt: 0 }, image: { image: ref }, command: ['/bin/sh', '-c', "cat /proc/self/environ | tr '\\0' '\\n'"], envs, log_path: `${name}.log` },
      sandbox_config: sandboxConfig(),
    });

  it('keeps UTF-8 byte for byte and turns bytes that are not UTF-8 into U+FFFD, as runc does for containerd', async () => {
    const utf8 = Buffer.from('héllo 日本 🙂 a=b', 'utf8');
    const binary = Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0x63]);
    const { container_id } = await create('bytes', [
      { key: 'UTF8_VALUE', value: utf8 },
      { key: 'BINARY_VALUE', value: binary },
      { key: 'EMPTY_VALUE', value: Buffer.alloc(0) },
    ]);
    await d.runtime.call('StartContainer', { container_id });
    removeAfter.push(container_id);
    for (let i = 0; i < 100; i++) {
      const st = await d.runtime.call<{ status: { state: string } }>('ContainerStatus', { container_id });
      if (st.status.state === 'CONTAINER_EXITED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // CRI log lines: "<time> <stream> <P|F> <bytes>"; P (partial) lines continue on the next one.
    const log = readFileSync(join(logDir(), 'bytes.log'));
    const lines: Buffer[] = [];
    let partial: Buffer[] = [];
    for (let start = 0; start < log.length; ) {
      const end = log.indexOf(0x0a, start) < 0 ? log.length : log.indexOf(0x0a, start);
      const line = log.subarray(start, end);
      start = end + 1;
      let at = 0;
      for (let k = 0; k < 3; k++) at = line.indexOf(0x20, at) + 1;
      partial.push(line.subarray(at));
      if (line[at - 2] === 0x46) {
        lines.push(Buffer.concat(partial));
        partial = [];
      }
    }
    // Compared as hex so a failure shows the bytes.
    const hexLines = lines.map((l) => l.toString('hex'));
    const hexEntry = (key: string, value: Buffer): string => Buffer.concat([Buffer.from(`${key}=`), value]).toString('hex');
    expect(hexLines).toContain(hexEntry('UTF8_VALUE', utf8));
    expect(hexLines).toContain(hexEntry('BINARY_VALUE', Buffer.from('a\ufffdb\ufffd(c', 'utf8')));
    expect(hexLines).toContain(hexEntry('EMPTY_VALUE', Buffer.alloc(0)));
  });

  it('refuses a NUL byte with INVALID_ARGUMENT and leaves no container behind', async () => {
    const err = await create('nul', [{ key: 'BAD', value: Buffer.from([0x61, 0x00, 0x62]) }]).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(Status.INVALID_ARGUMENT);
    expect(String(err)).toContain('envs[0] "BAD"');
    const list = await d.runtime.call<{ containers: Array<{ metadata: { name: string } }> }>('ListContainers', { filter: { pod_sandbox_id: podId } });
    expect(list.containers.map((c) => c.metadata.name)).not.toContain('nul');
  });
});
