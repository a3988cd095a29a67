#!/usr/bin/env bash
# Sets up a fresh machine (idempotent) and starts the mesos-cri daemon in the
# foreground with its embedded defaults (socket /run/mesos-cri/mesos-cri.sock).
# Extra arguments are passed to the daemon, e.g. `--log-level debug`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/main.js "$@"
