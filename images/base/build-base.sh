#!/usr/bin/env bash
# Builds a minimal Debian bookworm root filesystem tarball with debootstrap (no registry needed),
# for `docker import ... localhost/labhub-debian:bookworm`. Cached: does nothing when OUT exists.
# Usage: build-base.sh OUT.tar [MIRROR]    (MIRROR defaults to the first URI in apt's sources)
set -euo pipefail
OUT=${1:?usage: build-base.sh OUT.tar [MIRROR]}
[ -s "$OUT" ] && exit 0
MIRROR=${2:-$( (grep -h -m1 -E "^URIs:|^deb " /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true) | head -1 | awk "{print \$2}")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || apt-get install -y --no-install-recommends debootstrap >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "[build-base] debootstrap --variant=minbase bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log"; exit 1; }
# keep the image small and apt usable inside containers
rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
echo "deb $MIRROR bookworm main" >"$WORK/rootfs/etc/apt/sources.list"
tar -C "$WORK/rootfs" --numeric-owner -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
echo "[build-base] wrote $OUT ($(du -h "$OUT" | cut -f1))"
