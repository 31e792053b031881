#!/usr/bin/env bash
# Installs every build and test dependency of Machnet from Debian 12's packages, then
# configures and builds into build/. Idempotent: when everything is installed and the tree
# is built, it only runs ninja's no-op check.
#
#   scripts/setup.sh            # as root on a fresh Debian 12 (or with sudo)
#   MACHNET_BUILD_DIR=dir scripts/setup.sh  # another build directory
set -euo pipefail

cd "$(dirname "$0")/.."
build_dir="${MACHNET_BUILD_DIR:-build}"

# Build: compiler, Meson, and the libraries the code uses (DPDK 22.11, toml++, Boost 1.81 for
# Asio/Beast/Program_options, libsystemd, nlohmann-json, spdlog/fmt, GoogleTest, Benchmark).
build_packages=(
  g++ meson ninja-build pkg-config
  libdpdk-dev libtomlplusplus-dev libboost1.81-dev libboost-program-options1.81-dev
  libsystemd-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev scdoc
)
# Tests: the Python test driver, systemd-analyze, namespaces and the nftables "wire".
test_packages=(
  python3 systemd iproute2 nftables iputils-ping procps ethtool
  # tests/packaging: build the .debs and RPMs, check them, boot them in a container.
  debhelper dpkg-dev lintian rpm rpmlint debootstrap systemd-container git
  # python3-machnet: dh_python3 (byte-compiles in postinst, fills ${python3:Depends}).
  dh-python
  # fuzz/: clang with libFuzzer and the sanitizer runtimes (-fsanitize=fuzzer,address,undefined).
  clang libclang-rt-14-dev
  # rust/: the Rust crates, built offline with Debian's toolchain (no crates.io).
  cargo rustc
  # python/: the machnet package's tests (pytest; the package itself needs only the stdlib).
  python3-pytest
)
packages=("${build_packages[@]}" "${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: missing packages: ${missing[*]}" >&2
    echo "setup.sh: run as root (or with sudo) to install them" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq; then
    echo "setup.sh: apt-get update failed; check the network and /etc/apt/sources.list" >&2
    exit 1
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "setup.sh: apt-get install failed for: ${missing[*]}" >&2
    exit 1
  fi
fi

if [[ ! -f "$build_dir/build.ninja" ]]; then
  echo "setup.sh: configuring $build_dir"
  meson setup "$build_dir" >/dev/null || { echo "setup.sh: meson setup failed (see $build_dir/meson-logs/meson-log.txt)" >&2; exit 1; }
fi
echo "setup.sh: building $build_dir"
if ! ninja -C "$build_dir" >/tmp/machnet-build.$$.log 2>&1; then
  cat /tmp/machnet-build.$$.log >&2
  rm -f /tmp/machnet-build.$$.log
  echo "setup.sh: build failed" >&2
  exit 1
fi
rm -f /tmp/machnet-build.$$.log
echo "setup.sh: ready ($build_dir/daemon/machnetd, $build_dir/cli/machnetctl)"
