#!/usr/bin/env bash
# Sets up what the daemon needs (idempotent; no test tooling, no service touched)
# and starts the mesos-cri daemon in the foreground with its embedded defaults
# (socket /run/mesos-cri/mesos-cri.sock).
# Extra arguments are passed to the daemon, e.g. `--log-level debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --runtime-only
exec node dist/src/main.js "$@"
