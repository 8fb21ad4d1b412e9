#!/usr/bin/python3
"""The Prometheus endpoint, scraped by a real Prometheus server.

  * a metrics address already taken: vipgate says so and forwards without metrics;
  * vipgate replays 32 TCP and 32 UDP client flows in a loop (net_pcap infinite_rx=1) with
    --metrics-address on a free loopback port and --metrics-endpoints; a `prometheus` server
    (Debian package; skipped when absent) scrapes it every second;
  * PromQL rate() of forwarded packets over a window agrees with the rate the test computes from
    two `vipctl get stats` readings at the window's ends; the busy share of the worker is a
    fraction and the port's packet rate is non-zero;
  * series with sane values: build info, every drop reason, connection-table fill (64 flows),
    mempool in use, per-service and per-endpoint connections;
  * a SIGHUP reload that swaps an endpoint shows in the update histograms, the updates counter,
    the generation and the last update time; the service ports' counters do not go down;
  * a scrape of 10,000 services (applied with vipctl, default series) is timed with curl.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

WEB_VIP, DNS_VIP = h.REPLAY_WEB_VIP, h.REPLAY_DNS_VIP
ENDPOINTS = h.REPLAY_ENDPOINTS
FLOWS = h.REPLAY_FLOWS
WINDOW = 8          # seconds: the rate window, in PromQL and in the test's own reckoning
TOLERANCE = 0.15    # relative
SCALE_SERVICES = 10_000


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value} of a text exposition."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, labels = head, {}
        if "{" in head:
            name, rest = head.split("{", 1)
            for pair in rest.rstrip("}").split('",'):
                if pair:
                    key, val = pair.split("=", 1)
                    labels[key] = val.strip('"')
        series[(name, frozenset(labels.items()))] = float(value)
    return series


def select(series, name, key=None):
    """{value of label `key` (or the whole label set): value} of the series of `name`."""
    return {(dict(k[1]).get(key) if key else k[1]): v for k, v in series.items() if k[0] == name}


class Prometheus:
    def __init__(self, context, target, exe):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = context.path("prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    f"scrape_configs:\n  - job_name: vipgate\n    static_configs:\n      - targets: ['{target}']\n")
        self.log_path = context.path("prometheus.log")
        self._log = open(self.log_path, "wb")
        command = [exe, f"--config.file={config}", f"--storage.tsdb.path={context.path('tsdb')}",
                   f"--web.listen-address=127.0.0.1:{self.port}"]
        h.log(f"starting {' '.join(command)}")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=h._die_with_parent)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()

    def log_tail(self):
        with open(self.log_path, "rb") as f:
            return h.Daemon.tail(f.read().decode("utf-8", "replace"), 20)

    def query(self, promql, at=None):
        """The instant vector of `promql` (at Unix time `at`) as [(labels, value)]."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        document = json.loads(http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"))
        h.check(document.get("status") == "success", f"Prometheus refused {promql}: {document}")
        return [(r["metric"], float(r["value"][1])) for r in document["data"]["result"]]

    def scalar(self, promql, at=None):
        result = self.query(promql, at)
        h.check(len(result) == 1, f"{promql}: expected one series, Prometheus answered {result}")
        return result[0][1]

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            h.check(self.process.poll() is None,
                    f"prometheus exited with status {self.process.poll()}:\n{self.log_tail()}")
            try:
                if self.query('up{job="vipgate"} == 1'):
                    return
            except (OSError, ValueError):
                pass
            h.check(time.monotonic() < deadline, f"prometheus did not scrape vipgate within {timeout} s:\n"
                                                 f"{self.log_tail()}")
            time.sleep(0.5)


def check_address_in_use(context, in_pcap):
    """Another listener holds the metrics port: reported, and forwarding goes on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        config = h.make_config(context.file_prefix("busy"), f"net_pcap0,rx_pcap={in_pcap},tx_pcap=/dev/null",
                               h.replay_services())
        path = h.write_config(context.path("busy.toml"), config)
        daemon = context.daemon(path, name="busy", args=["--api-socket", "", "--metrics-address", taken,
                                                         "--duration", "2"])
        daemon.wait_running()
        daemon.wait_for(r"metrics endpoint not started: cannot serve metrics on " + taken, timeout=5)
        status = daemon.wait_exit(20)
    h.check(status == 0, f"vipgate exited with status {status} after refusing the metrics address")
    forwarded = daemon.final_counters().get("forwarded_to_endpoint", 0)
    h.check(forwarded == 3 * FLOWS, f"without metrics vipgate forwarded {forwarded} packets, expected {3 * FLOWS}")
    h.log(f"metrics address {taken} in use: reported, {forwarded} packets forwarded all the same")


def check_rate(prometheus, vipctl):
    """PromQL rate() against the test's own reckoning over the same window."""
    first = vipctl.json("get", "stats")["counters"]["forwarded_to_endpoint"]
    start = time.time()
    time.sleep(WINDOW)
    second = vipctl.json("get", "stats")["counters"]["forwarded_to_endpoint"]
    end = time.time()
    ours = (second - first) / (end - start)
    time.sleep(2.5)  # the scrapes up to `end` are in the database
    promql = f'rate(vipgate_forwarded_packets_total{{direction="to_endpoint"}}[{WINDOW}s])'
    theirs = prometheus.scalar(promql, at=end)
    h.log(f"forwarded to endpoints: {ours:,.0f} packets/s by vipctl over {end - start:.2f} s, "
          f"{theirs:,.0f} by PromQL {promql}")
    h.check(ours > 0, "no packets forwarded during the window")
    h.check(abs(theirs - ours) <= TOLERANCE * ours,
            f"PromQL rate {theirs:,.0f}/s differs from the test's {ours:,.0f}/s by more than {TOLERANCE:.0%}")
    busy = prometheus.scalar(f"rate(vipgate_worker_busy_polls_total[{WINDOW}s]) / "
                             f"rate(vipgate_worker_polls_total[{WINDOW}s])", at=end)
    # The worker counts a poll and, when it found packets, a busy poll; a scrape reads the two
    # counters one after the other, so with every poll busy (this replay never pauses) the ratio
    # of their rates can come out a hair above 1 (1.0000013 seen).
    h.check(0 < busy <= 1.001, f"busy share of the worker is {busy}")
    port_rx = prometheus.scalar(f'rate(vipgate_port_packets_total{{port="p0",direction="rx"}}[{WINDOW}s])', at=end)
    h.check(port_rx >= ours * (1 - TOLERANCE), f"port p0 receives {port_rx:,.0f}/s, less than the {ours:,.0f}/s "
                                               "forwarded")
    h.log(f"worker busy share {busy:.3f}, port rx {port_rx:,.0f} packets/s")


def check_series(series):
    build = [k for k in series if k[0] == "vipgate_build_info"]
    h.check(len(build) == 1 and dict(build[0][1]).get("version") and "DPDK" in dict(build[0][1]).get("dpdk", ""),
            f"vipgate_build_info: {build}")
    drops = select(series, "vipgate_drops_total", "reason")
    h.check(len(drops) >= 30 and {"no_endpoint", "tx_queue_full", "conntrack_full"} <= set(drops),
            f"vipgate_drops_total has {len(drops)} reasons: {sorted(drops)}")
    h.check(all(v >= 0 for v in drops.values()), f"negative drops: {drops}")
    entries = sum(select(series, "vipgate_conntrack_entries").values())
    capacity = sum(select(series, "vipgate_conntrack_capacity").values())
    h.check(entries == 2 * FLOWS and capacity >= 65536,
            f"connection table: {entries} entries of {capacity}, {2 * FLOWS} flows sent")
    by_family = {family: sum(v for k, v in select(series, "vipgate_conntrack_entries").items()
                             if dict(k).get("family") == family) for family in ("ipv4", "ipv6")}
    h.check(by_family == {"ipv4": 2 * FLOWS, "ipv6": 0},
            f"vipgate_conntrack_entries by family: {by_family}, {2 * FLOWS} IPv4 flows sent")
    h.check(sum(select(series, "vipgate_connections_active").values()) == 2 * FLOWS, "vipgate_connections_active")
    h.check(sum(select(series, "vipgate_connections_new_total").values()) == 2 * FLOWS,
            "vipgate_connections_new_total")
    in_use = sum(select(series, "vipgate_mempool_in_use").values())
    size = sum(select(series, "vipgate_mempool_size").values())
    h.check(0 < in_use <= size, f"mempool: {in_use} of {size} mbufs in use")
    per_service = select(series, "vipgate_service_connections_total", "service")
    h.check(len(per_service) == 2 and sum(per_service.values()) == 2 * FLOWS,
            f"vipgate_service_connections_total: {per_service}")
    endpoints = {dict(k[1])["endpoint"] for k in series if k[0] == "vipgate_endpoint_connections_total"}
    h.check(endpoints == {f"{a}:{p}" for a in ENDPOINTS for p in (8080, 5353)},
            f"per-endpoint series (--metrics-endpoints): {sorted(endpoints)}")
    h.log(f"series: {len(drops)} drop reasons, {entries:.0f}/{capacity:.0f} conntrack entries, "
          f"{in_use:.0f}/{size:.0f} mbufs in use, per-service {per_service}")


def check_reload(daemon, prometheus, config_path, config, metrics_url):
    """One endpoint leaves, another joins: the update shows in the control-plane series, and the
    service ports' counters keep what the leaving endpoint counted (they never go down)."""
    before_generation = prometheus.scalar("vipgate_snapshot_generation")
    before_builds = prometheus.scalar('vipgate_update_duration_seconds_count{phase="build"}')
    before = select(parse_exposition(http_get(metrics_url)), "vipgate_service_connections_total", "service")
    config["services"] = h.replay_services(ENDPOINTS[:2] + ["198.18.0.14"])
    config["neighbors"].append({"address": "198.18.0.14", "mac": h.endpoint_mac("198.18.0.14")})
    h.write_config(config_path, config)
    offset = daemon.log_offset()
    requested = time.time()
    daemon.send_signal(signal.SIGHUP)
    daemon.wait_for(r"update applied: generation \d+ in use by every worker", timeout=10, after=offset)
    deadline = time.monotonic() + 10
    while prometheus.scalar('vipgate_update_duration_seconds_count{phase="build"}') <= before_builds:
        h.check(time.monotonic() < deadline, "the reload did not show in vipgate_update_duration_seconds")
        time.sleep(0.5)
    generation = prometheus.scalar("vipgate_snapshot_generation")
    h.check(generation > before_generation, f"generation {before_generation} -> {generation} after a reload")
    published = prometheus.scalar('vipgate_updates_total{result="published"}')
    programming = prometheus.scalar("vipgate_network_programming_duration_seconds_count")
    seconds = prometheus.scalar("vipgate_network_programming_duration_seconds_sum")
    h.check(published >= 1 and programming >= 1 and 0 < seconds < 10,
            f"after a reload: {published} published updates, {programming} programming observations "
            f"({seconds} s)")
    last = prometheus.scalar("vipgate_last_update_timestamp_seconds")
    h.check(requested - 1 <= last <= time.time() + 1, f"last update time {last}, reload at {requested}")
    series = parse_exposition(http_get(metrics_url))
    after = select(series, "vipgate_service_connections_total", "service")
    h.check(all(after[name] >= before[name] for name in before),
            f"service connections went down when an endpoint left: {before} -> {after}")
    endpoints = {dict(k[1])["endpoint"].split(":")[0] for k in series if k[0] == "vipgate_endpoint_connections_total"}
    h.check(endpoints == set(ENDPOINTS[:2] + ["198.18.0.14"]), f"endpoint series after the reload: {endpoints}")
    validate_p99 = prometheus.scalar('histogram_quantile(0.99, vipgate_update_duration_seconds_bucket{phase="validate"})')
    h.log(f"reload: generation {before_generation:.0f} -> {generation:.0f}, request to all workers {seconds * 1000:.2f} ms "
          f"(sum over {programming:.0f}), validate p99 bucket {validate_p99 * 1000:.2f} ms; service connections "
          f"{before} -> {after}")


def timed_scrape(url, compressed=False):
    """(seconds, body) of one GET, timed by curl as an operator would (urllib without curl).
    compressed: ask for gzip, as the Prometheus server does."""
    if shutil.which("curl"):
        result = subprocess.run(["curl", "-sS", *(["--compressed"] if compressed else []), "-o", "-", "-w",
                                 "\n%{time_total}", url], capture_output=True, text=True, timeout=60)
        h.check(result.returncode == 0, f"curl {url}: {result.stderr}")
        body, seconds = result.stdout.rsplit("\n", 1)
        return float(seconds), body
    started = time.monotonic()
    body = http_get(url, timeout=60)
    return time.monotonic() - started, body


def check_scale(context, vipctl_exe, in_pcap):
    """10,000 services of one endpoint each, applied with vipctl to a daemon with the default
    series (no --metrics-endpoints); scrapes are timed."""
    config = h.make_config(context.file_prefix("scale"), f"net_pcap0,rx_pcap={in_pcap},tx_pcap=/dev/null",
                           h.replay_services())
    path = h.write_config(context.path("scale-gw.toml"), config)
    api_socket = context.path("scale-api.sock")
    daemon = context.daemon(path, name="scale", args=["--api-socket", api_socket, "--metrics-address", "127.0.0.1:0"])
    daemon.wait_running()
    metrics_url = f"http://{daemon.metrics_address()}/metrics"
    vipctl = h.Vipctl(vipctl_exe, api_socket)
    items = []
    for i in range(SCALE_SERVICES):
        vip = f"198.18.{128 + i // 256}.{i % 256}"
        endpoint = f"198.18.{200 + i // 256}.{i % 256}"
        items.append({"name": f"scale-{i}", "cluster_ip": vip,
                      "ports": [{"protocol": "TCP", "port": 80, "target_port": 8080}],
                      "endpoints": [{"address": endpoint}]})
    objects = context.path("scale.toml")
    with open(objects, "w") as f:
        f.write(h.toml_dumps({"services": items}))
    started = time.monotonic()
    vipctl.ok("apply", "-f", objects)
    h.log(f"applied {SCALE_SERVICES} services in {time.monotonic() - started:.2f} s")
    timings = []
    text = ""
    for _ in range(5):
        seconds, text = timed_scrape(metrics_url)
        timings.append(seconds)
    series = parse_exposition(text)
    services_seen = len(select(series, "vipgate_service_connections_total"))
    h.check(services_seen == SCALE_SERVICES + 2, f"a scrape lists {services_seen} service ports")
    median = statistics.median(timings)
    h.log(f"scrape of {services_seen} service ports: {len(series)} series, {len(text) / 1e6:.1f} MB, "
          f"median {median * 1000:.0f} ms, min {min(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms "
          "(5 scrapes with curl)")
    h.check(median < 2.0, f"a scrape of {SCALE_SERVICES} services takes {median:.2f} s")
    if shutil.which("curl"):
        gzip_timings = [timed_scrape(metrics_url, compressed=True)[0] for _ in range(5)]
        gzip_median = statistics.median(gzip_timings)
        h.log(f"the same with gzip (as Prometheus asks): median {gzip_median * 1000:.0f} ms, "
              f"min {min(gzip_timings) * 1000:.0f} ms, max {max(gzip_timings) * 1000:.0f} ms")
        h.check(gzip_median < 2.0, f"a gzip scrape of {SCALE_SERVICES} services takes {gzip_median:.2f} s")
    # This daemon's input was read once at start: its worker idles, and says so.
    polls = sum(select(series, "vipgate_worker_polls_total").values())
    busy = sum(select(series, "vipgate_worker_busy_polls_total").values())
    h.check(polls > 0 and 0 < busy < 0.1 * polls, f"idle worker: {busy:.0f} busy polls of {polls:.0f}")
    status, _ = daemon.stop(timeout=20)
    h.check(status == 0, f"vipgate (10,000 services) exited with status {status}")


def main(context):
    vipctl_exe = sys.argv[2]
    prometheus_exe = shutil.which("prometheus")
    if prometheus_exe is None:
        raise h.TestSkip("no prometheus binary on PATH (apt install prometheus)")
    in_pcap = context.path("in.pcap")
    h.write_replay_pcap(in_pcap)
    check_address_in_use(context, in_pcap)

    config = h.make_config(context.file_prefix(), f"net_pcap0,rx_pcap={in_pcap},infinite_rx=1,tx_pcap=/dev/null",
                           h.replay_services())
    config_path = h.write_config(context.path("gw.toml"), config)
    api_socket = context.path("api.sock")
    daemon = context.daemon(config_path, args=["--api-socket", api_socket, "--metrics-address", "127.0.0.1:0",
                                               "--metrics-endpoints"])
    daemon.wait_running()
    metrics_address = daemon.metrics_address(timeout=5)
    vipctl = h.Vipctl(vipctl_exe, api_socket)
    metrics_url = f"http://{metrics_address}/metrics"

    prometheus = Prometheus(context, metrics_address, prometheus_exe)
    try:
        prometheus.wait_ready()
        time.sleep(2)  # a few scrapes before the window
        check_rate(prometheus, vipctl)
        check_series(parse_exposition(http_get(metrics_url)))
        check_reload(daemon, prometheus, config_path, config, metrics_url)
    finally:
        prometheus.stop()
    status, _ = daemon.stop(timeout=20)
    h.check(status == 0, f"vipgate exited with status {status}")
    check_scale(context, vipctl_exe, in_pcap)


if __name__ == "__main__":
    h.run_test("metrics", main)
