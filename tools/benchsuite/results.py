"""Typed records of what the suite measured: vipgen's result (and its search), a device's own
summary, one run, a storm's update figures.

The JSON file keeps vipgen's result as vipgen printed it (`VipgenResult.raw`, its per-endpoint
list summarised); everything else is written from these records by `to_json` and read back by
`from_json` (tools/bench.sh --render), where a field that is None is left out of the file."""
import dataclasses
import statistics

# Per-packet correctness counters of vipgen's JSON: any non-zero one is an error.
ERROR_FIELDS = ("misdirected", "malformed", "moved", "wrong_source", "wrong_reply", "ttl_errors", "unexpected",
                "resets", "icmp")


def summarize_endpoints(endpoints):
    """vipgen's per-endpoint list (up to 10k entries per run) as a summary for the results file."""
    shares = [e.get("share") for e in endpoints if isinstance(e, dict) and e.get("share") is not None]
    packets = [e.get("packets") or 0 for e in endpoints if isinstance(e, dict)]
    return {"count": len(endpoints), "with_traffic": sum(1 for p in packets if p > 0),
            "min_share": min(shares) if shares else None, "max_share": max(shares) if shares else None,
            "packets": sum(packets)}


@dataclasses.dataclass
class SearchTrial:
    rate_pps: float = None       # client rate asked
    sent_pps: float = None       # client rate the generator reached
    loss_ratio: float = None


@dataclasses.dataclass
class SearchResult:
    """vipgen --search: the highest client rates with no loss (NDR) and with at most
    pdr_loss_percent loss (PDR), and every trial of the bisection."""
    ndr_pps: float = None
    pdr_pps: float = None
    pdr_loss_percent: float = None
    trials: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_json(cls, data):
        if not isinstance(data, dict) or not data:
            return None
        trials = [SearchTrial(t.get("rate_pps"), t.get("sent_pps"), t.get("loss_ratio"))
                  for t in data.get("trials") or [] if isinstance(t, dict)]
        return cls(data.get("ndr_pps"), data.get("pdr_pps"), data.get("pdr_loss_percent"), trials)


@dataclasses.dataclass
class VipgenResult:
    """The fields of vipgen's JSON result the suite reads; `raw` is the whole of it."""
    raw: dict
    dut_pps: float = None          # packets the DUT forwarded per second (both directions)
    tx_pps: float = None           # client packets sent per second
    rx_pps: float = None           # packets back at the clients per second
    loss_ratio: float = None
    lost: int = None
    tx_packets: int = None
    rx_packets: int = None
    backend_rx_packets: int = None
    backend_tx_packets: int = None
    alloc_failures: int = None
    flows_opened: int = None
    warmup_check_failures: dict = None
    latency_ns: dict = None        # samples, min, mean, p50, p99, p999, max
    search: SearchResult = None
    errors: dict = None            # the non-zero ERROR_FIELDS

    FIELDS = ("dut_pps", "tx_pps", "rx_pps", "loss_ratio", "lost", "tx_packets", "rx_packets", "backend_rx_packets",
              "backend_tx_packets", "alloc_failures", "flows_opened", "warmup_check_failures", "latency_ns")

    @classmethod
    def from_json(cls, data):
        """None unless `data` is a JSON object; the per-endpoint list is replaced by its summary."""
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("endpoints"), list):
            data["endpoints"] = summarize_endpoints(data["endpoints"])
        result = cls(raw=data, **{f: data.get(f) for f in cls.FIELDS})
        result.search = SearchResult.from_json(data.get("search"))
        result.errors = {f: data.get(f) for f in ERROR_FIELDS if data.get(f)}
        return result

    def count(self, field):
        """One of the ERROR_FIELDS (None when vipgen did not report it)."""
        return self.raw.get(field)

    def to_json(self):
        return self.raw


EMPTY_RESULT = VipgenResult(raw={}, search=None, errors={})


def _without_none(record, always=()):
    return {k: v for k, v in record.items() if v is not None or k in always}


@dataclasses.dataclass
class TestpmdSummary:
    """dpdk-testpmd's own accumulated statistics after a run."""
    exit_status: int
    rx_packets: int = None
    rx_dropped: int = None
    tx_packets: int = None
    tx_dropped: int = None
    peak_rx_pps: int = None
    peak_tx_pps: int = None
    drops = None     # no drop reasons: testpmd forwards or its ring is full

    def to_json(self):
        return _without_none(dataclasses.asdict(self), always=("exit_status", "peak_rx_pps", "peak_tx_pps"))


@dataclasses.dataclass
class VipgateSummary:
    """vipgate's final counters, its drops by reason and the error lines it logged."""
    exit_status: int
    final_counters: dict
    drops: dict
    errors_logged: list

    def to_json(self):
        return dataclasses.asdict(self)


def dut_summary_from_json(data):
    if not isinstance(data, dict):
        return None
    if "final_counters" in data or "errors_logged" in data:
        return VipgateSummary(data.get("exit_status"), data.get("final_counters"), data.get("drops") or {},
                              data.get("errors_logged") or [])
    return TestpmdSummary(**{f.name: data.get(f.name) for f in dataclasses.fields(TestpmdSummary)})


@dataclasses.dataclass
class Distribution:
    median: float
    p90: float
    max: float
    count: int

    @classmethod
    def of(cls, values):
        """None for no values; p90 is the value at index int(0.9 * (n - 1)) of the sorted values."""
        if not values:
            return None
        values = sorted(values)
        return cls(statistics.median(values), values[int(0.9 * (len(values) - 1))], values[-1], len(values))

    @classmethod
    def from_json(cls, data):
        return cls(**data) if isinstance(data, dict) else None


def summary_from_json(cls, data):
    """A summary dataclass with Distribution fields (named in cls.DISTRIBUTIONS) from its JSON;
    keys it does not know are ignored, None for anything but an object."""
    if not isinstance(data, dict):
        return None
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in known}
    for key in cls.DISTRIBUTIONS:
        values[key] = Distribution.from_json(values.get(key))
    return cls(**values)


@dataclasses.dataclass
class UpdateSummary:
    """A storm's SIGHUPs paired with vipgate's reloads (storm.storm_latencies)."""
    sent: int = 0
    reloads: int = 0
    applied: int = 0
    unchanged: int = 0
    rejected: int = 0
    stalled: int = 0
    not_in_use: int = 0
    coalesced: int = 0
    update_to_all_workers_ms: Distribution = None
    build_ms: Distribution = None
    load_ms: Distribution = None
    publication_to_all_workers_us: Distribution = None

    DISTRIBUTIONS = ("update_to_all_workers_ms", "build_ms", "load_ms", "publication_to_all_workers_us")

    @classmethod
    def from_json(cls, data):
        return summary_from_json(cls, data)

    def to_json(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ApiStormSummary:
    """An API storm's changes as its driver saw them (api_storm.run_api_storm): sent, answered,
    and how long each took."""
    rate_hz: float
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    by_action: dict = dataclasses.field(default_factory=dict)
    errors: list = dataclasses.field(default_factory=list)   # the first few, verbatim
    answer_ms: Distribution = None     # request -> answer: the change in use by every worker
    validate_ms: Distribution = None   # the daemon's figures from each answer
    build_ms: Distribution = None
    publish_ms: Distribution = None

    DISTRIBUTIONS = ("answer_ms", "validate_ms", "build_ms", "publish_ms")
    KEPT_ERRORS = 5

    @property
    def achieved_hz(self):
        return self.sent / self.seconds if self.seconds > 0 else None

    @property
    def behind(self):
        """The driver could not keep the rate (it waits for each answer before the next change)."""
        return self.achieved_hz is not None and self.achieved_hz < 0.9 * self.rate_hz

    def to_json(self):
        out = dataclasses.asdict(self)
        out["achieved_hz"] = self.achieved_hz
        return out

    @classmethod
    def from_json(cls, data):
        return summary_from_json(cls, data)


@dataclasses.dataclass
class Repetition:
    """One repetition of a run (the run records the median or the best one)."""
    dut_pps: float
    ndr_pps: float
    tx_pps: float
    loss_ratio: float
    status: str
    vipgen: VipgenResult = None
    dut_summary: object = None

    def to_json(self):
        return {"dut_pps": self.dut_pps, "ndr_pps": self.ndr_pps, "tx_pps": self.tx_pps,
                "loss_ratio": self.loss_ratio, "status": self.status,
                "vipgen": self.vipgen.to_json() if self.vipgen else None,
                "dut_summary": self.dut_summary.to_json() if self.dut_summary else None}

    @classmethod
    def from_json(cls, data):
        return cls(data.get("dut_pps"), data.get("ndr_pps"), data.get("tx_pps"), data.get("loss_ratio"),
                   data.get("status"), VipgenResult.from_json(data.get("vipgen")),
                   dut_summary_from_json(data.get("dut_summary")))


# Status of a run: vipgen ran and every check was clean / it ran but found wrong packets / it did
# not run. Ordered from best to worst.
OK, ERRORS, FAILED = "ok", "errors", "failed"
STATUS_RANK = {OK: 0, ERRORS: 1, FAILED: 2}


@dataclasses.dataclass
class Run:
    """One benchmark run (or one repetition of it while it is measured)."""
    id: str = None
    title: str = None
    group: str = None            # generator / max / ndr / latency / new / storm / memory
    kind: str = None             # generator / max / search / latency / storm / memory
    dut: str = None              # io / macswap / vipgate
    pattern: str = None          # vipgen's traffic pattern
    vips: int = None
    endpoints_per_vip: int = None
    flows: int = None
    rate_pps: float = None       # client rate asked (0: as fast as possible; a search's upper bound)
    duration_s: float = None
    search: bool = None
    status: str = FAILED
    problems: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    share: float = None          # latency runs: the share of the NDR
    ndr_pps: float = None        # latency runs: the NDR the rate derives from
    rate_basis: str = None       # storm runs: how the rate was chosen
    vipgate_config: dict = None  # capacity, eal_args
    rss_kb_idle: int = None
    command: str = None
    rss_kb_at_flows: int = None  # right after the warm-up opened every flow
    active_at_flows: int = None
    vipgen_exit: int = None
    vipgen: VipgenResult = None
    vipgen_elapsed_s: float = None
    rss_kb: int = None           # after the run, the flows still tracked
    hwm_kb: int = None
    active_connections: int = None
    active_peak: int = None
    vipgate_max_new_per_s: float = None
    vipgate_new_per_s_table_full: float = None
    dut_summary: object = None   # TestpmdSummary or VipgateSummary
    updates: UpdateSummary = None
    api_storm: ApiStormSummary = None
    soak_samples: list = None    # soak.sample() dicts, in time order
    soak_problems: list = None   # the sampler's errors
    soak_budget: dict = None     # soak.SoakBudget.to_json(): the rate and the table fill it predicts
    repetitions: list = None     # of Repetition
    elapsed_s: float = None

    # What a measurement fills in (copied from the chosen repetition to the run).
    MEASURED = ("vipgate_config", "rss_kb_idle", "command", "rss_kb_at_flows", "active_at_flows", "vipgen_exit",
                "vipgen", "vipgen_elapsed_s", "rss_kb", "hwm_kb", "active_connections", "active_peak",
                "vipgate_max_new_per_s", "vipgate_new_per_s_table_full", "dut_summary")
    ALWAYS = ("id", "status", "problems", "notes")
    # Written together, None included, as the runs that record them always did: the scenario of
    # a run with a traffic pattern, vipgate's figures after a measured run, vipgen's result once
    # it ran.
    SCENARIO = ("vips", "endpoints_per_vip", "flows")
    AFTER_RUN = ("rss_kb", "hwm_kb", "active_connections", "active_peak", "vipgate_max_new_per_s",
                 "vipgate_new_per_s_table_full")

    @property
    def ok(self):
        return self.status == OK

    @property
    def result(self):
        """vipgen's result, or an empty one (every figure None) when there is none."""
        return self.vipgen or EMPTY_RESULT

    @property
    def capacity(self):
        return (self.vipgate_config or {}).get("capacity")

    @property
    def drops(self):
        return self.dut_summary.drops if self.dut_summary else None

    def written_when_none(self):
        names = set(self.ALWAYS)
        if self.pattern is not None and self.duration_s is not None:
            names.update(self.SCENARIO)
        if self.vipgate_config is not None and any(getattr(self, name) is not None for name in self.AFTER_RUN):
            names.update(self.AFTER_RUN)
        if self.vipgen_exit is not None:
            names.add("vipgen")
        return names

    def to_json(self):
        out = {}
        keep = self.written_when_none()
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                if field.name in keep:
                    out[field.name] = None
                continue
            if field.name in ("vipgen", "dut_summary", "updates", "api_storm"):
                value = value.to_json()
            elif field.name == "repetitions":
                value = [r.to_json() for r in value]
            out[field.name] = value
        return out

    @classmethod
    def from_json(cls, data):
        known = {f.name for f in dataclasses.fields(cls)}
        run = cls(**{k: v for k, v in data.items() if k in known})
        run.vipgen = VipgenResult.from_json(data.get("vipgen"))
        run.dut_summary = dut_summary_from_json(data.get("dut_summary"))
        run.updates = UpdateSummary.from_json(data.get("updates"))
        run.api_storm = ApiStormSummary.from_json(data.get("api_storm"))
        if data.get("repetitions") is not None:
            run.repetitions = [Repetition.from_json(r) for r in data["repetitions"]]
        run.problems = list(run.problems or [])
        run.notes = list(run.notes or [])
        return run
