#!/usr/bin/env bash
# Line-rate benchmark suite: vipgen (generator, CPU 0) against dpdk-testpmd (baseline) and vipgate
# (CPU 1) over net_memif. Writes docs/benchmarks.md and docs/benchmarks.json.
#
#   tools/bench.sh              full suite (about 20-30 minutes)
#   tools/bench.sh --quick      small flow counts, short trials: a smoke run of a few minutes
#   tools/bench.sh --skip-10m   without the 10M-flow scenario (and its memory figures)
#   tools/bench.sh --out DIR    write DIR/benchmarks.{md,json} instead of docs/
#   tools/bench.sh --help       every option of tools/bench_suite.py
#   tools/bench.sh dns [...]    the cluster DNS benchmark instead (tools/dns_bench.py: vipgate and Knot
#                               DNS with dnsperf, vipgen's DNS mode; also needs knotd and dnsperf)
#   tools/bench.sh flood [...]  the SYN flood benchmark instead (tools/flood_bench.py: established-flow
#                               loss and legitimate connections completed under a spoofed SYN flood;
#                               writes docs/flood-bench.{md,json})
#   tools/bench.sh ipv6 [...]   IPv6 vs IPv4 forwarded rate, families alternated against one vipgate
#                               per NAT mode (tools/ipv6_bench.py; writes docs/ipv6-bench.{md,json})
#
# Builds a release tree in build/ first (meson + ninja; a no-op when it is up to date). Needs
# root and the packages tools/setup.sh installs. Exit status: 0 when every run completed with
# clean checks, 1 when a run failed (recorded in the results), 2 when nothing could run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# No cd: relative --out/--render paths stay relative to the caller's directory.
# Debian's toolchain and python3 ahead of anything user-installed (as tools/test.sh does).
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

BUILD_DIR=${VIPGATE_BENCH_BUILD_DIR:-$ROOT/build}   # the override is for testing the script itself

for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    [[ ${1:-} == dns ]] && exec /usr/bin/python3 "$ROOT/tools/dns_bench.py" --help
    [[ ${1:-} == flood ]] && exec /usr/bin/python3 "$ROOT/tools/flood_bench.py" --help
    [[ ${1:-} == ipv6 ]] && exec /usr/bin/python3 "$ROOT/tools/ipv6_bench.py" --help
    exec /usr/bin/python3 "$ROOT/tools/bench_suite.py" --help
  fi
done

if [[ $EUID -ne 0 ]]; then
  echo "bench.sh: needs root (DPDK EAL)" >&2
  exit 2
fi
for tool in meson ninja pkg-config dpdk-testpmd; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench.sh: $tool not found; tools/setup.sh installs the build and DPDK packages" >&2
    exit 2
  fi
done

# Release build. A build dir made by another meson version is set up again (meson refuses to
# reconfigure it); one configured with another buildtype is switched to release.
meson_version_of() {
  /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["meson_version"]["full"])' \
    "$1/meson-info/meson-info.json" 2>/dev/null || true
}
buildtype_of() {
  /usr/bin/python3 -c '
import json, sys
print(next(o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"))' \
    "$1/meson-info/intro-buildoptions.json" 2>/dev/null || true
}
if [[ ! -f $BUILD_DIR/meson-private/coredata.dat ]]; then
  echo "==> meson setup $BUILD_DIR (release)" >&2
  meson setup "$BUILD_DIR" "$ROOT" --buildtype=release >&2
elif [[ $(meson_version_of "$BUILD_DIR") != "$(meson --version)" ]]; then
  echo "==> meson setup --wipe $BUILD_DIR (made by another meson version)" >&2
  meson setup --wipe "$BUILD_DIR" "$ROOT" --buildtype=release >&2
elif [[ $(buildtype_of "$BUILD_DIR") != release ]]; then
  echo "==> $BUILD_DIR is a $(buildtype_of "$BUILD_DIR") build: switching it to release" >&2
  meson configure "$BUILD_DIR" -Dbuildtype=release >&2
fi
echo "==> ninja -C $BUILD_DIR control/vipgate pktgen/vipgen" >&2
if ! ninja -C "$BUILD_DIR" control/vipgate pktgen/vipgen >&2; then
  echo "bench.sh: the build failed; nothing measured" >&2
  exit 2
fi

if [[ ${1:-} == dns ]]; then
  shift
  exec /usr/bin/python3 "$ROOT/tools/dns_bench.py" --build-dir "$BUILD_DIR" "$@"
fi
if [[ ${1:-} == flood ]]; then
  shift
  exec /usr/bin/python3 "$ROOT/tools/flood_bench.py" --build-dir "$BUILD_DIR" "$@"
fi
if [[ ${1:-} == ipv6 ]]; then
  shift
  exec /usr/bin/python3 "$ROOT/tools/ipv6_bench.py" --build-dir "$BUILD_DIR" "$@"
fi
exec /usr/bin/python3 "$ROOT/tools/bench_suite.py" --build-dir "$BUILD_DIR" "$@"
