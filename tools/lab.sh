#!/usr/bin/env bash
# The realhost lab (docs/realhost.md): real Linux clients and servers in network namespaces,
# vipgate or the kernel (kube-proxy's nftables / iptables rules) as the gateway between them.
#   tools/lab.sh compare [--seconds N]   measure every gateway with the same clients, print one table
#   tools/lab.sh clean                   remove lab namespaces (vgl<pid>-*) left by dead runs
# Needs root and tools/setup.sh's packages; builds build/ (vipgate, the UDP flood) first.
# Everything the lab creates is removed on exit, on success, failure or Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
if [[ ${1:-} == compare ]]; then
  [[ -f build/build.ninja ]] || meson setup build >/dev/null
  ninja -C build control/vipgate tools/lab_udp_flood >/dev/null
fi
PYTHONPATH="$ROOT/tools" PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 -m lab.main "$@"
