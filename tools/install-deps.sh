#!/bin/sh
# Installs, with apt-get, everything boxlite needs to build, test and benchmark on Debian 12.
# Idempotent: does nothing when every package is already present.
set -eu
PKGS="gcc g++ clang make pkg-config libarchive-dev libsqlite3-dev libjansson-dev libssl-dev
libseccomp-dev libzstd-dev liblz4-dev libacl1-dev libbz2-dev liblzma-dev libxml2-dev nettle-dev zlib1g-dev libclang-rt-14-dev busybox-static python3 zstd util-linux procps iproute2
skopeo umoci crun bubblewrap docker-registry shellcheck clang-format libcurl4-openssl-dev apache2-utils
openssl ca-certificates zsh fish slirp4netns nftables iperf3 uidmap"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
