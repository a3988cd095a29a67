/**
 * V8 settings for a small, long-lived daemon. `main.ts` imports this module
 * first: the flags must be set before loading the rest grows the heap. They
 * are set at runtime, not on the `node` command line, so that every way of
 * starting the daemon (scripts/run.sh, the systemd unit, tests and benches
 * running `node dist/src/main.js`) gets them without a wrapper or a re-exec,
 * which would change the pid those callers signal.
 */
import { setFlagsFromString } from 'node:v8';

// The young generation starts with 1 MiB semi-spaces, and V8 grows them (up to
// 16 MiB each, from and to space both resident) during allocation bursts such
// as startup and image pulls, then keeps them while the daemon idles: ~10 MiB
// of RSS. `--max-semi-space-size` is only read when the heap is created, but
// the growth factor is read at every growth, so 1 keeps the initial size.
// Scavenges get more frequent and stay short; bench/lifecycle's RPC latencies
// did not change.
setFlagsFromString('--semi-space-growth-factor=1');
