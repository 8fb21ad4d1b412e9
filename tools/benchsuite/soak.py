"""The soak: a long lifecycle run (connections opened, used and closed at a steady rate, session
affinity on, an endpoint change through the API every few seconds) while vipgate's resident
memory, mempool use and table fills are sampled. Whatever leaks shows as a trend: after the
warm-up every figure must stay flat, and vipgen's checker must find nothing wrong.

Flat is judged on window means, not single samples (the tables breathe with the connections'
timeouts): the mean of the last third of the samples after the warm-up against the mean of the
first third, with an allowance per figure (FLAT_LIMITS)."""
import dataclasses
import re
import threading
import time
import urllib.request

from .processes import read_status

SAMPLE_INTERVAL_S = 5
CHANGE_PERIOD_S = 3            # an endpoint change through the API every 3 s
WARMUP_SHARE = 0.2             # the first 20 % of the run fills the tables: not judged
AFFINITY_TIMEOUT_S = 30        # short, so the affinity table reaches its steady state early
# Connection table slots per concurrent flow: closed connections stay in the table for their
# closing timeouts, so a churning workload needs its new-connection rate x those timeouts on top
# of its concurrent flows. With too few (1.25x; 4x at ~0.5 Mpps of lifecycle traffic on a quiet
# machine) the table fills, new connections evict each other's half-open entries, and their
# next packets are refused (not_syn, resets): a sizing error, not a leak.
TABLE_PER_FLOW = 16

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


def allowance(figure, early, capacity):
    if figure == "rss_kb":
        return 0.02 * early + 4096
    return 0.05 * (capacity or 0)


def trends(samples):
    """The Trend of every figure that was sampled, judged after the warm-up; [] with too few
    samples (fewer than 6 after the warm-up)."""
    judged = samples[int(len(samples) * WARMUP_SHARE):]
    third = len(judged) // 3
    if third < 2:
        return []
    out = []
    for figure in FLAT_LIMITS:
        values = [s.get(figure) for s in judged]
        if any(v is None for v in values):
            continue
        early = sum(values[:third]) / third
        late = sum(values[-third:]) / third
        capacity = judged[-1].get(figure + "_capacity")
        limit = allowance(figure, early, capacity)
        out.append(Trend(figure, early, late, limit, late - early <= limit))
    return out
