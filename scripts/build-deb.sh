#!/usr/bin/env bash
# Builds the Debian package of mesos-cri with dpkg-deb, from a built tree
# (scripts/setup.sh): the daemon and its production npm packages in
# /usr/lib/mesos-cri (native helpers prebuilt for this architecture),
# /usr/bin/mesos-cri, the systemd unit, /etc/mesos-cri/config.yaml (a
# conffile) with an empty config.d/, and the example CNI network, crictl and
# kubelet configs in /usr/share/mesos-cri (not in /etc/cni/net.d: a CNI
# config dropped there would change the network of a runtime already on
# the node). No maintainer scripts: installing it starts, stops and enables
# nothing.
#   bash scripts/build-deb.sh [OUT_DIR]  (default: ./release); prints the .deb path
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-release}" && cd "${1:-release}" && pwd)
version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
lib="$root/usr/lib/mesos-cri"

mkdir -p "$lib/dist" "$lib/cri" "$lib/native/bin" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/mesos-cri/config.d" "$root/usr/share/mesos-cri" "$root/usr/share/doc/mesos-cri" "$root/DEBIAN"
cp -r dist/src "$lib/dist/src"
[ -d dist/cri ] && cp -r dist/cri "$lib/dist/cri"
find "$lib/dist" \( -name '*.test.js' -o -name '*.map' -o -name '*.test-util.js' \) -delete
cp cri/api.proto "$lib/cri/"
cp native/bin/mesos-cri-exec native/bin/mesos-cri-spawn native/bin/mesos-cri-unpack "$lib/native/bin/"
cp package.json package-lock.json "$lib/"
cp -r node_modules "$lib/node_modules"
(cd "$lib" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$lib/package-lock.json" "$lib/node_modules/.package-lock.json"
chmod 0755 "$lib/dist/src/main.js"
# Relative to itself, so the tree works where it is unpacked too (dpkg -x); node is
# MESOS_CRI_NODE (e.g. from /etc/default/mesos-cri, read by the unit), else `node` in PATH.
cat >"$root/usr/bin/mesos-cri" <<'WRAPPER'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec "${MESOS_CRI_NODE:-node}" "$here/../lib/mesos-cri/dist/src/main.js" "$@"
WRAPPER
chmod 0755 "$root/usr/bin/mesos-cri"
cp manifests/mesos-cri.service "$root/lib/systemd/system/mesos-cri.service"
cp manifests/config.yaml "$root/etc/mesos-cri/config.yaml"
cp manifests/10-mesos-cri.conflist manifests/crictl.yaml manifests/kubelet-config.yaml "$root/usr/share/mesos-cri/"
cp README.md "$root/usr/share/doc/mesos-cri/"
printf 'Copyright: the mesos-cri authors\nLicense: Apache-2.0\n' >"$root/usr/share/doc/mesos-cri/copyright"

size=$(du -sk "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: mesos-cri
Version: $version
Architecture: $arch
Maintainer: mesos-cri authors <mesos-cri@localhost>
Installed-Size: $size
Depends: runc | crun, conmon, catatonit, containernetworking-plugins, nodejs (>= 20), iproute2, iptables, libarchive13
Recommends: criu
Section: admin
Priority: optional
Description: Kubernetes CRI runtime built like the Apache Mesos containerizer
 mesos-cri serves the CRI runtime.v1 API on a unix socket for kubelet and
 crictl, running containers with runc or crun under conmon, with CNI
 networking and an overlay image store.
CONTROL
echo /etc/mesos-cri/config.yaml >"$root/DEBIAN/conffiles"
deb="$out/mesos-cri_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
