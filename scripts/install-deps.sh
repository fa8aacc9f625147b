#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build Strata and run its tests:
# the system packages the tests use as real runtimes and independent judges, then npm deps.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  runc            # the OCI runtime RUN steps execute in
  skopeo umoci    # independent judges of the images we write
  docker-registry # a real registry for push/pull tests
  busybox-static  # a tiny base image for tests
  debootstrap     # the Debian base of the Flask example
  g++ make python3 # node-gyp's toolchain for native/
  curl            # the demo asks the Flask app over HTTP
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: installed ${missing[*]}"
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

# Our native addon (mount, mknod, xattrs: what Node has no API for), built with node-gyp.
npm run --silent build:native >/dev/null
