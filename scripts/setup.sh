#!/usr/bin/env bash
# Installs what mesos-cri needs on a fresh Debian 12 machine, idempotently.
#   bash scripts/setup.sh                    the daemon's own needs: OCI runtimes, conmon,
#                                            catatonit, CNI plugins, the native helpers'
#                                            build tools, npm packages, the TypeScript build
#   bash scripts/setup.sh --with-test-tools  the above plus the test and benchmark tooling
#                                            (a registry, image tools, a reference runtime)
# It never starts, stops, disables or reconfigures a service: packages are installed with
# service starts denied (policy-rc.d), and packages already installed are left as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

with_test_tools=0
for arg in "$@"; do
  case "$arg" in
    --with-test-tools) with_test_tools=1 ;;
    --runtime-only) with_test_tools=0 ;;
    *) echo "setup: unknown option $arg (--runtime-only | --with-test-tools)" >&2; exit 2 ;;
  esac
done

# What the daemon needs at run time and to build its native helpers.
APT_PACKAGES=(
  runc crun conmon catatonit containernetworking-plugins iproute2 iptables util-linux
  socat zstd pigz tar ca-certificates
  # the native helpers (native/): a C compiler, libseccomp, libarchive (layer unpack)
  gcc libc6-dev libseccomp-dev pkg-config libarchive-dev
  # CheckpointContainer: CRIU, which `runc checkpoint` drives
  criu
)

# Tests and benchmarks only: a real registry on loopback, images from busybox, a reference
# runtime (started by the tests on private dirs and sockets, never as a system service),
# and the release-artifact tests' dpkg-deb (in dpkg).
APT_TEST_PACKAGES=(
  docker-registry busybox-static skopeo umoci apache2-utils containerd dpkg openssl libarchive-tools python3
)

wanted=("${APT_PACKAGES[@]}")
[ "$with_test_tools" = 1 ] && wanted+=("${APT_TEST_PACKAGES[@]}")

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Deny service starts from the packages' maintainer scripts (containerd, docker-registry
  # would otherwise start system services on hosts with an init that runs them). An existing
  # policy-rc.d is the operator's: it is left alone and used as it is.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# mesos-cri setup.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  # `npm ci` trips over optional per-platform packages missing from the lock (node-unix-socket);
  # `npm install` honours the lock for everything else.
  npm install --no-audit --no-fund --loglevel=error
fi

npm run --silent gen
npm run --silent build:native
npm run --silent build
echo "setup: done"
