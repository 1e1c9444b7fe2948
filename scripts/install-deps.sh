#!/usr/bin/env bash
# Install what regiond needs on Debian 12, as root.
#   scripts/install-deps.sh build   compiler and libraries
#   scripts/install-deps.sh demo    + nginx (the simulated regions)
#   scripts/install-deps.sh test    + every test peer and tool (nginx, dnsmasq, prometheus's parser and
#                                   promtool, aws CLI, bubblewrap, valgrind, nftables, faketime, strace,
#                                   blackbox_exporter and wrk for bench/, debhelper and lintian
#                                   for the package, ...)
set -euo pipefail
what=${1:-test}

pkgs=(gcc make cmake pkg-config libevent-dev libcurl4-openssl-dev libcjson-dev libc-ares-dev
      libsystemd-dev libexpat1-dev ca-certificates curl)
case "$what" in
  build) ;;
  demo) pkgs+=(nginx-light python3 python3-botocore python3-dnslib) ;;
  test) pkgs+=(nginx-light dnsmasq-base openssl python3 python3-prometheus-client systemd
               python3-botocore python3-boto3 python3-dnslib awscli
               prometheus bubblewrap valgrind
               nftables iproute2 faketime strace prometheus-blackbox-exporter wrk
               dpkg-dev debhelper lintian man-db bash-completion libssl-dev) ;;
  *) echo "usage: $0 build|demo|test" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
