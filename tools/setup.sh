#!/usr/bin/env bash
# Prepares a Debian 12 machine to build and test vipgate. Idempotent; run as root.
#   1. installs the build/test packages (apt-get update only when something is missing);
#   2. reserves 2 MiB hugepages and mounts hugetlbfs at /dev/hugepages when the kernel lets it.
# Hugepages are optional: the unit tests use --no-huge, and the dataplane falls back to --no-huge.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential g++ pkg-config meson ninja-build clang-14 clang-format-14 libfuzzer-14-dev
  libdpdk-dev dpdk-dev dpdk
  libboost-program-options-dev libtomlplusplus-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpcap-dev libyaml-cpp-dev nlohmann-json3-dev
  prometheus-cpp-dev prometheus
  python3 python3-scapy python3-yaml iproute2 procps
  nginx-light socat curl wrk iputils-ping ethtool nftables iptables kmod
  knot dnsperf bind9-dnsutils
  bird2 radvd
  libcurl4-openssl-dev openssl
)
# kubectl for the test API server's check (tests/integration/test_fake_apiserver.py): Debian's
# kubernetes-client, unless a kubectl is installed already (e.g. the upstream kubectl package).
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)
HUGEPAGES_WANTED=${VIPGATE_HUGEPAGES:-512}
HUGEPAGES_SYSFS=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HUGEPAGES_MOUNT=/dev/hugepages

say() { printf 'setup: %s\n' "$*"; }

# --- packages -----------------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  say "packages: all ${#PACKAGES[@]} already installed"
else
  if ((EUID != 0)); then
    say "packages missing (${missing[*]}) and not root: run tools/setup.sh as root" >&2
    exit 1
  fi
  say "packages: installing ${#missing[@]} missing: ${missing[*]}"
  apt_log=$(mktemp -t vipgate-apt.XXXXXX)
  trap 'rm -f "$apt_log"' EXIT
  if ! { apt-get -q update && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
      >"$apt_log" 2>&1; then
    tail -n 40 "$apt_log" >&2
    say "apt-get failed (last lines above)" >&2
    exit 1
  fi
  say "packages: installed"
fi

# --- hugepages (best effort, never fatal) -------------------------------------------------
hugepages_reserved() { cat "$HUGEPAGES_SYSFS" 2>/dev/null || echo 0; }
hugetlbfs_mounted() { awk -v m="$HUGEPAGES_MOUNT" '$2 == m && $3 == "hugetlbfs" {found = 1} END {exit !found}' /proc/mounts; }

huge_note=""
if (($(hugepages_reserved) < HUGEPAGES_WANTED)); then
  { echo "$HUGEPAGES_WANTED" >"$HUGEPAGES_SYSFS"; } 2>/dev/null || true
fi
if [[ ! -e $HUGEPAGES_SYSFS ]]; then
  huge_note="no 2 MiB hugepage support in this kernel"
elif (($(hugepages_reserved) == 0)); then
  huge_note="no 2 MiB hugepages could be reserved"
elif ! hugetlbfs_mounted; then
  if ! { mkdir -p "$HUGEPAGES_MOUNT" && mount -t hugetlbfs -o pagesize=2M nodev "$HUGEPAGES_MOUNT"; } 2>/dev/null; then
    huge_note="cannot mount hugetlbfs at $HUGEPAGES_MOUNT"
  fi
fi

if [[ -z $huge_note ]]; then
  say "hugepages: $(hugepages_reserved) x 2 MiB reserved, hugetlbfs mounted at $HUGEPAGES_MOUNT"
else
  say "hugepages: unavailable ($huge_note); the dataplane will run with --no-huge"
fi
