import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import {
  cgroupsUnder,
  createCtr,
  ctrConfig,
  ctrStatus,
  failure,
  GRPC,
  mountsUnder,
  netnsPins,
  podConfig,
  processesOf,
  runPod,
  tearDown,
  testCgroupParent,
  waitExited,
  type Pod,
  type Wire,
  waitSwept,
} from './cri-fixture';
import { tree } from './fixtures';

/**
 * Issue 15's bad-input test: malformed and hostile CRI requests, each
 * answered with a specific status code (never INTERNAL or UNKNOWN where
 * INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS or FAILED_PRECONDITION fits),
 * while the daemon keeps serving, nothing outside its dirs is written (a
 * canary directory on the host stays as it was), a failed request leaves
 * nothing behind, and the daemon starts again on whatever state is left.
 */

const CODES: Record<number, string> = { 0: 'OK', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 5: 'NOT_FOUND', 6: 'ALREADY_EXISTS', 9: 'FAILED_PRECONDITION', 13: 'INTERNAL' };
const name = (code: number): string => CODES[code] ?? String(code);

/** Names, sizes, modes and contents of everything under `dir`. */
function snapshot(dir: string): string[] {
  return tree(dir).map((p) => {
    const st = statSync(join(dir, p));
    const sum = st.isFile() ? createHash('sha256').update(readFileSync(join(dir, p))).digest('hex').slice(0, 16) : '';
    return `${p} ${st.mode.toString(8)} ${st.size} ${sum}`;
  });
}

describe('malformed and hostile CRI requests', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let noCmd = '';
  let pod: Pod;
  let canary = '';
  let canarySnap: string[] = [];
  let count = 0;

  /** Everything a request could leave on the host. */
  const footprint = async (): Promise<Record<string, unknown>> => {
    await waitSwept(d);
    return footprintNow();
  };
  const footprintNow = async (): Promise<Record<string, unknown>> => ({
    containers: (await d.runtime.call<{ containers: Array<{ id: string }> }>('ListContainers', {})).containers.map((c) => c.id).sort(),
    sandboxes: (await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {})).items.map((p) => p.id).sort(),
    state: tree(join(d.workDir, 'containerizer')),
    rootfs: tree(join(d.workDir, 'provisioner', 'containers')),
    runc: tree(join(d.runDir, 'runc')),
    exits: tree(join(d.runDir, 'exits')),
    socks: tree(join(d.runDir, 'socks')),
    mounts: mountsUnder(d.base).sort(),
    netns: netnsPins(d.runDir),
    processes: processesOf(d.base, cgroupParent)
      .map((p) => p.pid)
      .sort(),
    cgroups: cgroupsUnder(cgroupParent).sort(),
  });

  /** One bad request: the code it must get, and nothing left behind. */
  async function expectCode(what: string, rpc: string, req: Wire, code: number, client: 'runtime' | 'image' = 'runtime'): Promise<string> {
    const before = await footprint();
    const got = await d[client].call(rpc, req).then(
      () => ({ code: 0, details: '' }),
      (err: unknown) => failure(Promise.reject(err)),
    );
    count++;
    expect({ what, code: name(got.code) }).toEqual({ what, code: name(code) });
    expect({ what, after: await footprint() }).toEqual({ what, after: before });
    // The daemon keeps serving.
    await d.runtime.call('Version', {});
    return got.details;
  }

  const pc = (n: string, extra: Wire = {}): Wire => ({ ...podConfig(n, join(d.base, 'pods', n)), ...extra });
  const cc = (n: string, extra: Wire = {}, command: string[] | undefined = ['true']): Wire => ctrConfig(n, bb, command, extra);
  const create = (config: Wire, p: Pod = pod): Wire => ({ pod_sandbox_id: p.id, config, sandbox_config: p.config });

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'badinput/busybox:1')).ref;
    noCmd = (await pushBusybox(reg, 'badinput/nocmd:1', { cmd: [] })).ref;
    canary = mkdtempSync(join(tmpdir(), 'mcri-canary-'));
    mkdirSync(join(canary, 'sub'));
    writeFileSync(join(canary, 'keep'), 'canary\n');
    writeFileSync(join(canary, 'sub', 'keep2'), 'canary2\n');
    canarySnap = snapshot(canary);
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    await d.image.call('PullImage', { image: { image: noCmd } });
    pod = await runPod(d, 'badinput');
    // The pod's per-container parent dirs exist from then on: a first container made and removed.
    await d.runtime.call('RemoveContainer', { container_id: await createCtr(d, pod, ctrConfig('first', bb, ['true'])) });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
    if (canary) rmSync(canary, { recursive: true, force: true });
  });

  it('refuses bad pod sandbox configs with INVALID_ARGUMENT or NOT_FOUND, leaving nothing behind', async () => {
    const huge = 'a'.repeat(128 * 1024);
    const I = GRPC.INVALID_ARGUMENT;
    await expectCode('no config', 'RunPodSandbox', {}, I);
    await expectCode('no metadata', 'RunPodSandbox', { config: { ...pc('x'), metadata: undefined } }, I);
    await expectCode('empty name', 'RunPodSandbox', { config: pc('') }, I);
    const big = await expectCode('128 KiB name', 'RunPodSandbox', { config: pc(huge) }, I);
    expect(big).toMatch(/metadata\.name/);
    expect(big.length).toBeLessThan(1024); // the error does not echo the value
    await expectCode('300-char namespace', 'RunPodSandbox', { config: { ...pc('ns'), metadata: { name: 'ns', namespace: 'n'.repeat(300), uid: 'u1' } } }, I);
    await expectCode('128 KiB uid', 'RunPodSandbox', { config: { ...pc('uid'), metadata: { name: 'uid', namespace: 'e2e', uid: huge } } }, I);
    await expectCode('CNI_ARGS injection in the name', 'RunPodSandbox', { config: pc('x;IP=10.88.0.77') }, I);
    await expectCode('NUL in the namespace', 'RunPodSandbox', { config: { ...pc('nul'), metadata: { name: 'nul', namespace: 'a\0b', uid: 'u2' } } }, I);
    await expectCode('unknown runtime handler', 'RunPodSandbox', { config: pc('handler'), runtime_handler: 'no-such-handler' }, GRPC.NOT_FOUND);
    const privateUts = (n: string, extra: Wire): Wire =>
      pc(n, { linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } }, ...extra });
    await expectCode('300-char hostname', 'RunPodSandbox', { config: privateUts('host', { hostname: 'h'.repeat(300) }) }, I);
    await expectCode('port 70000', 'RunPodSandbox', { config: pc('port', { port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 70000 }] }) }, I);
    await expectCode('negative container port', 'RunPodSandbox', { config: pc('nport', { port_mappings: [{ protocol: 'TCP', container_port: -1, host_port: 8080 }] }) }, I);
    await expectCode('relative log_directory', 'RunPodSandbox', { config: pc('rel', { log_directory: 'relative/logs' }) }, I);
    await expectCode('8 KiB log_directory', 'RunPodSandbox', { config: pc('longlog', { log_directory: `/${'l'.repeat(8192)}` }) }, I);
    await expectCode('512 KiB of annotations', 'RunPodSandbox', { config: pc('ann', { annotations: { a: huge, b: huge, c: huge, d: huge } }) }, I);
    await expectCode('a 1000-char label key', 'RunPodSandbox', { config: pc('label', { labels: { ['k'.repeat(1000)]: 'v' } }) }, I);
    await expectCode('unknown sysctl', 'RunPodSandbox', { config: pc('sysctl', { linux: { sysctls: { 'kernel.no_such_sysctl': '1' } } }) }, I);
    await expectCode('cgroup parent escaping upwards', 'RunPodSandbox', { config: pc('cg', { linux: { cgroup_parent: '../../..' } }) }, I);
    await expectCode('100 DNS search domains', 'RunPodSandbox', { config: pc('dns', { dns_config: { servers: ['1.1.1.1'], searches: Array.from({ length: 100 }, (_, i) => `s${i}.example`) } }) }, I);
    await expectCode('duplicate pod name', 'RunPodSandbox', { config: pod.config }, GRPC.ALREADY_EXISTS);
  });

  it('refuses bad container configs with a specific code, leaving nothing behind', async () => {
    const I = GRPC.INVALID_ARGUMENT;
    const huge = 'x'.repeat(200 * 1024);
    await expectCode('path-traversal sandbox id', 'CreateContainer', { ...create(cc('t')), pod_sandbox_id: '../../../etc' }, GRPC.NOT_FOUND);
    await expectCode('128 KiB container name', 'CreateContainer', create(cc('c'.repeat(128 * 1024))), I);
    await expectCode('mount onto /', 'CreateContainer', create(cc('root', { mounts: [{ container_path: '/', host_path: canary }] })), I);
    await expectCode('relative mount target that is the rootfs', 'CreateContainer', create(cc('relm', { mounts: [{ container_path: 'etc/..', host_path: canary }] })), I);
    await expectCode('relative mount source', 'CreateContainer', create(cc('rels', { mounts: [{ container_path: '/m', host_path: 'sub' }] })), I);
    await expectCode('garbage cpuset', 'CreateContainer', create(cc('cpuset', { linux: { resources: { cpuset_cpus: '0-,x;1' } } })), I);
    await expectCode('negative memory limit', 'CreateContainer', create(cc('mem', { linux: { resources: { memory_limit_in_bytes: '-5' } } })), I);
    await expectCode('negative cpu shares', 'CreateContainer', create(cc('shares', { linux: { resources: { cpu_shares: '-2' } } })), I);
    await expectCode('a device that does not exist', 'CreateContainer', create(cc('dev', { devices: [{ container_path: '/dev/x', host_path: join(canary, 'nodev'), permissions: 'rwm' }] })), GRPC.NOT_FOUND);
    await expectCode('device permissions "xyz"', 'CreateContainer', create(cc('devp', { devices: [{ container_path: '/dev/n', host_path: '/dev/null', permissions: 'xyz' }] })), I);
    await expectCode('200 KiB env value', 'CreateContainer', create(cc('env', { envs: [{ key: 'BIG', value: Buffer.from(huge) }] })), I);
    await expectCode('200 KiB argument', 'CreateContainer', create(cc('arg', {}, ['echo', huge])), I);
    await expectCode('missing command', 'CreateContainer', create(ctrConfig('nocmd', noCmd, undefined)), I);
    await expectCode('empty command', 'CreateContainer', create(cc('emptycmd', {}, [''])), I);
    await expectCode('relative working dir', 'CreateContainer', create(cc('cwd', { working_dir: 'tmp' })), I);
    await expectCode('log path escaping the log directory', 'CreateContainer', create(cc('logesc', { log_path: '../../../../../../../../..' + join(canary, 'x.log') })), I);
    await expectCode('no image', 'CreateContainer', create({ metadata: { name: 'noimg' } }), I);
    await expectCode('image not pulled', 'CreateContainer', create(ctrConfig('nopull', `${bb.split('/')[0]}/badinput/missing:1`, ['true'])), GRPC.NOT_FOUND);
    const dup = await createCtr(d, pod, cc('dup'));
    await expectCode('duplicate container name', 'CreateContainer', create(cc('dup')), GRPC.ALREADY_EXISTS);
    await d.runtime.call('RemoveContainer', { container_id: dup });
  });

  it('answers calls on missing, stopped or not-started containers with NOT_FOUND or FAILED_PRECONDITION', async () => {
    const I = GRPC.INVALID_ARGUMENT;
    const missing = 'f'.repeat(64);
    await expectCode('status of a path-traversal id', 'ContainerStatus', { container_id: '../../../../etc/passwd' }, GRPC.NOT_FOUND);
    await expectCode('exec on a missing container', 'Exec', { container_id: missing, cmd: ['sh'], stdout: true }, GRPC.NOT_FOUND);
    await expectCode('attach to a missing container', 'Attach', { container_id: missing, stdout: true }, GRPC.NOT_FOUND);
    await expectCode('port-forward to a missing pod', 'PortForward', { pod_sandbox_id: missing, port: [80] }, GRPC.NOT_FOUND);
    await expectCode('exec-sync with an empty command', 'ExecSync', { container_id: missing, cmd: [] }, I);

    const created = await createCtr(d, pod, cc('created', {}, ['sleep', '1000']));
    await expectCode('exec-sync in a container never started', 'ExecSync', { container_id: created, cmd: ['true'] }, GRPC.FAILED_PRECONDITION);
    await expectCode('exec in a container never started', 'Exec', { container_id: created, cmd: ['true'], stdout: true }, GRPC.FAILED_PRECONDITION);
    await expectCode('exec with no stream at all', 'Exec', { container_id: created, cmd: ['true'] }, I);
    const exited = await createCtr(d, pod, cc('exited', {}, ['true']));
    await d.runtime.call('StartContainer', { container_id: exited });
    await waitExited(d, exited);
    await expectCode('exec-sync in an exited container', 'ExecSync', { container_id: exited, cmd: ['true'] }, GRPC.FAILED_PRECONDITION);
    await expectCode('attach to an exited container', 'Attach', { container_id: exited, stdout: true }, GRPC.FAILED_PRECONDITION);
    await expectCode('start an exited container again', 'StartContainer', { container_id: exited }, GRPC.FAILED_PRECONDITION);
    await expectCode('negative memory in an update', 'UpdateContainerResources', { container_id: created, linux: { memory_limit_in_bytes: '-1' } }, I);
    await expectCode('pull of a malformed reference', 'PullImage', { image: { image: 'UPPER/Case::bad@@ref' } }, I, 'image');
    await d.runtime.call('RemoveContainer', { container_id: created });
    await d.runtime.call('RemoveContainer', { container_id: exited });
  });

  it('reports the oom_score_adj it applied, not the one asked for', async () => {
    const id = await createCtr(d, pod, cc('oom', { linux: { resources: { oom_score_adj: '5000' } } }, ['sleep', '1000']));
    const st = await d.runtime.call<{ status: { resources?: { linux?: { oom_score_adj: string } } } }>('ContainerStatus', { container_id: id });
    expect(st.status.resources?.linux?.oom_score_adj).toBe('1000');
    await d.runtime.call('StartContainer', { container_id: id });
    const pid = (JSON.parse((await d.runtime.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true })).info.info ?? '{}') as { pid: number }).pid;
    expect(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim()).toBe('1000');
    await d.runtime.call('RemoveContainer', { container_id: id });
    count++;
  });

  it('removes one pod from several clients at once, once, and all of them succeed', async () => {
    const p = await runPod(d, 'concurrent');
    const c = await createCtr(d, p, cc('c', {}, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: c });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id })));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    expect((await failure(d.runtime.call('PodSandboxStatus', { pod_sandbox_id: p.id }))).code).toBe(GRPC.NOT_FOUND);
    expect((await failure(ctrStatus(d, c))).code).toBe(GRPC.NOT_FOUND);
    // The cgroups go behind the replies (the runtime's delete at a low priority, then the pod's sweep).
    await waitSwept(d);
    expect(cgroupsUnder(`${cgroupParent}/${p.id}`)).toEqual([]);
    count++;
  });

  it('leaves the canary untouched and the daemon able to start on what is left', async () => {
    expect(count).toBeGreaterThanOrEqual(30);
    expect(snapshot(canary)).toEqual(canarySnap);
    expect(tree(join(d.base, 'pods')).filter((p) => p.includes(canary.slice(1)))).toEqual([]);
    const before = d.pid;
    d = await d.restart();
    // A new daemon, the old one stopped (a restart next to a running daemon answered from the old one and leaked it).
    expect(d.pid).not.toBe(before);
    expect(existsSync(`/proc/${before}`)).toBe(false);
    expect((await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {})).items.map((p) => p.id)).toEqual([pod.id]);
    expect(snapshot(canary)).toEqual(canarySnap);
  });
});
