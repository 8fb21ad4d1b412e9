#!/usr/bin/python3
"""The control API as an operator uses it, against a daemon forwarding traffic.

vipgate replays a pcap of 32 TCP and 32 UDP client flows in a loop (net_pcap infinite_rx=1),
with its API socket open, and the test drives it with vipctl and raw socket clients:

  * `vipctl get stats`: counters are non-zero while traffic flows, grow between two reads, and
    never exceed the final counters printed at SIGTERM; the per-service counters add up;
  * `vipctl get conntrack`: exactly the 64 flows sent, each pinned to one of the endpoints;
  * twenty idle connections and a client that stops reading a large answer do not delay
    vipctl; a request with an out-of-range number gets an answer;
  * large requests leave no lasting RSS growth behind; a million-deep one is refused unparsed;
  * DPDK telemetry (`dpdk-telemetry.py`): /vipgate/stats, /vipgate/services and /vipgate/workers
    agree with vipctl, beside DPDK's own /ethdev/stats;
  * a FIFO in the config file's place: SIGHUP is refused with a clear error, the control loop
    goes on (summary lines keep coming, the API answers), and SIGTERM still stops vipgate.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP = h.REPLAY_WEB_VIP, h.REPLAY_DNS_VIP
ENDPOINTS = h.REPLAY_ENDPOINTS
SERVICES = h.replay_services()
FLOWS = h.REPLAY_FLOWS
SUMMARY_LINE = r"\] rx \S+pps, tx \S+pps"


def raw_request(path, data, timeout=10.0):
    """Sends bytes on a fresh API connection, returns everything the daemon answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(path)
        client.sendall(data)
        chunks = []
        while True:
            chunk = client.recv(1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def timed(function):
    started = time.monotonic()
    result = function()
    return result, time.monotonic() - started


def check_stats(vipctl, daemon):
    first = vipctl.json("get", "stats")
    time.sleep(1.0)
    second = vipctl.json("get", "stats")
    for counter in ["rx_packets", "tx_packets", "forwarded_to_endpoint", "conntrack_hits"]:
        h.check(first["counters"].get(counter, 0) > 0,
                f"vipctl get stats: {counter} is {first['counters'].get(counter)} while traffic flows")
        h.check(second["counters"][counter] > first["counters"][counter],
                f"vipctl get stats: {counter} did not grow in 1 s ({first['counters'][counter]} -> "
                f"{second['counters'][counter]})")
    h.check(second["counters"]["new_connections"] == 2 * FLOWS,
            f"vipctl get stats: new_connections {second['counters']['new_connections']}, sent {2 * FLOWS} flows")
    by_service = {s["service"]: s for s in second["services"]}
    h.check(set(by_service) == {"default/web:80", "default/dns:53"}, f"vipctl get stats: services {sorted(by_service)}")
    h.check(sum(s["connections"] for s in second["services"]) == 2 * FLOWS,
            f"vipctl get stats: per-service connections {[s['connections'] for s in second['services']]}")
    h.check(sum(s["packets"] for s in second["services"]) > 0, "vipctl get stats: no per-service packets")
    # Rates: per second since the previous sample, which was `first`.
    rates = second.get("rates")
    h.check(rates is not None, f"the second vipctl get stats has no rates: {second}")
    expected = (second["counters"]["rx_packets"] - first["counters"]["rx_packets"]) / rates["interval_s"]
    h.check(abs(rates["counters"]["rx_packets"] - expected) <= 0.01 * expected,
            f"rx_packets rate {rates['counters']['rx_packets']:.0f}/s, the two readings say {expected:.0f}/s")
    h.check(0.9 <= rates["interval_s"] <= 3.0, f"rate interval {rates['interval_s']} s for reads ~1 s apart")
    h.check(all(s["packets_per_second"] > 0 for s in second["services"]), f"service rates: {second['services']}")
    time.sleep(0.3)  # samples closer than 200 ms give no rates
    table = vipctl.ok("get", "stats")
    h.check("rx_packets" in table and "PER SECOND" in table and not all(v == 0 for v in second["counters"].values()),
            f"vipctl get stats (table) shows no traffic or no rates:\n{table}")
    top = vipctl.ok("top", "--count", "2", "--interval", "0.5")
    frames = [frame for frame in top.split("generation ") if frame.strip()]
    h.check(len(frames) == 2 and all("default/web:80" in f and "default/dns:53" in f for f in frames),
            f"vipctl top --count 2 printed:\n{top}")
    rx = [float(f.split(" rx ")[1].split()[0].rstrip("kMG")) for f in frames]
    h.check(all(value > 0 for value in rx), f"vipctl top shows no receive rate:\n{top}")
    return second


def check_conntrack(vipctl):
    listing = h.items(vipctl.json("get", "conntrack"))
    seen = {(c["protocol"], c["client"], c["vip"]) for c in listing}
    h.check(seen == h.replay_flow_keys(), f"vipctl get conntrack lists {len(listing)} connections; missing "
                                  f"{sorted(h.replay_flow_keys() - seen)[:4]}, unexpected {sorted(seen - h.replay_flow_keys())[:4]}")
    for connection in listing:
        address, port = connection["endpoint"].rsplit(":", 1)
        expected_port = "8080" if connection["protocol"] == "TCP" else "5353"
        h.check(address in ENDPOINTS and port == expected_port,
                f"vipctl get conntrack: {connection} is not pinned to an endpoint's target port")
        # The replayed endpoints never answer: UDP flows stay unreplied (evictable), TCP ones half-open.
        expected_state = "syn-sent" if connection["protocol"] == "TCP" else "unreplied"
        h.check(connection["state"] == expected_state, f"vipctl get conntrack: {connection}, expected {expected_state}")
    text = vipctl.ok("get", "conntrack")
    h.check("No connections tracked" not in text and WEB_VIP in text, f"vipctl get conntrack (table):\n{text}")


def check_clients_do_not_wait_for_each_other(vipctl, api_socket):
    idle = []
    try:
        for _ in range(20):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(api_socket)
            idle.append(client)
        # One more that asks for the running state as a config file and then stops reading it.
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(api_socket)
        idle.append(slow)
        slow.sendall(b'{"op":"dump"}\n')
        _, seconds = timed(lambda: vipctl.ok("get", "services"))
        h.check(seconds < 1.0, f"vipctl get services took {seconds:.2f} s with 20 idle clients connected")
        h.log(f"vipctl get services answered in {seconds * 1000:.0f} ms beside 20 idle clients and a slow reader")
    finally:
        for client in idle:
            client.close()
    answer, seconds = timed(lambda: raw_request(api_socket, b"1e999999\n"))
    h.check(answer.endswith(b"\n") and answer.count(b"\n") == 1, f"'1e999999' got no one-line answer: {answer!r}")
    document = json.loads(answer)
    h.check(document["ok"] is False and document["error"].startswith("malformed request: "),
            f"'1e999999' answered {document}")


def check_memory_returns(api_socket, pid):
    """Large requests, and many small values: RSS may rise while one is served, not stay up
    afterwards (without the fix, a request of a million small arrays left ~45 MiB behind)."""
    many = b'{"op":"get","resource":"services","x":[' + b",".join([b'{"a":[1]}'] * 1_000_000) + b"]}\n"
    large = json.dumps({"op": "apply", "documents": [{"source": "large.toml",
                                                      "text": "# " + "x" * (48 << 20) + "\n"}]}).encode() + b"\n"
    deep = b'{"op":"get","resource":"services","x":' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}\n"
    answer = json.loads(raw_request(api_socket, deep))
    h.check(answer == {"ok": False, "error": "malformed request: nested deeper than 32 levels"},
            f"a million-deep request: {answer}")
    raw_request(api_socket, b'{"op":"get","resource":"services"}\n')
    before = h.vm_rss_kib(pid)
    readings = []
    for _ in range(2):
        for request in (many, large):
            answer = raw_request(api_socket, request, timeout=60)
            h.check(answer.endswith(b"\n"), f"a {len(request) >> 20} MiB request got no answer: {answer[:200]!r}")
            time.sleep(0.3)
            readings.append(h.vm_rss_kib(pid))
    h.log(f"RSS {before >> 10} MiB before; after each of two rounds of a million small values and a 48 MiB "
          f"request: {[r >> 10 for r in readings]} MiB")
    h.check(max(readings) - before < 16 << 10,
            f"RSS grew from {before >> 10} MiB to {max(readings) >> 10} MiB after a request and stayed there")


def telemetry(prefix, command):
    """One command through DPDK's own client, as an operator runs it."""
    result = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input=command + "\n", capture_output=True,
                            text=True, timeout=20)
    h.check(result.returncode == 0, f"dpdk-telemetry.py {command} failed: {result.stderr}")
    # Non-interactive: the first line is the greeting, then one JSON document per command.
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for answer in answers:
        if command.split(",")[0] in answer:
            return answer[command.split(",")[0]]
    raise h.TestFailure(f"dpdk-telemetry.py printed no answer to {command}:\n{result.stdout}")


def check_telemetry(vipctl, prefix):
    if shutil.which("dpdk-telemetry.py") is None:
        h.log("dpdk-telemetry.py not installed (package dpdk): telemetry not checked")
        return
    before = vipctl.json("get", "stats")["counters"]
    stats = telemetry(prefix, "/vipgate/stats")
    after = vipctl.json("get", "stats")["counters"]
    h.check(before["rx_packets"] <= stats["rx_packets"] <= after["rx_packets"],
            f"/vipgate/stats rx_packets {stats['rx_packets']} is not between vipctl's readings "
            f"{before['rx_packets']} and {after['rx_packets']}")
    h.check(stats["new_connections"] == 2 * FLOWS and "drop_no_service" in stats, f"/vipgate/stats: {stats}")
    services = telemetry(prefix, "/vipgate/services")
    h.check(set(services) == {"default/web_80", "default/dns_53"}, f"/vipgate/services keys: {sorted(services)}")
    h.check(services["default/web_80"]["vip"] == f"{WEB_VIP}:80" and
            services["default/web_80"]["connections"] == FLOWS, f"/vipgate/services: {services}")
    only_dns = telemetry(prefix, "/vipgate/services,default/dns")
    h.check(set(only_dns) == {"default/dns_53"}, f"/vipgate/services,default/dns: {sorted(only_dns)}")
    workers = telemetry(prefix, "/vipgate/workers")
    h.check(set(workers) == {"0"} and workers["0"]["conntrack_ipv4_entries"] == 2 * FLOWS and
            workers["0"]["conntrack_ipv6_entries"] == 0, f"/vipgate/workers: {workers}")
    ports = telemetry(prefix, "/ethdev/stats,0")
    h.check(ports.get("ipackets", 0) > 0, f"/ethdev/stats,0 beside them: {ports}")
    h.log(f"telemetry: /vipgate/stats rx_packets {stats['rx_packets']}, /ethdev/stats,0 ipackets {ports['ipackets']}")


def check_fifo_reload(daemon, vipctl, config_path, text):
    os.unlink(config_path)
    os.mkfifo(config_path)
    offset = daemon.log_offset()
    daemon.send_signal(signal.SIGHUP)
    daemon.wait_for(r"cannot read the config file: it is a FIFO", timeout=5, after=offset)
    daemon.wait_for(r"reload rejected: .*still running generation", timeout=5, after=offset)
    # The control loop goes on: two more summary lines, and the API answers.
    later = daemon.log_offset()
    daemon.wait_for(SUMMARY_LINE, timeout=5, after=later)
    daemon.wait_for(SUMMARY_LINE, timeout=5, after=daemon.log_offset())
    h.check(vipctl.json("get", "stats")["counters"]["rx_packets"] > 0, "the API stopped answering")
    os.unlink(config_path)
    h.write_config(config_path, text)


def main(context):
    vipctl_exe = sys.argv[2]
    in_pcap = context.path("in.pcap")
    h.write_replay_pcap(in_pcap)
    out_pcap = context.path("out.pcap")
    prefix = context.file_prefix()
    config = h.make_config(prefix, f"net_pcap0,rx_pcap={in_pcap},infinite_rx=1,tx_pcap={out_pcap}", SERVICES,
                           telemetry=True)
    config_text = h.toml_dumps(config)
    config_path = h.write_config(context.path("gw.toml"), config_text)
    api_socket = context.path("api.sock")
    daemon = context.daemon(config_path, args=["--api-socket", api_socket])
    daemon.wait_running()
    daemon.wait_for(SUMMARY_LINE, timeout=10)
    vipctl = h.Vipctl(vipctl_exe, api_socket)

    check_stats(vipctl, daemon)
    check_conntrack(vipctl)
    check_telemetry(vipctl, prefix)
    check_clients_do_not_wait_for_each_other(vipctl, api_socket)
    check_memory_returns(api_socket, daemon.process.pid)
    check_fifo_reload(daemon, vipctl, config_path, config_text)
    last = vipctl.json("get", "stats")["counters"]

    status, text = daemon.stop(timeout=10)
    h.check(status == 0, f"vipgate exited with status {status}")
    final = h.parse_final_counters(text)
    for counter in ["rx_packets", "tx_packets", "forwarded_to_endpoint", "new_connections"]:
        h.check(0 < last[counter] <= final[counter],
                f"{counter}: vipctl read {last[counter]}, the final counters say {final[counter]}")
    h.check(final["new_connections"] == last["new_connections"] == 2 * FLOWS,
            f"new_connections: vipctl {last['new_connections']}, final {final['new_connections']}")
    h.log(f"vipctl read rx_packets {last['rx_packets']} shortly before the final {final['rx_packets']}")
    os.unlink(out_pcap)


if __name__ == "__main__":
    h.run_test("operator_api", main)
