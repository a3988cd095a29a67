import { beforeAll, describe, expect, it } from 'vitest';
import { cgroupsNamed } from '../../bench/support/host';
import { runStreamingBench, succeeded, type StreamingReport } from '../../bench/streaming/run';
import { ensureBuilt } from '../support/build';

/**
 * `bench/streaming` end to end at a tiny size: both runtimes start, run the
 * pod, answer ExecSync, stream exec output and port-forward exactly the bytes
 * asked for, report ratios, and leave no cgroup behind.
 */
describe('bench/streaming smoke', () => {
  let doc: StreamingReport;
  const k8sBefore = cgroupsNamed('k8s.io');

  beforeAll(async () => {
    ensureBuilt();
    doc = await runStreamingBench({ execSyncN: 3, mib: 2, runs: 1 });
  }, 240_000);

  it('measures both runtimes without a failed step', () => {
    expect(doc.results.containerd?.errors).toEqual({});
    expect(doc.results['mesos-cri']?.errors).toEqual({});
    expect(succeeded(doc)).toBe(true);
  });

  it('reports latencies, exact byte counts and ratios for each runtime', () => {
    for (const r of [doc.results.containerd!, doc.results['mesos-cri']!]) {
      expect(r.execSync?.latencyMs.n).toBe(3);
      expect(r.execSync!.latencyMs.median).toBeGreaterThan(0);
      expect(r.runcExecFloor?.latencyMs.n).toBe(3);
      expect(r.execStdout).toMatchObject({ bytes: 2 * 1024 * 1024, runs: 1 });
      expect(r.portForward).toMatchObject({ bytes: 2 * 1024 * 1024, runs: 1 });
      expect(r.execStdout!.mbPerSec).toBeGreaterThan(0);
    }
    expect(doc.ratios.execSyncMedian).toBeCloseTo(doc.results['mesos-cri']!.execSync!.latencyMs.median / doc.results.containerd!.execSync!.latencyMs.median, 2);
    expect(typeof doc.targets.execSyncMedianUnder30ms).toBe('boolean');
  });

  it('counts the runtime side only: containerd + its shim, our daemon + conmon', () => {
    const names = (t: 'containerd' | 'mesos-cri'): string[] => doc.results[t]!.memoryWithOnePod!.byProcess.map((p) => p.name);
    expect(names('containerd')).toEqual(expect.arrayContaining(['containerd', 'containerd-shim']));
    expect(names('mesos-cri')).toEqual(expect.arrayContaining(['node', 'conmon']));
    expect(names('containerd')).not.toContain('httpd');
    expect(names('mesos-cri')).not.toContain('httpd');
  });

  it('removes the cgroups both runtimes created', () => {
    expect(cgroupsNamed(`mcri-bench-${process.pid}`).size).toBe(0);
    expect([...cgroupsNamed('k8s.io')].filter((d) => !k8sBefore.has(d))).toEqual([]);
  });
});
