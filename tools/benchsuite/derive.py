"""Runs -> the figures the report shows: throughput and its ratios to the baselines, zero-loss
rates, latency, new flows, memory per connection, the update storm, the API storm, and a verdict
per goal.

Everything here is arithmetic on recorded runs (no process is started), so --render can run it
again on an old results file and the unit tests can feed it hand-made runs."""
import dataclasses

from . import api_storm, search, soak
from .formatting import fmt_count, fmt_mpps, fmt_ratio, human, ratio
from .results import ApiStormSummary, SearchResult, UpdateSummary
from .topology import DUT_CPU, GEN_CPU

# Goals the issue sets.
GOAL_RATIO_1M = 0.5              # vipgate 1M flows >= 50 % of testpmd io
GOAL_NEW_FLOWS = 2e6             # new flows per second per worker
GOAL_BYTES_PER_CONN = 128        # bytes per tracked connection
GOAL_GENERATOR_PPS = 20e6        # vipgen generation per core into net_null

PASS, MISS, NOT_MEASURED = "PASS", "MISS", "NOT MEASURED"
SKIPPED_10M = "SKIPPED (--skip-10m)"
# Max-load loss below this: the DUT returned (nearly) everything, so the generator set the rate.
GENERATOR_BOUND_LOSS = 0.001
# New flows: vipgate set up at least this share of the connections offered.
GENERATOR_BOUND_SETUP = 0.99


@dataclasses.dataclass
class Goal:
    goal: str
    measured: str
    target: str
    verdict: str       # PASS / MISS / NOT MEASURED / SKIPPED (--skip-10m)
    detail: str = ""


def verdict(passed):
    return PASS if passed else MISS


@dataclasses.dataclass
class ThroughputRow:
    """A max offered load run, with its DUT rate against the baselines of the same scale."""
    id: str
    title: str
    dut: str
    status: str
    flows: int
    vips: int
    dut_pps: float
    tx_pps: float
    rx_pps: float
    loss_ratio: float
    repetitions: list        # each repetition's DUT rate
    ratio_io: float
    ratio_macswap: float
    generator_bound: bool


@dataclasses.dataclass
class NdrRow:
    """A search: client rates, and the same in packets the DUT forwarded (x factor)."""
    id: str
    title: str
    status: str
    ndr_pps: float
    pdr_pps: float
    factor: float            # DUT packets per client packet
    ndr_dut_pps: float
    pdr_dut_pps: float
    trials: int
    generator_bound: bool
    ratio_io: float = None
    ratio_macswap: float = None
    pdr_ratio_io: float = None

    @property
    def sporadic_loss(self):
        return search.sporadic_loss(self.ndr_pps, self.pdr_pps)


@dataclasses.dataclass
class LatencyRow:
    id: str
    dut: str
    share: int               # percent of the DUT's NDR
    status: str
    rate_pps: float
    dut_pps: float
    loss_ratio: float
    latency: dict            # vipgen's latency_ns: p50, p99, p999, max, ...
    ratio_p50: float
    ratio_p99: float


@dataclasses.dataclass
class LossBreakdown:
    """Where vipgen's lost packets went, from its per-direction counters when it reports them
    (backend_rx_packets / backend_tx_packets), next to vipgate's own drop counters."""
    lost: int
    vipgate_drops: int
    vipgate_drop_reasons: dict
    client_to_backend: int = None
    backend_not_answered: int = None
    backend_to_client: int = None

    @property
    def per_direction(self):
        return self.client_to_backend is not None


def loss_breakdown(run):
    result = run.result
    drops = run.drops or {}
    loss = LossBreakdown(result.lost, sum(drops.values()) if drops else 0, drops)
    if None not in (result.backend_rx_packets, result.backend_tx_packets, result.tx_packets, result.rx_packets):
        loss.client_to_backend = result.tx_packets - result.backend_rx_packets
        loss.backend_not_answered = result.backend_rx_packets - result.backend_tx_packets
        loss.backend_to_client = result.backend_tx_packets - result.rx_packets
    return loss


@dataclasses.dataclass
class TableFullFlows:
    """New flows against a table that is full after a second (every insert evicts)."""
    status: str
    offered_per_s: float
    flows_per_s: float
    table_full_per_s: float  # vipgate's own "new" rate once the table is full
    peak_per_s: float
    capacity: int


@dataclasses.dataclass
class NewFlows:
    status: str
    flows_per_s: float       # connections set up (SYNs forwarded to a backend)
    answered_per_s: float
    offered_per_s: float
    dut_pps: float
    loss_ratio: float
    vipgate_new_per_s_peak: float
    ratio_io: float
    generator_bound: bool
    loss: LossBreakdown
    full: TableFullFlows = None
    per_worker: float = None  # one worker: flows_per_s (set with the full-table run)


@dataclasses.dataclass
class Memory:
    rss_kb: int = None
    measured: str = None
    rss_kb_after_run: int = None
    hwm_kb: int = None
    tracked: int = None
    tracked_after_run: int = None
    capacity: int = None
    status: str = None
    ref_rss_kb: int = None
    ref_status: str = None
    bytes_per_connection: float = None
    bytes_per_slot: float = None


@dataclasses.dataclass
class StormFigures:
    status: str
    rate_pps: float
    rate_basis: str
    sent_pps: float
    lost: int
    loss_ratio: float
    misdirected: int
    moved: int
    malformed: int
    latency: dict
    updates: UpdateSummary
    vipgate_drops: dict
    loss: LossBreakdown
    control: "StormFigures" = None

    @property
    def clean(self):
        return self.lost == 0 and (self.moved or 0) == 0 and (self.misdirected or 0) == 0


@dataclasses.dataclass
class ApiStormRow:
    """One rate of the API storm: the changes as the driver saw them, the traffic as vipgen did."""
    id: str
    status: str
    changes: ApiStormSummary
    rate_pps: float
    sent_pps: float
    lost: int
    loss_ratio: float
    misdirected: int
    moved: int
    vipgate_drops: dict
    loss: LossBreakdown

    @property
    def clean(self):
        return self.lost == 0 and (self.moved or 0) == 0 and (self.misdirected or 0) == 0


@dataclasses.dataclass
class SoakFigures:
    status: str
    minutes: float
    samples: int
    trends: list          # soak.Trend, one per figure sampled
    changes: ApiStormSummary
    lost: int
    wrong: dict           # vipgen's non-zero error counters
    vipgate_drops: dict
    budget: soak.SoakBudget = None   # the rate and the table fill it predicts
    fill: float = None               # the connection table's mean fill after the warm-up
    sent_pps: float = None           # the rate vipgen reached
    affinity_fill: float = None      # the affinity table's mean fill after the warm-up

    @property
    def flat(self):
        return bool(self.trends) and all(t.flat for t in self.trends)

    @property
    def clean(self):
        return self.lost == 0 and not self.wrong


@dataclasses.dataclass
class Results:
    throughput: list = dataclasses.field(default_factory=list)   # ThroughputRow
    ndr: list = dataclasses.field(default_factory=list)          # NdrRow
    latency: list = dataclasses.field(default_factory=list)      # LatencyRow
    goals: list = dataclasses.field(default_factory=list)        # Goal
    new_flows: NewFlows = None
    memory: Memory = None
    storm: StormFigures = None
    api_storm: list = dataclasses.field(default_factory=list)    # ApiStormRow, by rate
    soak: SoakFigures = None

    def row(self, rows, run_id):
        return next((r for r in rows if r.id == run_id), None)

    def to_json(self):
        """As the results file has them: a loss without per-direction counters has no such
        keys, memory only the figures measured, the control run no control of its own."""
        out = dataclasses.asdict(self)
        losses = [out["new_flows"]["loss"]] if out["new_flows"] else []
        if out["storm"]:
            losses.append(out["storm"]["loss"])
            control = out["storm"]["control"]
            if control:
                del control["control"]
                losses.append(control["loss"])
        for loss in losses:
            for key in ("client_to_backend", "backend_not_answered", "backend_to_client"):
                if loss[key] is None:
                    del loss[key]
        out["new_flows"] = out["new_flows"] or {}
        out["memory"] = {k: v for k, v in (out["memory"] or {}).items() if v is not None}
        return out


# ---- the figures


def baseline(runs, mode, scale_key):
    """testpmd's DUT rate at max offered load for a scale, when that run is ok."""
    run = runs.get(f"testpmd-{mode}-{scale_key}")
    return run.result.dut_pps if run is not None and run.ok else None


def throughput_rows(runs):
    rows = []
    for run in runs.values():
        if run.group != "max":
            continue
        result = run.result
        scale_key = run.id.rsplit("-", 1)[-1]
        loss = result.loss_ratio
        rows.append(ThroughputRow(
            id=run.id, title=run.title, dut=run.dut, status=run.status, flows=run.flows, vips=run.vips,
            dut_pps=result.dut_pps, tx_pps=result.tx_pps, rx_pps=result.rx_pps, loss_ratio=loss,
            repetitions=[r.dut_pps for r in run.repetitions or [] if r.dut_pps is not None],
            ratio_io=ratio(result.dut_pps, baseline(runs, "io", scale_key)),
            ratio_macswap=ratio(result.dut_pps, baseline(runs, "macswap", scale_key)),
            # The DUT returned (nearly) everything: the generator, not the DUT, set the rate.
            generator_bound=loss is not None and loss < GENERATOR_BOUND_LOSS))
    return rows


def ndr_rows(runs):
    """NDR / PDR (client packets per second -> packets the DUT forwarded per second)."""
    factors = {dut: search.packets_per_client_packet(runs.get(f"lat-{dut}-50"), dut)
               for dut in ("io", "macswap", "vipgate")}
    rows = {}
    for key in ("ndr-io", "ndr-macswap", "ndr-vipgate", "new-ndr"):
        run = runs.get(key)
        if run is None:
            continue
        found = run.result.search or SearchResult()
        factor = factors["vipgate"] if key == "new-ndr" else factors.get(run.dut, 1.0)
        rows[key] = NdrRow(id=key, title=run.title, status=run.status, ndr_pps=found.ndr_pps,
                           pdr_pps=found.pdr_pps, factor=factor,
                           ndr_dut_pps=search.to_dut_pps(found.ndr_pps, factor),
                           pdr_dut_pps=search.to_dut_pps(found.pdr_pps, factor),
                           trials=len(found.trials), generator_bound=search.generator_bound(run.result.search))
    io, macswap = rows.get("ndr-io"), rows.get("ndr-macswap")
    for row in rows.values():
        row.ratio_io = ratio(row.ndr_dut_pps, io.ndr_dut_pps if io else None)
        row.ratio_macswap = ratio(row.ndr_dut_pps, macswap.ndr_dut_pps if macswap else None)
        row.pdr_ratio_io = ratio(row.pdr_dut_pps, io.pdr_dut_pps if io else None)
    return list(rows.values())


def latency_rows(runs):
    """Latency at 50 % / 90 % of NDR, vipgate's against testpmd io's at the same share."""
    rows = []
    for dut in ("io", "vipgate"):
        for share in (50, 90):
            run = runs.get(f"lat-{dut}-{share}")
            if run is None:
                continue
            latency = run.result.latency_ns or {}
            io_run = runs.get(f"lat-io-{share}")
            base = (io_run.result.latency_ns or {}) if io_run is not None and io_run.ok else {}
            rows.append(LatencyRow(id=run.id, dut=dut, share=share, status=run.status, rate_pps=run.rate_pps,
                                   dut_pps=run.result.dut_pps, loss_ratio=run.result.loss_ratio, latency=latency,
                                   ratio_p50=ratio(latency.get("p50"), base.get("p50")),
                                   ratio_p99=ratio(latency.get("p99"), base.get("p99"))))
    return rows


def connections_set_up(result):
    """Client -> backend packets the DUT forwarded = SYNs of new connections (the backends are
    silent); dut_pps counts both directions."""
    if result.dut_pps is None or result.rx_pps is None:
        return None
    return result.dut_pps - result.rx_pps


def new_flows(runs):
    """Each client packet opens a connection; a reply back means it was set up and translated
    both ways."""
    new_max = runs.get("new-max")
    if new_max is None:
        return None
    result = new_max.result
    forwarded = connections_set_up(result)
    figures = NewFlows(
        status=new_max.status, flows_per_s=forwarded, answered_per_s=result.rx_pps, offered_per_s=result.tx_pps,
        dut_pps=result.dut_pps, loss_ratio=result.loss_ratio,
        vipgate_new_per_s_peak=new_max.vipgate_max_new_per_s,
        ratio_io=ratio(result.dut_pps, baseline(runs, "io", "mid")),
        # vipgate set up (nearly) every connection offered: the generator set the pace.
        generator_bound=bool(forwarded and result.tx_pps and forwarded >= GENERATOR_BOUND_SETUP * result.tx_pps),
        loss=loss_breakdown(new_max))
    new_full = runs.get("new-full")
    if new_full is not None:
        figures.full = TableFullFlows(status=new_full.status, offered_per_s=new_full.result.tx_pps,
                                      flows_per_s=connections_set_up(new_full.result),
                                      table_full_per_s=new_full.vipgate_new_per_s_table_full,
                                      peak_per_s=new_full.vipgate_max_new_per_s, capacity=new_full.capacity)
        figures.per_worker = figures.flows_per_s  # one worker
    return figures


def memory(runs):
    """Bytes per tracked connection: the 10M-flow vipgate's resident memory minus that of the
    same vipgate with a 1024-entry table, over the connections it tracked."""
    large, reference = runs.get("vipgate-large"), runs.get("memory-ref")
    if large is None and reference is None:
        return None
    figures = Memory()
    if large is not None:
        # Right after the warm-up opened the flows; failing that, after the run.
        figures.rss_kb = large.rss_kb_at_flows or large.rss_kb
        figures.measured = "after the warm-up" if large.rss_kb_at_flows else "after the run"
        figures.rss_kb_after_run = large.rss_kb
        figures.hwm_kb = large.hwm_kb
        figures.tracked = large.active_at_flows or large.active_connections
        figures.tracked_after_run = large.active_connections
        figures.capacity = large.capacity
        figures.status = large.status
    if reference is not None:
        figures.ref_rss_kb = reference.rss_kb
        figures.ref_status = reference.status
    if figures.rss_kb and figures.ref_rss_kb and figures.tracked:
        grown = (figures.rss_kb - figures.ref_rss_kb) * 1024
        figures.bytes_per_connection = grown / figures.tracked
        figures.bytes_per_slot = grown / figures.capacity if figures.capacity else None
    return figures


def storm_figures(run):
    result = run.result
    return StormFigures(status=run.status, rate_pps=run.rate_pps, rate_basis=run.rate_basis,
                        sent_pps=result.tx_pps, lost=result.lost, loss_ratio=result.loss_ratio,
                        misdirected=result.count("misdirected"), moved=result.count("moved"),
                        malformed=result.count("malformed"), latency=result.latency_ns or {},
                        updates=run.updates, vipgate_drops=run.drops, loss=loss_breakdown(run))


def storm(runs):
    run = runs.get("storm")
    if run is None:
        return None
    figures = storm_figures(run)
    if runs.get("storm-control") is not None:
        figures.control = storm_figures(runs["storm-control"])
    return figures


def api_storm_rows(runs):
    rows = []
    for changes_hz in api_storm.RATES_HZ:
        run = runs.get(f"api-storm-{changes_hz}")
        if run is None:
            continue
        result = run.result
        rows.append(ApiStormRow(id=run.id, status=run.status,
                                changes=run.api_storm or ApiStormSummary(rate_hz=changes_hz),
                                rate_pps=run.rate_pps, sent_pps=result.tx_pps, lost=result.lost,
                                loss_ratio=result.loss_ratio, misdirected=result.count("misdirected"),
                                moved=result.count("moved"), vipgate_drops=run.drops, loss=loss_breakdown(run)))
    return rows


def soak_figures(run):
    if run is None:
        return None
    result = run.result
    budget = soak.SoakBudget.from_json(run.soak_budget)
    return SoakFigures(status=run.status, minutes=(run.duration_s or 0) / 60, samples=len(run.soak_samples or []),
                       trends=soak.trends(run.soak_samples or [], budget), changes=run.api_storm, lost=result.lost,
                       wrong=result.errors or {}, vipgate_drops=run.drops,
                       budget=budget,
                       fill=soak.measured_fill(run.soak_samples or []), sent_pps=result.tx_pps,
                       affinity_fill=soak.measured_fill(run.soak_samples or [], "affinity_entries"))


# ---- the goals


def goal_ratio(results, runs, mid):
    name = f"vipgate {human(mid.flows)} flows vs testpmd io"
    target = f">= {GOAL_RATIO_1M:.2f}"
    row = results.row(results.throughput, "vipgate-mid")
    if not (row and row.status == "ok" and row.ratio_io is not None):
        return Goal(name, "-", target, NOT_MEASURED, "run failed or missing")
    detail = (f"{fmt_mpps(row.dut_pps)} / {fmt_mpps(baseline(runs, 'io', 'mid'))} Mpps forwarded, "
              f"max offered load, same generator and flow count")
    io_row = results.row(results.throughput, "testpmd-io-mid")
    if io_row and io_row.generator_bound:
        detail += "; the testpmd figure is generator-bound, so the ratio is an upper bound"
    ndr_row = results.row(results.ndr, "ndr-vipgate")
    if ndr_row and ndr_row.ratio_io is not None:
        detail += f"; NDR ratio {ndr_row.ratio_io:.2f}, PDR ratio {fmt_ratio(ndr_row.pdr_ratio_io)}"
    return Goal(name, f"{row.ratio_io:.2f}", target, verdict(row.ratio_io >= GOAL_RATIO_1M), detail)


def goal_new_flows(new):
    name, target = "new flows per worker", f">= {GOAL_NEW_FLOWS / 1e6:.0f} M/s"
    if not (new and new.status == "ok" and new.per_worker):
        return Goal(name, "-", target, NOT_MEASURED, "run failed or missing")
    detail = "connections set up per second (SYNs translated to a backend) at max offered load, 1 worker"
    if new.generator_bound:
        detail += "; generator-bound: vipgate set up every connection offered, so this is a lower bound"
    if new.full and new.full.table_full_per_s:
        detail += (f"; with a full table (every insert evicts) vipgate sets up "
                   f"{fmt_mpps(new.full.table_full_per_s)} M/s")
    return Goal(name, f"{new.per_worker / 1e6:.2f} M/s", target, verdict(new.per_worker >= GOAL_NEW_FLOWS), detail)


def goal_storm(figures, storm_run):
    name, target = "update storm: drops / misdirected / moved", "0 / 0 / 0"
    if not (figures and storm_run.vipgen and figures.lost is not None and figures.updates
            and figures.updates.applied):
        return Goal(name, "-", target, NOT_MEASURED, "run failed or missing")
    detail = (f"{figures.updates.sent} updates at {fmt_mpps(figures.rate_pps)} Mpps client load "
              f"({figures.rate_basis}); of the lost packets, vipgate dropped {figures.loss.vipgate_drops:,}")
    if figures.loss.backend_not_answered:
        detail += (f", {figures.loss.backend_not_answered:,} backend packets were not answered (generator "
                   f"busy or its ring to vipgate full)")
    if figures.sent_pps and figures.rate_pps and figures.sent_pps < search.SHORTFALL * figures.rate_pps:
        detail += (f"; vipgen could send only {fmt_mpps(figures.sent_pps)} of the {fmt_mpps(figures.rate_pps)} "
                   "Mpps asked")
    if figures.control and figures.control.lost is not None:
        detail += f"; the same traffic without updates lost {figures.control.lost:,}"
    return Goal(name, f"{figures.lost:,} / {figures.misdirected} / {figures.moved}", target,
                verdict(figures.clean), detail)


def goal_api_storm(rows):
    name = f"API storm at {api_storm.GOAL_RATE_HZ} changes/s: drops / misdirected / moved"
    target = "0 / 0 / 0"
    row = next((r for r in rows if r.changes.rate_hz == api_storm.GOAL_RATE_HZ), None)
    if not (row and row.lost is not None and row.changes.sent):
        return Goal(name, "-", target, NOT_MEASURED, "run failed or missing")
    changes = row.changes
    detail = (f"{changes.sent} single-object changes through the control socket ({changes.failed} failed) at "
              f"{fmt_mpps(row.rate_pps)} Mpps client load; of the lost packets, vipgate dropped "
              f"{row.loss.vipgate_drops:,}")
    if changes.behind:
        detail += f"; only {changes.achieved_hz:.0f} changes/s could be sent"
    return Goal(name, f"{row.lost:,} / {row.misdirected} / {row.moved}", target,
                verdict(row.clean and not changes.failed and not changes.behind), detail)


def goal_soak(figures):
    name, target = "soak: memory, mempool and tables flat; nothing wrong", "flat, 0 lost, 0 wrong"
    if figures is None or figures.lost is None or not figures.trends:
        return Goal(name, "-", target, NOT_MEASURED, "not run (--soak-minutes N or --only soak)")
    flat = sum(1 for t in figures.trends if t.flat)
    measured = f"{flat}/{len(figures.trends)} flat, {figures.lost:,} lost, {sum(figures.wrong.values())} wrong"
    detail = (f"{figures.minutes:.0f} min of lifecycle traffic, {figures.samples} samples, "
              f"{figures.changes.sent if figures.changes else 0} API changes")
    return Goal(name, measured, target, verdict(figures.flat and figures.clean), detail)


def goal_generator(generator_run, settings):
    name, target = "vipgen generation per core (into net_null)", f">= {GOAL_GENERATOR_PPS / 1e6:.0f} Mpps"
    tx_pps = generator_run.result.tx_pps if generator_run is not None else None
    if not tx_pps:
        return Goal(name, "-", target, NOT_MEASURED, "run failed or missing")
    return Goal(name, f"{tx_pps / 1e6:.1f} Mpps", target, verdict(tx_pps >= GOAL_GENERATOR_PPS),
                f"1 lcore on CPU {DUT_CPU} (its main lcore on CPU {GEN_CPU}), "
                f"{human(settings.scales['mid'].flows)} flows, 64-byte TCP frames from templates, nothing received")


def goal_memory(figures, skip_large):
    name, target = "memory per tracked connection", f"<= {GOAL_BYTES_PER_CONN} B"
    if figures is None or figures.bytes_per_connection is None:
        return Goal(name, "-", target, SKIPPED_10M if skip_large else NOT_MEASURED, "")
    return Goal(name, f"{figures.bytes_per_connection:.0f} B", target,
                verdict(figures.bytes_per_connection <= GOAL_BYTES_PER_CONN),
                f"{fmt_count(figures.tracked)} tracked in a {fmt_count(figures.capacity)}-entry table")


def derive(runs, settings):
    """`runs`: {id: Run} in execution order."""
    results = Results(throughput=throughput_rows(runs), ndr=ndr_rows(runs), latency=latency_rows(runs),
                      new_flows=new_flows(runs), memory=memory(runs), storm=storm(runs),
                      api_storm=api_storm_rows(runs), soak=soak_figures(runs.get("soak")))
    results.goals = [goal_ratio(results, runs, settings.scales["mid"]), goal_new_flows(results.new_flows),
                     goal_storm(results.storm, runs.get("storm")), goal_api_storm(results.api_storm),
                     goal_generator(runs.get("generator-null"), settings), goal_soak(results.soak),
                     goal_memory(results.memory, settings.skip_large)]
    return results
