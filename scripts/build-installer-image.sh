#!/usr/bin/env bash
# Builds the installer image of mesos-cri (an OCI image layout, assembled with umoci) from a
# built tree (scripts/setup.sh; umoci comes with `scripts/setup.sh --with-test-tools`).
# The DaemonSet in manifests/daemonset.yaml runs it with the node's root mounted at /host.
#
# One layer:
#   /opt/mesos-cri/            what the entrypoint copies to the node's /opt/mesos-cri:
#     bin/node                 this machine's Node.js (the daemon runs on it on the node)
#     bin/mesos-cri            wrapper: $MESOS_CRI_NODE, else bin/node, runs dist/src/main.js
#     dist/src/, cri/api.proto, package.json, node_modules/ (production packages only)
#     native/bin/              the native helpers, built here for this architecture
#     installer/install.js     the entrypoint (packaging/installer/install.js)
#     share/                   the systemd unit (ExecStart=/opt/mesos-cri/bin/mesos-cri),
#                              config.yaml, the CNI network, crictl and kubelet examples
#   /lib*/..., /usr/bin/nsenter   the shared libraries Node and nsenter link, and nsenter
#                              (the entrypoint's --activate reaches the node's systemd with it)
#   /host                      where the node's root is mounted
# Config: Entrypoint [/opt/mesos-cri/bin/node, /opt/mesos-cri/installer/install.js],
# Cmd [install], Env MESOS_CRI_HOST_ROOT=/host.
#
#   bash scripts/build-installer-image.sh [LAYOUT_DIR]   (default: ./release/installer-oci)
# Prints `LAYOUT_DIR:TAG` (TAG = the package version). Copy it to a registry with e.g.
#   skopeo copy oci:release/installer-oci:0.1.0 docker://REGISTRY/mesos-cri-installer:0.1.0
# Touches nothing outside LAYOUT_DIR and a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
layout=$(mkdir -p "$(dirname "${1:-release/installer-oci}")" && cd "$(dirname "${1:-release/installer-oci}")" && pwd)/$(basename "${1:-release/installer-oci}")
version=$(node -p 'require("./package.json").version')
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
for f in dist/src/main.js native/bin/mesos-cri-exec native/bin/mesos-cri-spawn native/bin/mesos-cri-unpack; do
  [ -e "$f" ] || { echo "build-installer-image: $f is missing: run scripts/setup.sh first" >&2; exit 1; }
done
command -v umoci >/dev/null || { echo "build-installer-image: umoci is missing (scripts/setup.sh --with-test-tools)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
opt="$rootfs/opt/mesos-cri"
mkdir -p "$opt/bin" "$opt/dist" "$opt/cri" "$opt/native/bin" "$opt/installer" "$opt/share" "$opt/node_modules" \
  "$rootfs/host" "$rootfs/tmp" "$rootfs/usr/bin"
chmod 1777 "$rootfs/tmp"

cp -r dist/src "$opt/dist/src"
[ -d dist/cri ] && cp -r dist/cri "$opt/dist/cri"
find "$opt/dist" \( -name '*.test.js' -o -name '*.map' -o -name '*.test-util.js' \) -delete
chmod 0755 "$opt/dist/src/main.js"
cp cri/api.proto "$opt/cri/"
cp native/bin/mesos-cri-exec native/bin/mesos-cri-spawn native/bin/mesos-cri-unpack "$opt/native/bin/"
node -e '
  const p = require("./package.json");
  const out = { name: p.name, version: p.version, description: p.description, license: p.license,
    private: true, type: p.type, bin: p.bin, engines: p.engines, dependencies: p.dependencies };
  require("fs").writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
' "$opt/package.json"
# The production packages only (`npm ls --omit=dev`), copied from the installed tree.
npm ls --omit=dev --all --parseable 2>/dev/null | while read -r dir; do
  rel=${dir#"$PWD/"}
  case "$rel" in node_modules/*) ;; *) continue ;; esac
  [ -e "$opt/$rel" ] || { mkdir -p "$opt/$(dirname "$rel")" && cp -a "$rel" "$opt/$rel"; }
done

node_bin=$(readlink -f "$(command -v node)")
cp "$node_bin" "$opt/bin/node"
chmod 0755 "$opt/bin/node"
cat >"$opt/bin/mesos-cri" <<'WRAPPER'
#!/bin/sh
# mesos-cri as installed by the installer image: Node.js is $MESOS_CRI_NODE, else the one beside this.
here=$(dirname "$(readlink -f "$0")")
exec "${MESOS_CRI_NODE:-$here/node}" "$here/../dist/src/main.js" "$@"
WRAPPER
chmod 0755 "$opt/bin/mesos-cri"
install -m 0755 packaging/installer/install.js "$opt/installer/install.js"
sed 's#^ExecStart=/usr/bin/mesos-cri #ExecStart=/opt/mesos-cri/bin/mesos-cri #' manifests/mesos-cri.service >"$opt/share/mesos-cri.service"
grep -q '^ExecStart=/opt/mesos-cri/bin/mesos-cri ' "$opt/share/mesos-cri.service" || { echo "build-installer-image: unit ExecStart not rewritten" >&2; exit 1; }
cp manifests/config.yaml manifests/10-mesos-cri.conflist manifests/crictl.yaml manifests/kubelet-config.yaml "$opt/share/"
chmod 0644 "$opt/share/"*

# The image runs Node (the entrypoint) and nsenter: their shared libraries at the same paths.
cp "$(readlink -f "$(command -v nsenter)")" "$rootfs/usr/bin/nsenter"
for bin in "$node_bin" "$rootfs/usr/bin/nsenter"; do
  ldd "$bin" | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$rootfs$lib" ] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
done

# umoci: a fresh layout (rebuilt from scratch each time), one layer from the staged rootfs.
rm -rf "$layout"
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack --image "$layout:$version" "$stage/bundle" >/dev/null
rm -rf "$stage/bundle/rootfs"
mv "$rootfs" "$stage/bundle/rootfs"
umoci repack --image "$layout:$version" --history.created_by "scripts/build-installer-image.sh" "$stage/bundle"
umoci config --image "$layout:$version" --os linux --architecture "$arch" \
  --config.entrypoint /opt/mesos-cri/bin/node --config.entrypoint /opt/mesos-cri/installer/install.js \
  --config.cmd install \
  --config.env MESOS_CRI_HOST_ROOT=/host \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.workingdir / \
  --config.label "org.opencontainers.image.title=mesos-cri-installer" \
  --config.label "org.opencontainers.image.version=$version" \
  --history.created_by "umoci config (entrypoint, env)"
umoci gc --layout "$layout"
echo "$layout:$version"
