#!/usr/bin/env bash
# Sets up a fresh machine with the test tooling (idempotent; no service touched),
# type-checks, lints (ESLint: file size, layering, import cycles) and runs the
# whole test suite: unit tests beside the code in src/ and end-to-end tests in
# e2e/ (real runc, conmon, overlayfs, CNI plugins, a registry on loopback).
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-test-tools
npx tsc -p tsconfig.json --noEmit
# Structure: file size, layering, import cycles (eslint.config.mjs); errors fail the run.
npx eslint --max-warnings 0 .
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/results.json" "$@"
rc=$?
set -e
node -e '
  const r = require(process.argv[1]);
  const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$out/results.json" 2>/dev/null || echo "tests: 0 passed, 1 failed"
exit $rc
