/**
 * Streaming benchmark: ExecSync latency, exec stdout throughput and
 * port-forward throughput of mesos-cri and of containerd 1.6, in the same
 * run, on the same host-network busybox pod, through their CRI sockets.
 * Images come from a docker-registry on loopback started here. Prints one
 * JSON document with both results and `ours/containerd` ratios; exits 1 if
 * any measurement failed (the JSON then says which and why).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/streaming/main.js [execSyncN=50] [mib=64] [runs=5]
 */
import { describeError, runStreamingBench, succeeded } from './run';

async function main(): Promise<number> {
  const doc = await runStreamingBench({ execSyncN: Number(process.argv[2] ?? 50), mib: Number(process.argv[3] ?? 64), runs: Number(process.argv[4] ?? 5) });
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  return succeeded(doc) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${describeError(err)}\n`);
    process.exit(1);
  },
);
