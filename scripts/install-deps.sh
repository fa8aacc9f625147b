#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build Strata and run its tests:
# the system packages the tests use as real runtimes and independent judges, then npm deps.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  runc            # the OCI runtime RUN steps execute in
  skopeo umoci    # independent judges of the images we write
  zstd bzip2 xz-utils # tests only: judge our zstd layers, make .tar.bz2/.tar.xz for ADD
  docker-registry # a real registry for push/pull tests
  docker.io       # the judge of the differential tests and the benchmarks: a real dockerd + BuildKit,
                  # started privately by the tests (test/helpers/docker-engine.ts), never as a service
  buildah         # benchmarks only: the second tool `npm run bench` compares with (bud --layers, runc)
  time            # benchmarks only: /usr/bin/time -f %M, the peak RSS of each measured command
  apache2-utils   # htpasswd -B: the registry tests' Basic-auth set-up
  openssl         # test keys and certificates: the registry's token server, a private CA (extra-ca tests)
  busybox-static  # a tiny base image for tests
  debootstrap     # the Debian base of the Flask example
  g++ make python3 # node-gyp's toolchain for native/ and for zstd-napi (built at npm ci)
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
  # No service may start while installing: docker.io's postinst would start a system dockerd
  # (iptables rules, a bridge, /var/lib/docker) through invoke-rc.d, and fail the install where
  # there is no init to ask. policy-rc.d exit 101 = "not allowed"; an existing one is kept.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Nor at the next boot: the tests start their own engine on a private socket.
  for p in "${missing[@]}"; do
    case "$p" in
      docker.io)
        # systemctl disable works without a running systemd (and does update-rc.d's part too).
        if command -v systemctl >/dev/null; then
          systemctl disable --quiet docker.service docker.socket containerd.service >/dev/null 2>&1 || true
        else
          update-rc.d docker disable >/dev/null 2>&1 || true
        fi
        ;;
    esac
  done
  echo "install-deps: installed ${missing[*]}"
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

# Our native addon (mount, mknod, xattrs: what Node has no API for), built with node-gyp.
npm run --silent build:native >/dev/null
