#!/usr/bin/python3
"""The benchmark suite's log parsers (tools/benchsuite/) against what vipgate prints today.

tools/bench.sh reads vipgate's log: start-up ("N worker(s) running"), the per-interval summary
line, the SIGHUP reload lines of the update storm and the final counters. When one of those lines
changes, the suite only finds out at the end of a long benchmark run (issue 10, item 8: a KeyError
in the storm step). This test runs the real binary through what the storm does and feeds its log
to the suite's own parsers (benchsuite.logparse and benchsuite.storm):

  1. vipgate replays client traffic from a pcap in a loop (net_pcap infinite_rx=1);
  2. SIGHUP with a file that changes a service (an endpoint added): a new generation;
  3. SIGHUP with the same file again: "unchanged";
  4. SIGHUP with an invalid file: rejected;
  5. SIGTERM.

Each parser must extract what the suite needs from those lines, with sane values.
"""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vipgate_harness as h  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from benchsuite import logparse, storm  # noqa: E402
WEB_VIP = "198.18.100.10"
ENDPOINTS = ["198.18.0.11", "198.18.0.12", "198.18.0.13"]


def services(endpoints):
    return [{"name": "web", "cluster_ip": WEB_VIP, "ports": [{"protocol": "TCP", "port": 80, "target_port": 8080}],
             "endpoints": [{"address": a} for a in endpoints]}]


def build_input(path):
    from scapy.layers.inet import TCP
    from scapy.utils import PcapWriter
    writer = PcapWriter(path, linktype=1, sync=False)
    for i in range(16):
        client, port = f"198.19.0.{i + 1}", 20000 + i
        writer.write(bytes(h.client_frame(client, WEB_VIP, TCP(sport=port, dport=80, flags="S", seq=i * 1000))))
        writer.write(bytes(h.client_frame(client, WEB_VIP, TCP(sport=port, dport=80, flags="PA", seq=i * 1000 + 1) /
                                          b"data")))
    writer.close()


def reload(daemon, config_path, config, updates, action):
    """Writes the file, sends SIGHUP (noting the time, as the storm does) and waits until the
    reload has finished: its last line (any of the forms Daemon::reload() ends with) is logged."""
    offset = daemon.log_offset()
    h.write_config(config_path, config)
    updates.append(storm.Update(k=len(updates), action=action, sent=time.time()))
    daemon.send_signal(signal.SIGHUP)
    daemon.wait_for(r"(update applied|reload rejected|reload failed)[^\n]*\n", timeout=15, after=offset)


def body(context):
    in_pcap = context.path("in.pcap")
    build_input(in_pcap)
    device = f"net_pcap0,rx_pcap={in_pcap},infinite_rx=1,tx_pcap=/dev/null"
    prefix = context.file_prefix()
    config = h.make_config(prefix, device, services(ENDPOINTS[:2]), neighbors=ENDPOINTS,
                           dataplane={"stats_interval_ms": 500})
    path = h.write_config(context.path("vipgate.toml"), config)
    daemon = context.daemon(path, args=["--api-socket", ""])
    daemon.wait_running()
    time.sleep(0.6)   # at least one interval with traffic before the first reload

    updates = []
    changed = h.make_config(prefix, device, services(ENDPOINTS), neighbors=ENDPOINTS,
                            dataplane={"stats_interval_ms": 500})
    reload(daemon, path, changed, updates, "add")            # a new generation
    reload(daemon, path, changed, updates, "same file")      # nothing changed
    invalid = h.toml_dumps(changed).replace(f'"{ENDPOINTS[2]}"', '"198.18.0.300"')
    h.check(invalid != h.toml_dumps(changed), "could not make the invalid file")
    reload(daemon, path, invalid, updates, "invalid")        # rejected
    time.sleep(1.2)   # two more summary lines
    status, text = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")

    # The storm's summary (storm.storm_latencies), as the suite computes it after a storm.
    summary = storm.storm_latencies(updates, text)
    h.log(f"storm_latencies: {summary}")
    expected = {"sent": 3, "reloads": 3, "applied": 2, "unchanged": 1, "rejected": 1, "not_in_use": 1,
                "coalesced": 0}
    for key, value in expected.items():
        h.check(getattr(summary, key) == value, f"storm_latencies: {key} = {getattr(summary, key)!r}, expected "
                                                f"{value} (summary {summary})")

    def check_distribution(key, count, low, high):
        distribution = getattr(summary, key)
        h.check(distribution is not None and distribution.count == count,
                f"storm_latencies: {key} = {distribution!r}, expected {count} value(s)")
        h.check(low <= distribution.median <= distribution.max <= high,
                f"storm_latencies: {key} = {distribution!r}, not within [{low}, {high}]")
    check_distribution("update_to_all_workers_ms", 2, 0.0, 10_000.0)
    check_distribution("build_ms", 1, 0.0, 10_000.0)
    check_distribution("load_ms", 1, 0.0, 10_000.0)
    check_distribution("publication_to_all_workers_us", 1, 0, 10_000_000)

    # The reloads one by one (logparse.parse_reloads).
    reloads = logparse.parse_reloads(text)
    h.log(f"parse_reloads: {reloads}")
    h.check(len(reloads) == 3, f"parse_reloads found {len(reloads)} reloads, expected 3: {reloads}")
    added, same, rejected = reloads
    for field in ("generation", "build_ms", "load_ms", "reload_ms", "publish_us", "workers", "in_use"):
        h.check(getattr(added, field) is not None, f"the reload that changed a service has no {field}: {added}")
    h.check(added.generation == 2 and added.workers == 1, f"changed service: generation 2 on 1 worker "
                                                           f"expected: {added}")
    h.check(0 <= added.build_ms <= added.reload_ms < 10_000, f"changed service: build/reload ms: {added}")
    h.check(0 <= added.load_ms <= added.reload_ms, f"changed service: parse and validate ms: {added}")
    h.check(0 <= added.publish_us <= added.reload_ms * 1000 + 1000, f"changed service: publication: {added}")
    h.check(added.start <= added.in_use <= added.start + added.reload_ms / 1000 + 0.05,
            f"changed service: log times do not match the reload's figures: {added}")
    h.check(updates[0].sent - 0.002 <= added.start, f"changed service: reload logged before the SIGHUP "
                                                    f"was sent ({updates[0].sent}): {added}")
    h.check(same.unchanged and same.generation == 2 and same.in_use is not None and same.build_ms is None
            and same.load_ms is not None and 0 <= same.load_ms < 10_000,
            f"same file: expected generation 2 unchanged: {same}")
    h.check(rejected.rejected is not None and rejected.in_use is None and rejected.generation is None,
            f"invalid file: expected a rejection: {rejected}")

    # The per-interval summary lines (logparse.parse_intervals).
    intervals = logparse.parse_intervals(text)
    h.log(f"parse_intervals: {len(intervals)} lines, last {intervals[-1] if intervals else None}")
    h.check(len(intervals) >= 2, f"parse_intervals read {len(intervals)} summary lines, expected at least 2")
    busy = [i for i in intervals if i.rx_pps and i.tx_pps]
    h.check(busy, f"no summary line with rx and tx rates: {intervals}")
    h.check(all(i.active >= 0 and i.time > 0 for i in intervals), f"summary lines: {intervals}")
    h.check(max(i.active for i in intervals) >= 1, f"no summary line counts an active connection: {intervals}")
    # The flows are opened before the first line's interval (the workers start first), so "new" is
    # 0 here; what matters is that every rate was read.
    h.check(all(getattr(i, k) is not None for i in intervals for k in ("rx_pps", "tx_pps", "new_per_s", "drops_per_s")),
            f"a summary line with a rate not read: {intervals}")

    # The final counters (logparse.parse_final_counters) and the error lines the suite reports.
    counters = logparse.parse_final_counters(text)
    h.check(counters and counters.get("rx_packets", 0) > 0 and counters.get("tx_packets", 0) > 0,
            f"parse_final_counters: {counters}")
    h.check(logparse.RUNNING.search(text), "logparse.RUNNING (Vipgate.start's readiness check) does not match "
                                           "vipgate's start-up log")
    levels = {level for _, level, _ in logparse.log_entries(text)}
    h.check({"info", "error"} <= levels, f"log_entries: levels {levels}, expected info and error (the rejection)")


if __name__ == "__main__":
    h.run_test("bench_parsers", body)
