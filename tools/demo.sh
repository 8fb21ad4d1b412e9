#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run vipgate on its embedded
# default configuration (config/default.toml): one worker, a net_pcap port replaying client
# traffic to two ClusterIPs in a loop, live rates and the per-endpoint spread on screen.
# Stops by itself after VIPGATE_DEMO_SECONDS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${VIPGATE_SKIP_SETUP:-0}" != 1 ]; then tools/setup.sh; fi
if [ -d build ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build control/vipgate

mkdir -p /tmp/vipgate-demo
python3 tools/demo_traffic.py /tmp/vipgate-demo/traffic.pcap
seconds="${VIPGATE_DEMO_SECONDS:-5}"
echo "== vipgate demo: ${seconds} s on the embedded default configuration =="
build/control/vipgate --duration "${seconds}" --show-endpoints
cat <<'MSG'

To run it longer: build/control/vipgate --show-endpoints            (until Ctrl-C)
              or: VIPGATE_DEMO_SECONDS=60 tools/demo.sh
Your own set-up:  build/control/vipgate --config my.toml   (schema: config/default.toml)
MSG
