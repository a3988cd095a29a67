import { performance } from 'node:perf_hooks';
import { background } from '../../src/common/ctx';
import { CniNetworkIsolator } from '../../src/cni/isolator';
import { canRun, netFixture, PLUGIN_DIR } from '../../e2e/cni/helpers';

/**
 * CNI attach (netns create + pin + ADD chain + record) and detach (DEL chain
 * + unpin) latency on the real Debian plugins: bridge + host-local + portmap
 * + loopback, on a bench-owned bridge and subnet that are removed afterwards.
 * `bench/lifecycle` merges the result into its JSON; run alone it prints it.
 */

export interface Summary {
  n: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

export interface CniBenchResult {
  /** A pod without port mappings (portmap's ADD is then a pass-through). */
  cniAttach: Summary;
  cniDetach: Summary;
  /** A pod with one host port: portmap programs iptables on ADD and DEL. */
  cniAttachWithPort: Summary;
  cniDetachWithPort: Summary;
}

function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const round = (v: number): number => Math.round(v * 100) / 100;
  return { n: s.length, medianMs: round(at(0.5)), p90Ms: round(at(0.9)), minMs: round(s[0]!), maxMs: round(s[s.length - 1]!) };
}

export async function benchCniAttachDetach(opts: { iterations?: number; warmup?: number } = {}): Promise<CniBenchResult> {
  if (!canRun()) throw new Error('failed to run the CNI bench: needs root and the CNI plugins in /usr/lib/cni');
  const iterations = opts.iterations ?? 20;
  const warmup = opts.warmup ?? 2;
  const fx = await netFixture({ bridge: 'mcri-b0', subnet: '10.250.1.0/24', network: 'mcri-bench' });
  try {
    fx.writeConf('10-bench.conflist', fx.conflist());
    const iso = new CniNetworkIsolator({ confDir: fx.confDir, binDirs: [PLUGIN_DIR], cacheDir: fx.cacheDir, netnsDir: fx.netnsDir });
    const ctx = background();
    const measure = async (withPort: boolean): Promise<[Summary, Summary]> => {
      const attach: number[] = [];
      const detach: number[] = [];
      for (let i = 0; i < warmup + iterations; i++) {
        const id = `bench-${withPort ? 'p' : 'n'}${i}`;
        const portMappings = withPort ? [{ protocol: 'tcp' as const, containerPort: 80, hostPort: 39_000 + i, hostIp: '' }] : [];
        const t0 = performance.now();
        await iso.attach({ sandboxId: id, podName: id, podNamespace: 'bench', podUid: id, portMappings }, ctx);
        const t1 = performance.now();
        await iso.detach(id, ctx);
        const t2 = performance.now();
        if (i >= warmup) {
          attach.push(t1 - t0);
          detach.push(t2 - t1);
        }
      }
      return [summarize(attach), summarize(detach)];
    };
    const [cniAttach, cniDetach] = await measure(false);
    const [cniAttachWithPort, cniDetachWithPort] = await measure(true);
    return { cniAttach, cniDetach, cniAttachWithPort, cniDetachWithPort };
  } finally {
    await fx.cleanup();
  }
}

if (require.main === module) {
  benchCniAttachDetach({ iterations: Number(process.env.ITERATIONS ?? 20) }).then(
    (r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
