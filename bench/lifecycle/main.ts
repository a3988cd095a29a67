/**
 * Lifecycle latency and memory of the containerizer, in process (no gRPC):
 * RunPodSandbox, CreateContainer, StartContainer and StopContainer +
 * RemoveContainer over N pods run sequentially, then N concurrently; and the
 * runtime-side memory per pod (each pod's conmon RSS, plus the daemon's RSS
 * growth while the pods run). Prints one JSON document.
 *
 *   node dist/bench/lifecycle/main.js [pods=50]
 *
 * TODO(containerizer): drive the real daemon over its socket and containerd's
 * CRI socket in the same run, and report ratios (the targets).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { nested, topLevel } from '../../src/common/container-id';
import { background } from '../../src/common/ctx';
import { createContainerizer, type MesosContainerizer } from '../../src/mesos-compat';
import { Cgroups } from '../../src/mesos-compat/isolators/cgroups';
import { containerConfig, sandboxConfig } from '../../e2e/containerizer/configs';
import { BusyboxProvisioner, tempBase } from '../../e2e/containerizer/fixtures';

const ctx = background();
type Phase = 'runPodSandbox' | 'createContainer' | 'startContainer' | 'stopRemoveContainer';

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const rssKiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
};
function summary(xs: number[]): { median: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 100) / 100;
  return { median: at(0.5), p99: at(0.99) };
}

async function onePod(cz: MesosContainerizer, base: string, i: number, times: Record<Phase, number[]>): Promise<{ sid: string; cid: string }> {
  const sid = randomBytes(32).toString('hex');
  let t = process.hrtime.bigint();
  await cz.launch(topLevel(sid), { kind: 'sandbox', config: sandboxConfig(`bench-${i}-${sid.slice(0, 6)}`, join(base, 'logs')) }, ctx);
  times.runPodSandbox.push(ms(t));
  const cid = randomBytes(32).toString('hex');
  t = process.hrtime.bigint();
  await cz.launch(nested(topLevel(sid), cid), { kind: 'container', config: containerConfig('c', ['sleep', '1000'], { logPath: `c-${cid}.log` }) }, ctx);
  times.createContainer.push(ms(t));
  t = process.hrtime.bigint();
  await cz.start(nested(topLevel(sid), cid), ctx);
  times.startContainer.push(ms(t));
  return { sid, cid };
}

async function teardown(cz: MesosContainerizer, p: { sid: string; cid: string }, times: Record<Phase, number[]>): Promise<void> {
  const id = nested(topLevel(p.sid), p.cid);
  const t = process.hrtime.bigint();
  await cz.kill(id, { timeoutSeconds: 0 }, ctx);
  await cz.remove(id, ctx);
  times.stopRemoveContainer.push(ms(t));
  await cz.remove(topLevel(p.sid), ctx);
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 50);
  const base = tempBase('bench-lifecycle-');
  const cgroupParent = `/mesos-cri-bench-${process.pid}`;
  const cz = createContainerizer({
    workDir: join(base, 'lib'),
    runDir: join(base, 'run'),
    runtime: { name: 'auto', path: '', root: '' },
    conmon: '/usr/bin/conmon',
    infra: '/usr/bin/catatonit',
    cgroupParent,
    restrictOomScoreAdj: true,
    provisioner: new BusyboxProvisioner(join(base, 'rootfs')),
  });
  await cz.recover(ctx);
  const out: Record<string, unknown> = { pods: n };
  try {
    const seq = { runPodSandbox: [], createContainer: [], startContainer: [], stopRemoveContainer: [] } as Record<Phase, number[]>;
    const pods = [];
    const rss0 = rssKiB(process.pid);
    for (let i = 0; i < n; i++) pods.push(await onePod(cz, base, i, seq));
    const conmonKiB = pods.map((p) => rssKiB(Number(readFileSync(join(cz.bundleOf(p.cid), 'conmon-pidfile'), 'utf8'))));
    const daemonGrowthKiB = Math.max(0, rssKiB(process.pid) - rss0);
    for (const p of pods) await teardown(cz, p, seq);
    out.sequential = Object.fromEntries(Object.entries(seq).map(([k, v]) => [k, summary(v)]));
    out.memoryPerPodMiB = Math.round(((conmonKiB.reduce((a, b) => a + b, 0) + daemonGrowthKiB) / n / 1024) * 100) / 100;
    out.conmonRssMiB = summary(conmonKiB.map((k) => k / 1024));

    const con = { runPodSandbox: [], createContainer: [], startContainer: [], stopRemoveContainer: [] } as Record<Phase, number[]>;
    const t0 = process.hrtime.bigint();
    const cpods = await Promise.all(Array.from({ length: n }, (_, i) => onePod(cz, base, i + n, con)));
    const wall = ms(t0);
    await Promise.all(cpods.map((p) => teardown(cz, p, con)));
    out.concurrent = { ...Object.fromEntries(Object.entries(con).map(([k, v]) => [k, summary(v)])), podsPerSecond: Math.round((n / wall) * 1000 * 10) / 10 };
    out.daemonRssMiB = Math.round((rssKiB(process.pid) / 1024) * 10) / 10;
  } finally {
    for (const s of cz.containers()) if (s.kind === 'sandbox') await cz.remove(topLevel(s.id), ctx).catch(() => undefined);
    cz.close();
    await new Cgroups().remove(cgroupParent).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${String(err)}\n`);
    process.exit(1);
  },
);
