#!/bin/sh
# Installs what m2t needs from Debian's archive (Debian 12 "bookworm").
#   scripts/install-deps.sh          build and run the daemon and the CLI
#   scripts/install-deps.sh --test   also everything the test suite uses
#   scripts/install-deps.sh --list [--test]   print the package names only
set -eu
list=0
if [ "${1:-}" = "--list" ]; then
    list=1
    shift
fi
packages="meson ninja-build pkg-config gcc libc6-dev libopenblas-dev libpng-dev zlib1g-dev
          libjansson-dev libuv1-dev libmicrohttpd-dev libcurl4-openssl-dev"
if [ "${1:-}" = "--test" ]; then
    # clang: libFuzzer targets; systemd: systemd-analyze for the unit checks;
    # python3: HTTP and CLI tests (standard library only).
    packages="$packages clang libclang-rt-14-dev python3 systemd"
fi
if [ "$list" -eq 1 ]; then
    echo $packages
    exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $packages
