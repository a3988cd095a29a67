/**
 * The HTTP/2 filter's cost: Version and ExecSync round trips, the daemon's
 * CPU per call, exec and port-forward throughput, with and without the
 * filter in the same run, plus the filter alone in-process. Prints one JSON
 * document; exits 1 if any measurement failed.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/grpc/main.js [versionN=2000] [execSyncN=50] [mib=64] [runs=5]
 */
import { describeError, runGrpcBench, succeeded } from './run';

async function main(): Promise<number> {
  const num = (i: number, d: number): number => Number(process.argv[i] ?? d);
  const doc = await runGrpcBench({ versionN: num(2, 2000), execSyncN: num(3, 50), mib: num(4, 64), runs: num(5, 5) });
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
