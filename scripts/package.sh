#!/usr/bin/env bash
# Build the Debian package: scripts/package.sh [OUTDIR]  (default: build-deb/ in the checkout)
# Works from any directory and any checkout location.  dpkg-buildpackage runs in a
# copy of the tree in a temporary directory (it writes beside the source tree), so
# neither the checkout nor its parent directory gets build files; the .deb, and
# the .buildinfo/.changes beside it, land in OUTDIR.  Needs debhelper, dpkg-dev and
# the build dependencies (scripts/install-deps.sh test installs them).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/regiond-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/regiond"
# The files git knows about (tracked, and new ones not ignored): no build dirs.
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$src" && xargs -0 cp --parents -t "$work/regiond" 2>/dev/null || true)
# Deleted-but-tracked files are skipped by cp; the build must not need them.
cd "$work/regiond"
DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
ver=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
for f in "$work"/regiond_"$ver"_"$arch".{deb,buildinfo,changes} "$work"/regiond-dbgsym_"$ver"_"$arch".deb; do
  [ -e "$f" ] && cp "$f" "$out/"
done
echo "$out/regiond_${ver}_${arch}.deb"
