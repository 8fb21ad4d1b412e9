"""The soak: a long lifecycle run (connections opened, used and closed at a steady rate, session
affinity on, an endpoint change through the API every few seconds) while vipgate's resident
memory, mempool use and table fills are sampled. Whatever leaks shows as a trend: after the
warm-up every figure must stay flat, and vipgen's checker must find nothing wrong.

Flat is judged on window means, not single samples (the tables breathe with the connections'
timeouts): the mean of the last third of the samples after the warm-up against the mean of the
first third, with an allowance per figure (FLAT_LIMITS). The connection table's fill follows
the rate, and a generator on a shared machine drifts with its CPU share, so it is judged on the
entries the connections set up in the last closing timeout do not explain (unexplained_entries).

The rate comes from the connection table's budget, not from the NDR. A closed connection keeps
its entry for the closing timeout, so a churning workload holds its concurrent connections plus
new connections/s x that timeout; past the capacity, new connections evict each other's half-open
entries and their next packets are refused (the first 30-minute run, at half the NDR: 65 % lost,
1.18 M resets, tables and memory flat). The table is fixed first (TABLE_PER_FLOW) and the rate
follows (soak_budget), rather than the table sized for a rate: the table is memory on a machine
the soak shares for half an hour, and a leak shows under any steady churn, so the rate is the
figure that can give. The timeouts are the ones vipgate runs with (its `dump` of the running
configuration), so the arithmetic follows any change of the defaults. The affinity table gets
the same treatment through its timeout (affinity_timeout): its capacity is fixed in vipgate."""
import dataclasses
import re
import threading
import time
import tomllib
import urllib.request

from .processes import read_status

SAMPLE_INTERVAL_S = 5
CHANGE_PERIOD_S = 3            # an endpoint change through the API every 3 s
WARMUP_SHARE = 0.2             # the first 20 % of the run fills the tables: not judged
AFFINITY_TIMEOUT_S = 30        # vipgate starts with it; the soak shortens it to fit (affinity_timeout)
# The connection table the soak gives vipgate, in slots per concurrent flow (1.6M at the --quick
# scale, about 200 MiB); soak_budget() picks the rate that fills FILL_TARGET of it.
TABLE_PER_FLOW = 16
FILL_TARGET = 0.5              # of the table, in steady state: room for the fill to breathe
NDR_CEILING_SHARE = 0.5        # never above half the NDR (lifecycle packets cost more than established ones)
DATA_PACKETS = 8               # vipgen --data-packets: a lifecycle connection sends SYN, 8 data, FIN|ACK

# figure -> (what grows, the allowance): RSS may grow 2 % + 4 MiB (allocator noise); the others
# by 5 % of what holds them (mempool size, table capacity).
FLAT_LIMITS = {
    "rss_kb": "2 % of itself + 4 MiB",
    "mempool_in_use": "5 % of the pool",
    "conntrack_entries": "5 % of the table",
    "affinity_entries": "5 % of the table",
}
METRICS = {
    "mempool_in_use": ("vipgate_mempool_in_use", "vipgate_mempool_size"),
    "conntrack_entries": ("vipgate_conntrack_entries", "vipgate_conntrack_capacity"),
    "affinity_entries": ("vipgate_affinity_entries", "vipgate_affinity_capacity"),
}


def metric_sums(text):
    """{metric name: sum over its label sets} of a Prometheus text exposition."""
    sums = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+([-+\d.eE]+|NaN)$", line)
        if m and m.group(2) != "NaN":
            sums[m.group(1)] = sums.get(m.group(1), 0.0) + float(m.group(2))
    return sums


def sample(pid, metrics_url):
    """One sample: {"t", "rss_kb", figure: value, figure + "_capacity": value}."""
    out = {"t": time.time(), "rss_kb": read_status(pid).get("VmRSS")}
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        sums = metric_sums(response.read().decode())
    for figure, (used, capacity) in METRICS.items():
        out[figure] = sums.get(used)
        out[figure + "_capacity"] = sums.get(capacity)
    out["connections_new"] = sums.get("vipgate_connections_new_total")
    return out


class Sampler:
    """Samples every SAMPLE_INTERVAL_S on a thread of its own until stop()."""

    def __init__(self, pid, metrics_url, interval=SAMPLE_INTERVAL_S):
        self.pid, self.metrics_url, self.interval = pid, metrics_url, interval
        self.samples, self.errors = [], []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def run(self):
        while not self.stopping.is_set():
            try:
                self.samples.append(sample(self.pid, self.metrics_url))
            except (OSError, ValueError) as error:
                if len(self.errors) < 5:
                    self.errors.append(f"{type(error).__name__}: {error}")
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.thread.join()
        return self.samples


@dataclasses.dataclass
class Trend:
    figure: str
    early: float        # mean of the first third after the warm-up
    late: float         # mean of the last third
    allowance: float
    flat: bool
    less_predicted: bool = False   # conntrack_entries less what the connections set up explain


def allowance(figure, early, capacity):
    if figure == "rss_kb":
        return 0.02 * early + 4096
    return 0.05 * (capacity or 0)


def unexplained_entries(samples, budget):
    """Per sample, the connection-table entries the budget's arithmetic does not explain: the
    entries less (live connections + the connections vipgate set up in the closing timeout before
    the sample). The fill follows the rate, and a generator short of CPU (a shared machine) sends
    at a rate that drifts; judged raw, a rate rising from 100 to 154 kpps over a run read as
    163k entries of growth. None where the counter is missing or the run is younger than the
    closing timeout."""
    window = budget.closing_timeout_s
    out = []
    for i, current in enumerate(samples):
        value = None
        earlier = [s for s in samples[:i] if s["t"] <= current["t"] - window and s.get("connections_new") is not None]
        if earlier and current.get("connections_new") is not None and current.get("conntrack_entries") is not None:
            start = earlier[-1]
            opened = (current["connections_new"] - start["connections_new"]) * window / (current["t"] - start["t"])
            value = current["conntrack_entries"] - budget.live_entries - opened
        out.append(value)
    return out


def trends(samples, budget=None):
    """The Trend of every figure that was sampled, judged after the warm-up; [] with too few
    samples (fewer than 6 after the warm-up). With the run's budget and vipgate's connection
    counter sampled, the connection table is judged on its unexplained entries."""
    skip = int(len(samples) * WARMUP_SHARE)
    judged = samples[skip:]
    third = len(judged) // 3
    if third < 2:
        return []
    unexplained = unexplained_entries(samples, budget)[skip:] if budget else None
    out = []
    for figure in FLAT_LIMITS:
        values = [s.get(figure) for s in judged]
        adjusted = figure == "conntrack_entries" and unexplained is not None and None not in unexplained
        if adjusted:
            values = unexplained
        if any(v is None for v in values):
            continue
        early = sum(values[:third]) / third
        late = sum(values[-third:]) / third
        capacity = judged[-1].get(figure + "_capacity")
        limit = allowance(figure, early, capacity)
        out.append(Trend(figure, early, late, limit, late - early <= limit, less_predicted=adjusted))
    return out


@dataclasses.dataclass
class SoakBudget:
    """The soak's rate and the connection-table fill it predicts (soak_budget)."""
    capacity: int
    flows: int                    # vipgen's connection slots: concurrent connections
    packets_per_connection: int   # client packets
    closing_timeout_s: float      # how long a closed connection keeps its entry
    rate_pps: float               # client packets/s
    connections_per_s: float
    live_entries: float           # concurrent connections, on average
    closing_entries: float        # closed ones within their closing timeout
    limited_by: str               # "table" or "NDR"
    affinity_capacity: int = None
    affinity_timeout_s: int = None

    @property
    def expected_affinity_fill(self):
        """At most: every connection a new (client, service) pair, held for the timeout."""
        if not self.affinity_capacity or not self.affinity_timeout_s:
            return None
        return self.connections_per_s * self.affinity_timeout_s / self.affinity_capacity

    @property
    def expected_entries(self):
        return self.live_entries + self.closing_entries

    def fill_at(self, rate_pps):
        """The fill the same arithmetic predicts at another rate (the one vipgen reached)."""
        return (self.live_entries + rate_pps / self.packets_per_connection * self.closing_timeout_s) / self.capacity

    @property
    def expected_fill(self):
        return self.expected_entries / self.capacity

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data):
        return cls(**data) if data else None


def closing_timeout_s(running_config_text):
    """How long a lifecycle connection's entry outlives it, from vipgate's running configuration
    (the API's `dump`, which writes every key, defaults included). vipgen's client sends FIN|ACK,
    the backend answers FIN|ACK, nobody sends RST and the last ACK never comes: the entry ends in
    Closing (dataplane/tcp_state.h) and is held for tcp_closing_timeout."""
    conntrack = tomllib.loads(running_config_text).get("conntrack", {})
    if "tcp_closing_timeout" not in conntrack:
        raise ValueError("vipgate's running configuration has no [conntrack] tcp_closing_timeout")
    return float(conntrack["tcp_closing_timeout"])


def soak_budget(capacity, flows, data_packets, closing_timeout, ndr_ceiling_pps, fill_target=FILL_TARGET):
    """The client packet rate at which the connection table settles at `fill_target` of
    `capacity`, capped at `ndr_ceiling_pps`. vipgen's lifecycle pattern (pktgen/traffic_pattern.h)
    cycles `flows` slots through SYN, `data_packets` data packets and FIN|ACK, a round over all
    slots per step: each slot holds a connection for data_packets + 1 of its data_packets + 2
    packets, and a rate R opens R / (data_packets + 2) connections a second, each held for
    `closing_timeout` after its FIN. So the table holds
        flows x (D + 1) / (D + 2)  +  R / (D + 2) x closing_timeout
    entries (the handshake's half-open moment is microseconds; the ageing sweep, 64 entries a
    poll loop, reclaims an expired entry within milliseconds while the worker keeps up).
    ValueError when the concurrent connections alone exceed the target."""
    per_connection = data_packets + 2
    live = flows * (data_packets + 1) / per_connection
    room = fill_target * capacity - live
    if room <= 0 or closing_timeout <= 0:
        raise ValueError(f"{flows:,} concurrent connections fill {live / capacity:.0%} of a {capacity:,}-entry "
                         f"table: no room for churn under the {fill_target:.0%} target; give the table more slots")
    rate, limited_by = room / closing_timeout * per_connection, "table"
    if ndr_ceiling_pps and rate > ndr_ceiling_pps:
        rate, limited_by = ndr_ceiling_pps, "NDR"
    connections = rate / per_connection
    return SoakBudget(capacity=capacity, flows=flows, packets_per_connection=per_connection,
                      closing_timeout_s=closing_timeout, rate_pps=rate, connections_per_s=connections,
                      live_entries=live, closing_entries=connections * closing_timeout, limited_by=limited_by)


def affinity_timeout(connections_per_s, capacity, fill_target=FILL_TARGET, longest=AFFINITY_TIMEOUT_S):
    """The ClientIP affinity timeout (whole seconds, 1..longest) that keeps the affinity table at
    most `fill_target` full. The same budget as the connection table's: lifecycle connections come
    from ever new client ports and addresses (65k addresses x the services: few pairs repeat), so
    each one remembers a new (client, service) choice for the timeout. vipgate's table is a fixed
    131k entries that never evicts a fresh choice: at 30 s and 13k connections/s it stayed full
    (two thirds of the choices refused, affinity_table_full), where a leak could not have shown."""
    if connections_per_s <= 0:
        return longest
    return int(max(1, min(longest, fill_target * capacity // connections_per_s)))


def measured_fill(samples, figure="conntrack_entries"):
    """Mean fill of a table (entries / capacity) after the warm-up; None without samples."""
    judged = [s for s in samples[int(len(samples) * WARMUP_SHARE):]
              if s.get(figure) is not None and s.get(figure + "_capacity")]
    if not judged:
        return None
    return sum(s[figure] / s[figure + "_capacity"] for s in judged) / len(judged)
