import { existsSync, renameSync, statSync } from 'node:fs';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import {
  createCtr,
  ctrConfig,
  ctrStatus,
  failure,
  GRPC,
  logText,
  readCriLog,
  tearDown,
  runPod,
  runToExit,
  testCgroupParent,
  until,
  waitExited,
  type Pod,
} from './cri-fixture';

/** What kubelet observes through the socket: logs, log rotation, stats, events and lists. */

interface Event {
  container_id: string;
  container_event_type: string;
  created_at: string;
  pod_sandbox_status: { id: string } | null;
  containers_statuses: Array<{ id: string; state: string }>;
}

describe('observing pods and containers through the daemon', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let pod: Pod;

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'observe/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    pod = await runPod(d, 'observe', { labels: { tier: 'a' } });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
  });

  it('writes stdout and stderr in CRI format, splitting long lines into partial ones', async () => {
    const r = await runToExit(
      d,
      pod,
      ctrConfig('logs', bb, ['sh', '-c', 'echo hello; echo oops >&2; head -c 20000 /dev/zero | tr "\\0" x; echo; printf partial; exit 3']),
    );
    expect(r.st).toMatchObject({ exit_code: 3, reason: 'Error' });
    const lines = readCriLog(r.st.log_path); // throws on any line not in CRI format
    expect(lines.find((l) => l.text === 'hello')).toMatchObject({ stream: 'stdout', tag: 'F' });
    expect(lines.find((l) => l.text === 'oops')).toMatchObject({ stream: 'stderr', tag: 'F' });
    // The long line: P pieces up to the F that ends it (the newline may come
    // in a later write, as an F with no text, which CRI readers join).
    const out = lines.filter((l) => l.stream === 'stdout');
    const first = out.findIndex((l) => l.text.startsWith('x'));
    const end = out.findIndex((l, i) => i >= first && l.tag === 'F');
    const xs = out.slice(first, end + 1);
    expect(xs.length).toBeGreaterThan(1);
    expect(xs.slice(0, -1).every((l) => l.tag === 'P')).toBe(true);
    expect(xs.at(-1)!.tag).toBe('F');
    expect(xs.map((l) => l.text).join('')).toBe('x'.repeat(20000));
    expect(lines.at(-1)).toMatchObject({ stream: 'stdout', tag: 'P', text: 'partial' });
    expect(r.out).toEqual(['hello', 'x'.repeat(20000), 'partial']);
    const times = lines.map((l) => Date.parse(l.time));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
  });

  it('reopens the log after rotation and refuses to reopen an exited container', async () => {
    const id = await createCtr(d, pod, ctrConfig('rotate', bb, ['sh', '-c', 'i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done']));
    await d.runtime.call('StartContainer', { container_id: id });
    const { log_path } = await ctrStatus(d, id);
    await until('first lines', () => (readCriLog(log_path).length >= 3 ? true : undefined));
    renameSync(log_path, `${log_path}.1`);
    await d.runtime.call('ReopenContainerLog', { container_id: id });
    await until('the new log file to fill', () => (existsSync(log_path) && readCriLog(log_path).length >= 3 ? true : undefined));
    const rotated = statSync(`${log_path}.1`).size;
    await until('more lines in the new file', () => (readCriLog(log_path).length >= 6 ? true : undefined));
    expect(statSync(`${log_path}.1`).size).toBe(rotated); // the old file is no longer written
    const oldLast = Number(logText(readCriLog(`${log_path}.1`)).at(-1)!.slice(4));
    const newFirst = Number(logText(readCriLog(log_path))[0]!.slice(4));
    expect(newFirst).toBeGreaterThan(oldLast);

    await d.runtime.call('StopContainer', { container_id: id, timeout: '0' });
    const f = await failure(d.runtime.call('ReopenContainerLog', { container_id: id }));
    expect(f.code).toBe(GRPC.FAILED_PRECONDITION);
    await d.runtime.call('RemoveContainer', { container_id: id });
  });

  it('reports container and pod stats from the cgroups and the writable layer', async () => {
    const id = await createCtr(
      d,
      pod,
      ctrConfig('stats', bb, ['sh', '-c', 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; head -c 1000000 /dev/zero > /tmp/blob; echo warm; exec sleep 1000'], {
        labels: { role: 'stats' },
      }),
    );
    await d.runtime.call('StartContainer', { container_id: id });
    const { log_path } = await ctrStatus(d, id);
    await until('warm-up', () => (readCriLog(log_path).some((l) => l.text === 'warm') ? true : undefined));
    const other = await runToExit(d, pod, ctrConfig('stats-exited', bb, ['true'], { labels: { role: 'stats' } }));

    type Stats = {
      attributes: { id: string; metadata: { name: string }; labels: Record<string, string> };
      cpu: { usage_core_nano_seconds: { value: string } | null; usage_nano_cores: { value: string } | null };
      memory: { working_set_bytes: { value: string } | null; usage_bytes: { value: string } | null };
      writable_layer: { used_bytes: { value: string } | null; inodes_used: { value: string } | null } | null;
    };
    const one = (await d.runtime.call<{ stats: Stats }>('ContainerStats', { container_id: id })).stats;
    expect(one.attributes).toMatchObject({ id, metadata: { name: 'stats' }, labels: { role: 'stats' } });
    expect(BigInt(one.cpu.usage_core_nano_seconds!.value)).toBeGreaterThan(0n);
    expect(BigInt(one.memory.usage_bytes!.value)).toBeGreaterThan(0n);
    expect(BigInt(one.memory.working_set_bytes!.value)).toBeGreaterThan(0n);
    expect(BigInt(one.writable_layer!.used_bytes!.value)).toBeGreaterThanOrEqual(1_000_000n);
    expect(BigInt(one.writable_layer!.inodes_used!.value)).toBeGreaterThan(0n);
    // A rate needs two samples.
    await new Promise((r) => setTimeout(r, 100));
    const two = (await d.runtime.call<{ stats: Stats }>('ContainerStats', { container_id: id })).stats;
    expect(two.cpu.usage_nano_cores).not.toBeNull();

    const byPod = await d.runtime.call<{ stats: Stats[] }>('ListContainerStats', { filter: { pod_sandbox_id: pod.id } });
    expect(byPod.stats.map((s) => s.attributes.id)).toContain(id);
    expect(byPod.stats.map((s) => s.attributes.id)).not.toContain(other.id); // exited: no stats
    const byLabel = await d.runtime.call<{ stats: Stats[] }>('ListContainerStats', { filter: { label_selector: { role: 'stats' } } });
    expect(byLabel.stats.map((s) => s.attributes.id)).toEqual([id]);
    const byId = await d.runtime.call<{ stats: Stats[] }>('ListContainerStats', { filter: { id: id.slice(0, 16) } });
    expect(byId.stats.map((s) => s.attributes.id)).toEqual([id]);

    type PodStats = { attributes: { id: string }; linux: { cpu: Stats['cpu']; memory: Stats['memory']; containers: Stats[] } };
    const ps = (await d.runtime.call<{ stats: PodStats }>('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;
    expect(ps.attributes.id).toBe(pod.id);
    expect(BigInt(ps.linux.memory.usage_bytes!.value)).toBeGreaterThanOrEqual(BigInt(one.memory.usage_bytes!.value) / 2n);
    expect(BigInt(ps.linux.cpu.usage_core_nano_seconds!.value)).toBeGreaterThan(0n);
    expect(ps.linux.containers.map((c) => c.attributes.id)).toContain(id);
    const list = await d.runtime.call<{ stats: PodStats[] }>('ListPodSandboxStats', { filter: { id: pod.id } });
    expect(list.stats.map((s) => s.attributes.id)).toEqual([pod.id]);
    const none = await d.runtime.call<{ stats: PodStats[] }>('ListPodSandboxStats', { filter: { label_selector: { tier: 'nope' } } });
    expect(none.stats).toEqual([]);
    await d.runtime.call('RemoveContainer', { container_id: id });
    await d.runtime.call('RemoveContainer', { container_id: other.id });
  });

  it('streams created, started, stopped and deleted events as they happen', async () => {
    const events: Event[] = [];
    const stream = (d.runtime.raw as unknown as { GetContainerEvents(req: object): ClientReadableStream<Event> }).GetContainerEvents({});
    stream.on('data', (e: Event) => events.push(e));
    const ended = new Promise<void>((resolve) => {
      stream.on('error', () => resolve());
      stream.on('end', () => resolve());
    });
    try {
      // The server subscribes when the call arrives, which the client cannot
      // see: probe with pods until one's events come through the stream.
      let probe: Pod | undefined;
      const probes: Pod[] = [];
      for (let i = 0; i < 5 && !probe; i++) {
        const p = await runPod(d, `events-probe-${i}`);
        probes.push(p);
        const seen = await until('the stream to deliver', () => (events.some((e) => e.container_id === p.id) ? true : undefined), 2000).catch(() => false);
        if (seen) probe = p;
      }
      if (!probe) throw new Error('the event stream delivered nothing');
      for (const p of probes) if (p !== probe) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id });

      const id = await createCtr(d, pod, ctrConfig('events', bb, ['sleep', '1000']));
      await until('created', () => (events.some((e) => e.container_id === id) ? true : undefined), 5000);
      const created = events.find((e) => e.container_id === id)!;
      expect(created).toMatchObject({ container_event_type: 'CONTAINER_CREATED_EVENT', pod_sandbox_status: { id: pod.id } });
      expect(created.containers_statuses.find((c) => c.id === id)).toMatchObject({ state: 'CONTAINER_CREATED' });
      await d.runtime.call('StartContainer', { container_id: id });
      await d.runtime.call('StopContainer', { container_id: id, timeout: '0' });
      await d.runtime.call('RemoveContainer', { container_id: id });
      const mine = (): string[] => events.filter((e) => e.container_id === id).map((e) => e.container_event_type);
      await until('deleted', () => (mine().length >= 4 ? true : undefined), 10_000);
      expect(mine()).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
      const at = events.filter((e) => e.container_id === id).map((e) => BigInt(e.created_at));
      expect(at.every((t, i) => i === 0 || t >= at[i - 1]!)).toBe(true);

      // A sandbox's own lifecycle is reported under its id.
      const probeId = probe.id;
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: probeId });
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: probeId });
      const pods = (): string[] => events.filter((e) => e.container_id === probeId).map((e) => e.container_event_type);
      await until('sandbox deleted', () => (pods().length >= 4 ? true : undefined), 10_000);
      expect(pods()).toEqual(['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
    } finally {
      stream.cancel();
      await ended;
    }
    // Cancelling the stream leaves the daemon serving.
    await d.runtime.call('Version', {});
  });

  it('filters ListPodSandbox and ListContainers by id, state, sandbox and labels', async () => {
    const other = await runPod(d, 'observe-b', { labels: { tier: 'b' } });
    const running = await createCtr(d, other, ctrConfig('run', bb, ['sleep', '1000'], { labels: { kind: 'run' } }));
    await d.runtime.call('StartContainer', { container_id: running });
    const created = await createCtr(d, other, ctrConfig('made', bb, ['sleep', '1000'], { labels: { kind: 'made' } }));
    const exited = await createCtr(d, other, ctrConfig('done', bb, ['true'], { labels: { kind: 'done' } }));
    await d.runtime.call('StartContainer', { container_id: exited });
    await waitExited(d, exited);

    type P = { id: string; state: string; labels: Record<string, string> };
    type C = { id: string; state: string; pod_sandbox_id: string };
    const pods = async (filter: object): Promise<string[]> => (await d.runtime.call<{ items: P[] }>('ListPodSandbox', { filter })).items.map((p) => p.id).sort();
    const ctrs = async (filter: object): Promise<string[]> =>
      (await d.runtime.call<{ containers: C[] }>('ListContainers', { filter })).containers.map((c) => c.id).sort();

    expect(await pods({})).toEqual([pod.id, other.id].sort());
    expect(await pods({ id: other.id })).toEqual([other.id]);
    expect(await pods({ id: other.id.slice(0, 10) })).toEqual([other.id]);
    expect(await pods({ label_selector: { tier: 'b' } })).toEqual([other.id]);
    expect(await pods({ label_selector: { tier: 'b', pod: 'observe' } })).toEqual([]);
    expect(await pods({ state: { state: 'SANDBOX_READY' } })).toEqual([pod.id, other.id].sort());

    expect(await ctrs({ pod_sandbox_id: other.id })).toEqual([running, created, exited].sort());
    expect(await ctrs({ id: running })).toEqual([running]);
    expect(await ctrs({ state: { state: 'CONTAINER_RUNNING' }, pod_sandbox_id: other.id })).toEqual([running]);
    expect(await ctrs({ state: { state: 'CONTAINER_CREATED' } })).toEqual([created]);
    expect(await ctrs({ state: { state: 'CONTAINER_EXITED' }, pod_sandbox_id: other.id })).toEqual([exited]);
    expect(await ctrs({ label_selector: { kind: 'made' } })).toEqual([created]);
    expect(await ctrs({ label_selector: { kind: 'made' }, pod_sandbox_id: pod.id })).toEqual([]);

    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: other.id });
    expect(await pods({ state: { state: 'SANDBOX_NOTREADY' } })).toEqual([other.id]);
    expect(await ctrs({ state: { state: 'CONTAINER_EXITED' }, pod_sandbox_id: other.id })).toEqual([running, exited].sort());
    // Never started, so nothing to stop: CREATED, as containerd leaves it; and it cannot start in a stopped pod.
    expect(await ctrs({ state: { state: 'CONTAINER_CREATED' }, pod_sandbox_id: other.id })).toEqual([created]);
    expect((await failure(d.runtime.call('StartContainer', { container_id: created }))).code).toBe(GRPC.FAILED_PRECONDITION);
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: other.id });
    expect(await ctrs({ pod_sandbox_id: other.id })).toEqual([]);
    expect(await pods({ id: other.id })).toEqual([]);
  });
});
