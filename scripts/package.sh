#!/usr/bin/env bash
# Build the Debian package: scripts/package.sh [OUTDIR]  (default: build-deb/ in the checkout)
# Works from any directory and any checkout location.  dpkg-buildpackage writes
# beside the source tree, so it runs on a copy of the checkout's files in
# build-deb/tree/ (git-ignored): neither the checkout nor its parent directory
# gets build files.  The copy keeps its cmake build directory (obj-*) between
# runs and is built without a pre-clean (-nc), so a second package build only
# recompiles what changed.  The .deb (and its .buildinfo/.changes) lands in
# OUTDIR; its path is the one line printed.  Needs debhelper, dpkg-dev and the
# build dependencies (scripts/install-deps.sh test installs them).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-deb}
mkdir -p "$out" "$src/build-deb/tree/regiond"
out=$(cd "$out" && pwd)
tree=$src/build-deb/tree/regiond
exec 9>"$src/build-deb/.lock"
flock 9                                   # one package build per checkout at a time
log=$src/build-deb/build.log
# Mirror the files git knows about (tracked, and new ones not ignored): files no
# longer in the list (and the last run's debian/ build files) are removed,
# changed ones copied with their times; obj-*/ (the cmake build) is kept.
list=$(mktemp); have=$(mktemp)
trap 'rm -f "$list" "$have"' EXIT
(cd "$src" && git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
   [ -e "$f" ] && printf '%s\n' "$f"; done | sort -u) >"$list"
(cd "$tree" && find . -path './obj-*' -prune -o \( -type f -o -type l \) -print | sed 's#^\./##' | sort) >"$have"
(cd "$tree" && comm -13 "$list" "$have" | tr '\n' '\0' | xargs -0 -r rm -f --)
(cd "$src" && tr '\n' '\0' <"$list" | xargs -0 -r cp -pu --parents -t "$tree")
rm -f "$tree"/../regiond_*
cd "$tree"
DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -nc -us -uc -b >"$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }
ver=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
for f in "$tree"/../regiond_"$ver"_"$arch".{deb,buildinfo,changes} "$tree"/../regiond-dbgsym_"$ver"_"$arch".deb; do
  if [ -e "$f" ]; then cp "$f" "$out/"; fi
done
echo "$out/regiond_${ver}_${arch}.deb"
