#!/usr/bin/env bash
# Makes a Debian bookworm minbase root filesystem tarball with debootstrap, using only
# Debian's package mirror (the one apt uses here, else deb.debian.org). Needs root.
#   scripts/make-debian-rootfs.sh [OUT.tar]   (default: examples/debian/rootfs.tar)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-examples/debian/rootfs.tar}"
if [ -s "$out" ]; then
  echo "make-debian-rootfs: $out exists; delete it to make a fresh one"
  exit 0
fi
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror="${mirror:-http://deb.debian.org/debian}"
work=$(mktemp -d /tmp/strata-debootstrap-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "make-debian-rootfs: debootstrap --variant=minbase bookworm from $mirror (about a minute)"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/log" 2>&1 || {
  tail -n 20 "$work/log" >&2
  exit 1
}
# Like the official images: no apt lists or caches, and an empty /dev (the runtime provides it).
rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*.bin "$work/rootfs"/dev/*
# The tarball is an input to the build (ADD rootfs.tar /), made here with GNU tar; Strata
# itself reads it with its own tar code.
tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "make-debian-rootfs: wrote $out ($(du -h "$out" | cut -f1))"
