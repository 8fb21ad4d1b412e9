"""Suite: every run of the benchmark, in order (generator ceiling, max offered load, NDR and
latency, new flows, update storm, memory), each recorded as a Run in `runs`."""
import dataclasses
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import tempfile
import time
import traceback

from . import api_storm, checks, search, soak
from .formatting import fmt_mpps, human, log
from .processes import BenchError, Interrupted, Process, Testpmd, Vipgate
from .results import ERRORS, FAILED, OK, Repetition, Run, VipgenResult
from .storm import Update, storm_latencies
from .topology import DUT_CPU, GEN_CPU, Scale, Settings, VipgateConfig, write_atomic

STEPS = ("generator", "max", "ndr", "new", "storm", "api-storm", "memory", "soak")
STATS_INTERVAL_S = 0.6     # a little more than vipgate's 0.5 s stats interval: its gauges are fresh
LATENCY_SHARES = (0.5, 0.9)


class Suite:
    def __init__(self, args):
        self.args = args
        self.settings = Settings(args)
        self.build_dir = os.path.abspath(args.build_dir)
        self.vipgen = args.vipgen or os.path.join(self.build_dir, "pktgen", "vipgen")
        self.vipgate = args.vipgate or os.path.join(self.build_dir, "control", "vipgate")
        self.testpmd = args.testpmd
        self.out_dir = os.path.abspath(args.out)
        self.scratch = tempfile.mkdtemp(prefix="vipgate-bench-", dir="/tmp")
        self.processes = []
        self.prefixes = []
        self.sockets = set()
        self.runs = {}            # id -> Run (insertion order = execution order)
        self.failures = []
        self.started = time.time()
        self.only = set(args.only.split(",")) if args.only else None

    # ---- resources

    def scratch_path(self, name):
        return os.path.join(self.scratch, name)

    def file_prefix(self, tag):
        prefix = f"vb{os.getpid() % 100000}-{tag}"[:40]
        self.prefixes.append(prefix)
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        return prefix

    def remove_socket(self, path):
        self.sockets.add(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def cleanup(self, keep_scratch):
        for proc in self.processes:
            if proc.running():
                log(f"stopping {proc.name} (pid {proc.pid})")
            try:
                proc.stop(grace=5)
            except Exception as error:  # keep going: every other child must still be stopped
                log(f"could not stop {proc.name}: {error}")
        for path in self.sockets:
            try:
                os.unlink(path)
            except OSError:
                pass
        for prefix in self.prefixes:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        if keep_scratch:
            log(f"logs kept in {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def fail(self, run):
        self.failures.append(f"{run.id}: {'; '.join(run.problems)[:600]}")

    # ---- vipgen

    def vipgen_command(self, tag, socket_path, mode, pattern, flows, *, rate=0, duration=None, configs=(),
                       searching=False, warmup_rate=None, memory_mb=1024, data_packets=None):
        prefix = self.file_prefix(tag)
        eal = (f"--no-huge -m {memory_mb} --no-pci --no-shconf --no-telemetry --file-prefix {prefix} "
               f"--lcores 0@{GEN_CPU},1@{GEN_CPU}")
        argv = [self.vipgen, "--eal", eal, "--port", f"net_memif0,role=client,socket={socket_path}",
                "--lcores", "1", "--mode", mode]
        for config in configs:
            argv += ["--config", config]
        argv += ["--pattern", pattern, "--protocol", "tcp", "--size", "64", "--rate", str(int(rate)),
                 "--duration", str(duration), "--seed", str(self.settings.seed), "--json"]
        if pattern in ("established", "mixed", "lifecycle"):
            argv += ["--flows", str(flows)]
            if data_packets is not None:
                argv += ["--data-packets", str(data_packets)]
            if warmup_rate:
                argv += ["--warmup-rate", str(int(warmup_rate))]
        if searching:
            argv += ["--search", "--pdr-loss", str(self.settings.pdr_loss), "--precision",
                     str(self.settings.precision)]
        return argv

    def run_vipgen(self, tag, argv, timeout, during=None):
        """Runs vipgen to completion; `during(proc)` runs meanwhile (the storm). Returns
        (exit status, VipgenResult or None, stderr tail, elapsed seconds)."""
        out_path = self.scratch_path(f"{tag}.json")
        proc = Process(self, tag, argv, stdout_path=out_path).start()
        log(f"  {tag}: vipgen {' '.join(shlex.quote(a) for a in argv[1:])}")
        started = time.monotonic()
        try:
            if during is not None:
                during(proc)
            if not proc.wait_exit(max(1.0, timeout - (time.monotonic() - started))):
                proc.stop(grace=5, number=signal.SIGINT)
                raise BenchError(f"vipgen did not finish within {timeout:.0f} s; last output:\n{proc.tail()}")
        finally:
            if proc.running():
                proc.stop(grace=5, number=signal.SIGINT)
        elapsed = time.monotonic() - started
        status = proc.stop()
        try:
            with open(out_path) as f:
                raw = f.read()
        except OSError:
            raw = ""
        return status, parse_vipgen_output(raw), proc.tail(), elapsed

    @staticmethod
    def vipgen_timeout(flows, warmup_rate, duration, searching):
        warm = flows / max(warmup_rate, 1) * 3 + 10
        trials = 30 if searching else 1
        return 60 + warm + trials * (duration + 3)

    # ---- one measurement: fresh DUT, one vipgen run, DUT stopped

    def measure(self, run_id, *, title, group, dut, scale, pattern="established", rate=0, duration=None,
                search_rate=False, kind="max", share=None, ndr_pps=None, repeats=1, pick=search.median_rate):
        """dut: "io" | "macswap" | "vipgate". Runs `repeats` repetitions, each with a freshly
        started DUT, and records the one `pick` chooses as the run (all are kept under
        "repetitions"); its status is the worst of theirs."""
        duration = duration or self.settings.trial_s
        run = Run(id=run_id, title=title, group=group, kind=kind, dut=dut, pattern=pattern,
                  vips=scale.vips if dut == "vipgate" else None,
                  endpoints_per_vip=scale.endpoints if dut == "vipgate" else None,
                  flows=scale.flows if pattern != "new" else None, rate_pps=rate, duration_s=duration,
                  search=search_rate, share=share, ndr_pps=ndr_pps)
        self.runs[run_id] = run
        log(f"{run_id}: {title}" + (f" ({repeats} repetitions)" if repeats > 1 else ""))
        started = time.monotonic()
        repetitions = []
        for index in range(repeats):
            tag = run_id if repeats == 1 else f"{run_id}-r{index + 1}"
            repetition = Run(pattern=pattern, rate_pps=rate, search=search_rate, dut=dut, flows=run.flows)
            repetitions.append(repetition)
            self.measure_once(repetition, tag, dut, scale, pattern, rate, duration, search_rate)
            if not search.should_repeat(index, repetition, repeats):
                break
        chosen = pick(repetitions)
        for field in Run.MEASURED:
            if getattr(chosen, field) is not None:
                setattr(run, field, getattr(chosen, field))
        run.status = search.worst(repetitions).status
        for repetition in repetitions:
            for item in repetition.problems:
                if item not in run.problems:
                    run.problems.append(item)
            for item in repetition.notes:
                if item not in run.notes:
                    run.notes.append(item)
        if repeats > 1:
            run.repetitions = [Repetition(r.result.dut_pps, r.result.search.ndr_pps if r.result.search else None,
                                          r.result.tx_pps, r.result.loss_ratio, r.status, r.vipgen, r.dut_summary)
                               for r in repetitions]
        run.elapsed_s = round(time.monotonic() - started, 1)
        if not run.ok:
            self.fail(run)
        spread = ""
        if repeats > 1:
            rates = [r.ndr_pps if search_rate else r.dut_pps for r in run.repetitions]
            spread = f" [repetitions: {', '.join(fmt_mpps(x) for x in rates)} Mpps]"
        log(f"{run_id}: {run.status}" + (f" ({run.problems[0][:300]})" if run.problems else "")
            + checks.headline(run) + spread)
        return run

    def measure_once(self, repetition, tag, dut, scale, pattern, rate, duration, search_rate):
        settings = self.settings
        device = None
        try:
            if dut in ("io", "macswap"):
                device = Testpmd(self, dut, f"{tag}-dut")
                device.start()
                socket_path, mode, configs = device.socket_path, "forwarder", []
                warmup = settings.forwarder_warmup_rate
            else:
                config = VipgateConfig(scale, self.file_prefix(f"{tag}-dut"), self.scratch_path(f"{tag}-dut.sock"))
                device = Vipgate(self, config, f"{tag}-dut")
                device.start()
                repetition.vipgate_config = {"capacity": config.capacity, "eal_args": config.eal_args}
                repetition.rss_kb_idle = device.memory().get("VmRSS")
                socket_path, mode, configs = config.socket_path, "vipgate", [device.config_path]
                warmup = settings.warmup_rate
            argv = self.vipgen_command(f"{tag}-gen", socket_path, mode, pattern, scale.flows, rate=rate,
                                       duration=duration, configs=configs, searching=search_rate,
                                       warmup_rate=warmup, memory_mb=scale.gen_memory_mb())
            if pattern == "new":
                argv.append("--silent-backends")  # one pass through the DUT per connection (see HEADER)
            repetition.command = " ".join(shlex.quote(a) for a in argv)
            timeout = self.vipgen_timeout(scale.flows if pattern != "new" else 0, warmup, duration, search_rate)
            during = None
            if isinstance(device, Vipgate) and pattern == "established":
                def during(generator):
                    # Resident memory right after the warm-up opened every flow.
                    if device.wait_active(scale.flows, timeout, stop_if=lambda: not generator.running()):
                        repetition.rss_kb_at_flows = device.memory().get("VmRSS")
                        repetition.active_at_flows = device.active_connections()
            status, result, tail, elapsed = self.run_vipgen(f"{tag}-gen", argv, timeout, during=during)
            repetition.vipgen_exit, repetition.vipgen = status, result
            repetition.vipgen_elapsed_s = round(elapsed, 1)
            if isinstance(device, Vipgate):
                self.record_vipgate_after_run(repetition, device, config.capacity)
            checks.judge(repetition, status, result, tail)
        except BenchError as error:
            repetition.problems.append(str(error))
            repetition.status = FAILED
        finally:
            if device is not None and device.proc is not None:
                repetition.dut_summary = device.stop()
                if isinstance(device, Vipgate) and repetition.dut_summary.final_counters is None:
                    repetition.problems.append("vipgate printed no final counters (crashed?): " + device.proc.tail(10))
                    repetition.status = FAILED
        checks.add_notes(repetition)
        return repetition

    @staticmethod
    def record_vipgate_after_run(repetition, device, capacity):
        """Memory with the flows still tracked (established flows outlive vipgen's run) and the
        new-connection rates of vipgate's own stats lines."""
        time.sleep(STATS_INTERVAL_S)
        memory = device.memory()
        repetition.rss_kb = memory.get("VmRSS")
        repetition.hwm_kb = memory.get("VmHWM")
        repetition.active_connections = device.active_connections()
        intervals = device.intervals()
        repetition.active_peak = max((i.active for i in intervals), default=None)
        new_rates = [i.new_per_s for i in intervals if i.new_per_s]
        repetition.vipgate_max_new_per_s = max(new_rates) if new_rates else None
        # New connections per second once the table is full (each insert evicts), from
        # vipgate's 0.5 s stats lines.
        full = [i.new_per_s for i in intervals if i.new_per_s and i.active >= 0.999 * capacity]
        repetition.vipgate_new_per_s_table_full = statistics.median(full) if len(full) >= 3 else None

    # ---- steps

    def wanted(self, step):
        if step == "soak" and not self.settings.soak_wanted:
            return self.only is not None and step in self.only
        return self.only is None or step in self.only

    def scales(self):
        names = ["small", "mid"] + ([] if self.settings.skip_large else ["large"])
        return [self.settings.scales[n] for n in names]

    def step_generator(self):
        """vipgen alone: one lcore generating into a net_null port (no receive side), so the
        figure is the generator's own ceiling: templates, bulk allocation, no syscalls."""
        settings = self.settings
        flows = settings.scales["mid"].flows
        tag = "generator-null"
        prefix = self.file_prefix(tag)
        argv = [self.vipgen, "--eal", f"--no-huge -m 1024 --no-pci --no-shconf --no-telemetry --file-prefix {prefix} "
                                      f"--lcores 0@{GEN_CPU},1@{DUT_CPU}",
                "--port", "net_null0,no-rx=1", "--mode", "forwarder", "--pattern", "established",
                "--flows", str(flows), "--protocol", "tcp", "--size", "64", "--duration", str(settings.trial_s),
                "--json"]
        status, result, tail, _ = self.run_vipgen(tag, argv, timeout=60 + settings.trial_s)
        run = Run(id=tag, group="generator", kind="generator",
                  title=f"vipgen into net_null, 1 lcore, {human(flows)} flows, 64-byte frames")
        if result is None:
            run.problems.append(f"vipgen printed no result (exit {status}): {tail}")
            self.failures.append(f"{tag}: vipgen printed no result")
        else:
            run.status, run.vipgen = OK, result
        self.runs[tag] = run

    def step_max(self):
        """Max offered load, per scale: testpmd io, testpmd macswap and vipgate one after the
        other (so drift hits all three alike), each the median of `repeats` runs."""
        for scale in self.scales():
            repeats = 1 if scale.key == "large" else self.settings.repeats
            for dut in ("io", "macswap"):
                self.measure(f"testpmd-{dut}-{scale.key}", group="max", dut=dut, scale=scale, repeats=repeats,
                             title=f"dpdk-testpmd {dut}, {human(scale.flows)} flows")
            extra = " (and its memory)" if scale.key == "large" else ""
            self.measure(f"vipgate-{scale.key}", group="max", dut="vipgate", scale=scale, repeats=repeats,
                         title=f"vipgate established, {scale.label}, {scale.endpoints} endpoints each{extra}")

    def step_ndr(self):
        settings = self.settings
        mid = settings.scales["mid"]
        for dut, base in (("io", "testpmd-io-mid"), ("macswap", "testpmd-macswap-mid"), ("vipgate", "vipgate-mid")):
            name = f"testpmd {dut}, {human(mid.flows)} flows" if dut != "vipgate" else \
                f"vipgate established, {mid.label}"
            run = self.measure(f"ndr-{dut}", group="ndr", kind="search", dut=dut, scale=mid, search_rate=True,
                               rate=search.upper_bound(self.runs.get(base)), duration=settings.search_trial_s,
                               repeats=settings.search_repeats, pick=search.best_ndr,
                               title=f"{name}: NDR / PDR search")
            ndr = run.result.search.ndr_pps if run.result.search else None
            if dut == "macswap":
                continue
            for share in LATENCY_SHARES:
                run_id = f"lat-{dut}-{int(share * 100)}"
                title = f"{name}: latency at {int(share * 100)} % of NDR"
                if not ndr:
                    self.runs[run_id] = Run(id=run_id, group="latency", kind="latency", dut=dut,
                                            problems=["no NDR to derive the rate from"], share=share, title=title)
                    self.failures.append(f"{run_id}: no NDR to derive the rate from")
                    continue
                self.measure(run_id, group="latency", kind="latency", dut=dut, scale=mid, rate=ndr * share,
                             duration=settings.latency_s, share=share, ndr_pps=ndr, title=title)

    def step_new_flows(self):
        """Every packet a new connection. Two regimes: a table with room for every connection of
        the trial (the table of the 10M-flow case; the trial is short enough to stay under 80 %
        of it), and the 1M-flow case's table, which fills within a second so that each new
        connection has to evict a half-open one. The NDR search runs against the full table."""
        settings = self.settings
        mid = settings.scales["mid"]
        big = settings.scales["large"].capacity if not settings.quick else 2_500_000
        room = Scale("new-room", mid.vips, mid.endpoints, mid.flows, table=big)
        # At most ~2.5 M/s on this machine: keep the trial's connections under 80 % of the table.
        room_s = max(1, min(settings.trial_s, int(0.8 * big / 2.5e6)))
        self.measure("new-max", group="new", dut="vipgate", scale=room, pattern="new", duration=room_s,
                     repeats=settings.repeats,
                     title=f"vipgate new flows (every packet a new connection), {human(mid.vips)} VIPs, "
                           f"table of {human(big)} with room, max offered load, {room_s} s")
        self.measure("new-full", group="new", dut="vipgate", scale=mid, pattern="new", repeats=1,
                     title=f"vipgate new flows, {human(mid.vips)} VIPs, table of {human(mid.capacity)} "
                           f"(full after a second: every insert evicts), max offered load")
        self.measure("new-ndr", group="new", kind="search", dut="vipgate", scale=mid, pattern="new",
                     search_rate=True, rate=search.upper_bound(self.runs.get("new-full")),
                     duration=settings.search_trial_s, repeats=settings.search_repeats, pick=search.best_ndr,
                     title=f"vipgate new flows, {human(mid.vips)} VIPs, full table of {human(mid.capacity)}: "
                           f"NDR / PDR search")

    def step_memory(self):
        """The cost of a tracked connection: vipgate-large (step_max) recorded its resident memory
        holding the flows; here the same vipgate with a 1024-entry table, after a small run."""
        if self.settings.skip_large:
            return
        settings = self.settings
        large = settings.scales["large"]
        # Reference: identical configuration (and -m) but capacity 1024, 1k flows for a short while.
        reference = Scale("ref", large.vips, large.endpoints, 1000)
        run = Run(id="memory-ref", group="memory", kind="memory", dut="vipgate",
                  title=f"vipgate, {human(large.vips)} VIPs, conntrack capacity 1024 (memory reference), 1k flows")
        self.runs["memory-ref"] = run
        log(f"memory-ref: {run.title}")
        device = None
        try:
            config = VipgateConfig(reference, self.file_prefix("memory-ref-dut"),
                                   self.scratch_path("memory-ref-dut.sock"), capacity=1024,
                                   memory_mb=large.dut_memory_mb())
            device = Vipgate(self, config, "memory-ref-dut")
            device.start()
            run.rss_kb_idle = device.memory().get("VmRSS")
            argv = self.vipgen_command("memory-ref-gen", config.socket_path, "vipgate", "established", 1000,
                                       duration=min(2, settings.trial_s), configs=[device.config_path],
                                       warmup_rate=settings.warmup_rate)
            status, result, tail, _ = self.run_vipgen("memory-ref-gen", argv, 120)
            run.vipgen_exit, run.vipgen, run.rate_pps, run.search = status, result, 0, False
            time.sleep(STATS_INTERVAL_S)
            memory = device.memory()
            run.rss_kb, run.hwm_kb = memory.get("VmRSS"), memory.get("VmHWM")
            run.active_connections = device.active_connections()
            checks.judge(run, status, result, tail)
        except BenchError as error:
            run.problems.append(str(error))
        finally:
            if device is not None and device.proc is not None:
                run.dut_summary = device.stop()
        checks.add_notes(run)
        if not run.ok:
            self.fail(run)
        log(f"memory-ref: {run.status}, RSS {run.rss_kb} kB")

    def storm_rate(self):
        """(client rate, how it was chosen, whether that is a fallback): 90 % of vipgate's NDR, else
        half its max-load rate."""
        ndr_run = self.runs.get("ndr-vipgate")
        ndr = ndr_run.result.search.ndr_pps if ndr_run is not None and ndr_run.result.search else None
        if ndr:
            return 0.9 * ndr, "90 % of the vipgate NDR", False
        max_load = self.runs.get("vipgate-mid")
        result = max_load.result if max_load is not None else None
        if result is not None and result.tx_pps:
            return 0.5 * result.tx_pps * (1 - (result.loss_ratio or 0)), \
                "50 % of the max-load rate (no NDR available)", True
        return 1_000_000, "1 Mpps (no NDR or max-load rate available)", True

    def step_storm(self):
        """Update storm: established flows at 90 % of the NDR while 10 updates a second add and
        remove an 11th endpoint on a rotating service (file rewritten atomically + SIGHUP); before
        it, a control run of the same traffic without updates, so that loss the set-up has anyway
        at that rate is told apart from loss the updates cause."""
        settings = self.settings
        mid = settings.scales["mid"]
        rate, basis, fallback = self.storm_rate()
        notes = [f"rate fallback: {basis}"] if fallback else []
        self.storm_run("storm-control", rate, basis, notes, updates_wanted=False,
                       title=f"update storm control: the same traffic without updates, {mid.label}")
        self.storm_run("storm", rate, basis, notes, updates_wanted=True,
                       title=f"update storm: {settings.storm_rate_hz:.0f} updates/s for {settings.storm_s} s, "
                             f"{mid.label}")

    def send_updates(self, run, device, config, generator, updates):
        """The storm itself, while vipgen runs: `updates` gets an Update per SIGHUP sent."""
        settings = self.settings
        mid = settings.scales["mid"]
        period = 1.0 / settings.storm_rate_hz
        count = int(settings.storm_s * settings.storm_rate_hz) // 2 * 2   # even: ends as it started
        # Every version of the file is rendered before the storm: this driver shares CPU 0
        # with the generator, and rendering 1k services per update would slow vipgen down.
        texts = [config.text(extra_service=(k // 2) % mid.vips if k % 2 == 0 else None) for k in range(count)]
        # Start once the warm-up has opened the flows (vipgate's "active" gauge), so the
        # updates fall in vipgen's measured period.
        warm_s = mid.flows / settings.warmup_rate
        if not device.wait_active(mid.flows, warm_s * 3 + 20, stop_if=lambda: not generator.running()):
            run.notes.append("the flows did not all show up in vipgate's table; storm started anyway")
        time.sleep(0.5)
        next_at = time.monotonic()
        for k in range(count):
            if not generator.running() or not device.proc.running():
                break
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            write_atomic(device.config_path, texts[k])
            sent = time.time()
            device.proc.send_signal(signal.SIGHUP)
            updates.append(Update(k=k, action="add" if k % 2 == 0 else "remove", sent=sent,
                                  service=(k // 2) % mid.vips))
            next_at += period

    def step_api_storm(self):
        """API storm: the storm's traffic while single-object changes go through the control
        socket at 10, 100 and 1,000 changes a second (api_storm.py says which)."""
        settings = self.settings
        mid = settings.scales["mid"]
        rate, basis, fallback = self.storm_rate()
        notes = [f"rate fallback: {basis}"] if fallback else []
        for changes_hz in api_storm.RATES_HZ:
            self.storm_run(f"api-storm-{changes_hz}", rate, basis, notes, updates_wanted=False,
                           title=f"API storm: {changes_hz} changes/s for {settings.storm_s} s, {mid.label}",
                           api_changes_hz=changes_hz)

    def send_api_changes(self, run, device, config, generator, changes_hz):
        """The API storm while vipgen runs, once the warm-up has opened the flows."""
        mid = self.settings.scales["mid"]
        warm_s = mid.flows / self.settings.warmup_rate
        if not device.wait_active(mid.flows, warm_s * 3 + 20, stop_if=lambda: not generator.running()):
            run.notes.append("the flows did not all show up in vipgate's table; storm started anyway")
        time.sleep(0.5)
        run.api_storm = api_storm.run_api_storm(
            device.api_socket, config, changes_hz, self.settings.storm_s,
            keep_going=lambda: generator.running() and device.proc.running())

    def soak_ceiling(self):
        """(the soak's highest rate, how it was chosen, whether that is a fallback): half the
        vipgate NDR, else the storm's fallback."""
        ndr_run = self.runs.get("ndr-vipgate")
        ndr = ndr_run.result.search.ndr_pps if ndr_run is not None and ndr_run.result.search else None
        if ndr:
            return soak.NDR_CEILING_SHARE * ndr, f"{soak.NDR_CEILING_SHARE:.0%} of the vipgate NDR", False
        rate, basis, _ = self.storm_rate()
        return rate, basis, True

    def step_soak(self):
        """Soak (soak.py): lifecycle traffic for settings.soak_s at the rate the connection table's
        budget allows (soak.soak_budget), ClientIP affinity on every service, an endpoint drained
        or undrained, or a service created or deleted, through the API every few seconds;
        vipgate's memory, mempool and tables sampled."""
        settings = self.settings
        mid = settings.scales["mid"]
        ceiling, ceiling_basis, fallback = self.soak_ceiling()
        minutes = settings.soak_s / 60
        run = Run(id="soak", group="soak", kind="soak", dut="vipgate", pattern="lifecycle", vips=mid.vips,
                  endpoints_per_vip=mid.endpoints, flows=mid.flows, search=False,
                  notes=[f"rate ceiling fallback: {ceiling_basis}"] if fallback else [],
                  title=f"soak: {minutes:.0f} min of lifecycle traffic, session affinity, an API change every "
                        f"{soak.CHANGE_PERIOD_S} s, {mid.label}")
        self.runs["soak"] = run
        log(f"soak: {run.title}")
        started = time.monotonic()
        device = None
        try:
            config = VipgateConfig(mid, self.file_prefix("soak-dut"), self.scratch_path("soak-dut.sock"),
                                   capacity=mid.flows * soak.TABLE_PER_FLOW,
                                   affinity_timeout_s=soak.AFFINITY_TIMEOUT_S)
            device = Vipgate(self, config, "soak-dut")
            device.metrics_address = f"127.0.0.1:{free_port()}"
            device.start()
            run.vipgate_config = {"capacity": config.capacity, "eal_args": config.eal_args}
            budget = self.soak_budget(device, config, mid.flows, ceiling)
            budget = self.soak_affinity(device, config, budget)
            run.soak_budget = budget.to_json()
            rate = run.rate_pps = budget.rate_pps
            run.rate_basis = (f"connection table budget: {soak.FILL_TARGET:.0%} of {budget.capacity:,} entries"
                              if budget.limited_by == "table" else ceiling_basis)
            log(f"  soak rate {rate / 1e3:,.0f} kpps ({budget.connections_per_s / 1e3:,.1f} k connections/s, "
                f"limited by the {budget.limited_by}); expected table fill {budget.expected_fill:.0%} "
                f"({budget.live_entries:,.0f} live + {budget.closing_entries:,.0f} closing of {budget.capacity:,}); "
                f"affinity timeout {budget.affinity_timeout_s} s, affinity table fill at most "
                f"{budget.expected_affinity_fill:.0%} of {budget.affinity_capacity:,}")
            union_path = write_atomic(self.scratch_path("soak-union.toml"), config.text(union=True))
            duration = settings.soak_s
            argv = self.vipgen_command("soak-gen", config.socket_path, "vipgate", "lifecycle", mid.flows, rate=rate,
                                       duration=duration, configs=[device.config_path, union_path],
                                       warmup_rate=settings.warmup_rate, memory_mb=mid.gen_memory_mb(),
                                       data_packets=soak.DATA_PACKETS)
            run.command = " ".join(shlex.quote(a) for a in argv)
            run.duration_s = duration

            def during(generator):
                sampler = soak.Sampler(device.proc.pid, f"http://{device.metrics_address}/metrics").start()
                try:
                    running = lambda: generator.running() and device.proc.running()  # noqa: E731
                    run.api_storm = api_storm.run_api_storm(device.api_socket, config, 1 / soak.CHANGE_PERIOD_S,
                                                            duration, keep_going=running,
                                                            actions=api_storm.SOAK_ACTIONS)
                    while running():
                        time.sleep(1)
                finally:
                    run.soak_samples = sampler.stop()
                    run.soak_problems = sampler.errors

            timeout = self.vipgen_timeout(mid.flows, settings.warmup_rate, duration, False)
            status, result, tail, elapsed = self.run_vipgen("soak-gen", argv, timeout, during=during)
            run.vipgen_exit, run.vipgen, run.vipgen_elapsed_s = status, result, round(elapsed, 1)
            checks.judge(run, status, result, tail)
        except BenchError as error:
            run.problems.append(str(error))
            run.status = FAILED
        finally:
            if device is not None and device.proc is not None:
                run.dut_summary = device.stop()
            run.elapsed_s = round(time.monotonic() - started, 1)
        checks.add_notes(run)
        if run.api_storm and run.api_storm.failed:
            run.problems.append(f"{run.api_storm.failed} of {run.api_storm.sent} API changes failed: "
                                + "; ".join(run.api_storm.errors))
            if run.ok:
                run.status = ERRORS
        if not run.ok:
            self.fail(run)
        log(f"soak: {run.status}" + checks.headline(run) + f"; {len(run.soak_samples or [])} samples")

    @staticmethod
    def soak_budget(device, config, flows, ceiling):
        """soak.soak_budget with the closing timeout vipgate runs with (its API's dump)."""
        try:
            answer = api_storm.api_request(device.api_socket, {"op": "dump"})
            if not answer.get("ok"):
                raise ValueError(answer.get("error", "refused"))
            closing = soak.closing_timeout_s(answer["text"])
            return soak.soak_budget(config.capacity, flows, soak.DATA_PACKETS, closing, ceiling)
        except (OSError, ValueError, KeyError) as error:
            raise BenchError(f"soak: cannot size the rate from the connection table: {error}") from error

    @staticmethod
    def soak_affinity(device, config, budget):
        """The budget with the affinity timeout that fits vipgate's affinity table (its capacity
        from the metrics), applied to every service through the API before any traffic."""
        try:
            capacity = soak.sample(device.proc.pid, f"http://{device.metrics_address}/metrics")[
                "affinity_entries_capacity"]
            if not capacity:
                raise ValueError("no vipgate_affinity_capacity in the metrics")
            timeout = soak.affinity_timeout(budget.connections_per_s, capacity)
            if timeout != config.affinity_timeout_s:
                text = config.set_affinity_timeout(timeout)
                answer = api_storm.api_request(device.api_socket, {
                    "op": "apply", "documents": [{"source": "soak-affinity.toml", "text": text}]})
                if not answer.get("ok"):
                    raise ValueError(f"applying the affinity timeout: {answer.get('error', 'refused')}")
            return dataclasses.replace(budget, affinity_capacity=int(capacity), affinity_timeout_s=timeout)
        except (OSError, ValueError, KeyError) as error:
            raise BenchError(f"soak: cannot size the affinity timeout: {error}") from error

    def storm_run(self, run_id, rate, basis, notes, updates_wanted, title, api_changes_hz=None):
        settings = self.settings
        mid = settings.scales["mid"]
        run = Run(id=run_id, group="storm", kind="storm", dut="vipgate", pattern="established", vips=mid.vips,
                  endpoints_per_vip=mid.endpoints, flows=mid.flows, notes=list(notes), search=False, title=title,
                  rate_pps=rate, rate_basis=basis)
        self.runs[run_id] = run
        log(f"{run_id}: {title}")
        started = time.monotonic()
        device = None
        updates = []
        try:
            config = VipgateConfig(mid, self.file_prefix(f"{run_id}-dut"), self.scratch_path(f"{run_id}-dut.sock"))
            device = Vipgate(self, config, f"{run_id}-dut")
            device.start()
            union_path = write_atomic(self.scratch_path(f"{run_id}-union.toml"), config.text(union=True))
            duration = settings.storm_s + 4
            argv = self.vipgen_command(f"{run_id}-gen", config.socket_path, "vipgate", "established", mid.flows,
                                       rate=rate, duration=duration, configs=[device.config_path, union_path],
                                       warmup_rate=settings.warmup_rate, memory_mb=mid.gen_memory_mb())
            run.command = " ".join(shlex.quote(a) for a in argv)
            run.duration_s = duration

            def storm(generator):
                if updates_wanted:
                    self.send_updates(run, device, config, generator, updates)
                if api_changes_hz:
                    self.send_api_changes(run, device, config, generator, api_changes_hz)

            timeout = self.vipgen_timeout(mid.flows, settings.warmup_rate, duration, False)
            status, result, tail, elapsed = self.run_vipgen(f"{run_id}-gen", argv, timeout, during=storm)
            run.vipgen_exit, run.vipgen, run.vipgen_elapsed_s = status, result, round(elapsed, 1)
            checks.judge(run, status, result, tail)
        except BenchError as error:
            run.problems.append(str(error))
            run.status = FAILED
        finally:
            if device is not None and device.proc is not None:
                text = device.proc.log_text()
                run.dut_summary = device.stop()
                if updates_wanted:
                    run.updates = storm_latencies(updates, text)
            run.elapsed_s = round(time.monotonic() - started, 1)
        checks.add_notes(run)
        self.judge_storm(run, updates_wanted)
        if api_changes_hz:
            self.judge_api_storm(run)
        if not run.ok:
            self.fail(run)
        log(f"{run_id}: {run.status}" + checks.headline(run)
            + (f"; updates {json.dumps(run.updates.to_json() if run.updates else {})}" if updates_wanted else "")
            + (f"; changes {json.dumps(run.api_storm.to_json() if run.api_storm else {})}" if api_changes_hz else "")
            + "".join(f"; {n}" for n in run.notes))

    @staticmethod
    def judge_api_storm(run):
        """Fails without any change sent; a refused change is an error (every change is valid)."""
        changes = run.api_storm
        if run.ok and not (changes and changes.sent):
            run.problems.append("no change was sent (the warm-up never completed?)")
            run.status = FAILED
        if changes and changes.failed:
            run.problems.append(f"{changes.failed} of {changes.sent} API changes failed: "
                                + "; ".join(changes.errors))
            if run.ok:
                run.status = ERRORS
        if changes and changes.behind:
            run.notes.append(f"{changes.rate_hz:.0f} changes/s asked, {changes.achieved_hz:.0f}/s sent: each "
                             f"change waits for its answer (p50 {changes.answer_ms.median:.1f} ms)")

    @staticmethod
    def judge_storm(run, updates_wanted):
        """A storm run fails without any update sent, and has errors when an update was
        rejected or never in use."""
        updates = run.updates
        if updates_wanted and run.ok and not (updates and updates.sent):
            run.problems.append("no update was sent (the warm-up never completed?)")
            run.status = FAILED
        if updates and (updates.rejected or updates.not_in_use):
            run.problems.append(f"{updates.sent} updates sent: {updates.rejected} reloads rejected, "
                                f"{updates.not_in_use} updates never in use")
            if run.ok:
                run.status = ERRORS
        if updates and updates.coalesced:
            run.notes.append(f"{updates.coalesced} of {updates.sent} SIGHUPs arrived during a reload and were "
                             f"served by the next one (reload slower than the update period)")
        result = run.result
        if result.tx_pps and run.rate_pps and result.tx_pps < search.SHORTFALL * run.rate_pps:
            run.notes.append(f"the generator sent {fmt_mpps(result.tx_pps)} Mpps of the "
                             f"{fmt_mpps(run.rate_pps)} Mpps asked")

    # ---- run everything

    def run(self):
        steps = {"generator": self.step_generator, "max": self.step_max, "ndr": self.step_ndr,
                 "new": self.step_new_flows, "storm": self.step_storm, "api-storm": self.step_api_storm,
                 "memory": self.step_memory, "soak": self.step_soak}
        for name in STEPS:
            if not self.wanted(name):
                continue
            try:
                steps[name]()
            except Interrupted:
                raise
            except Exception as error:  # a bug or an unexpected condition: record it, go on
                self.failures.append(f"step {name}: unexpected {type(error).__name__}: {error}")
                log(f"step {name} broke:\n{traceback.format_exc()}")

    def preflight(self):
        problems = []
        if os.geteuid() != 0:
            problems.append("needs root (DPDK EAL)")
        for name, path in (("vipgen", self.vipgen), ("vipgate", self.vipgate)):
            if not os.access(path, os.X_OK):
                problems.append(f"{name} not found at {path} (build it: ninja -C {self.build_dir})")
        if not shutil.which(self.testpmd):
            problems.append(f"{self.testpmd} not found (apt install dpdk)")
        if (os.cpu_count() or 0) < 2:
            problems.append("needs two CPUs (generator on CPU 0, device under test on CPU 1)")
        return problems


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_vipgen_output(stdout):
    """vipgen --json's result: the JSON object is the last thing on its stdout. None when there
    is none or it does not parse."""
    start = stdout.find("{")
    if start < 0:
        return None
    try:
        return VipgenResult.from_json(json.loads(stdout[start:]))
    except json.JSONDecodeError:
        return None

