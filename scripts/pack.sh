#!/usr/bin/env bash
# Builds the npm package of mesos-cri (`npm pack` of a staged tree): the
# compiled daemon (bin `mesos-cri`), the CRI proto, the native helpers'
# sources (built by its install script: needs gcc, libseccomp-dev, libarchive-dev and
# pkg-config on the installing machine), the manifests and the README.
#   bash scripts/pack.sh [OUT_DIR]      (default: ./release); prints the tarball path
# Expects a built tree (scripts/setup.sh). Touches nothing outside OUT_DIR and a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-release}" && cd "${1:-release}" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

pkg="$stage/package"
mkdir -p "$pkg/dist" "$pkg/cri" "$pkg/native"
cp -r dist/src "$pkg/dist/src"
[ -d dist/cri ] && cp -r dist/cri "$pkg/dist/cri"
find "$pkg/dist" \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test-util.js' \) -delete
cp cri/api.proto "$pkg/cri/"
cp native/build.sh native/*.c "$pkg/native/"
cp -r manifests "$pkg/manifests"
cp README.md "$pkg/"
node -e '
  const fs = require("fs");
  const root = JSON.parse(fs.readFileSync("package.json", "utf8"));
  const out = {
    name: root.name, version: root.version, description: root.description, license: root.license,
    type: root.type, bin: root.bin, engines: root.engines, dependencies: root.dependencies,
    os: ["linux"],
    scripts: { install: "bash native/build.sh" },
    files: ["dist/", "cri/api.proto", "native/build.sh", "native/*.c", "manifests/", "README.md"],
  };
  fs.writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
' "$pkg/package.json"
chmod 0755 "$pkg/dist/src/main.js"
(cd "$pkg" && npm pack --silent --pack-destination "$out" >/dev/null)
echo "$out/mesos-cri-$(node -p 'require("./package.json").version').tgz"
