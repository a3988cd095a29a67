#!/usr/bin/env bash
# Installs everything mesos-cri needs on a fresh Debian 12 machine, idempotently:
# Debian packages (OCI runtimes, conmon, catatonit, CNI plugins, the test registry
# and image tools), npm packages, and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  runc crun conmon catatonit containernetworking-plugins iproute2 iptables util-linux
  socat zstd pigz tar python3 ca-certificates
  # the native helpers (native/): a C compiler, libseccomp, libarchive (layer unpack)
  gcc libc6-dev libseccomp-dev pkg-config libarchive-dev
  # CheckpointContainer: CRIU, which `runc checkpoint` drives
  criu
  # tests and benchmarks: a real registry on loopback, images from busybox, a reference runtime
  docker-registry busybox-static skopeo umoci apache2-utils containerd libarchive-tools
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
