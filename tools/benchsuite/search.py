"""The suite's side of the zero-loss (NDR) and partial-loss (PDR) search.

vipgen bisects the client rate itself (`--search`, pktgen/rate_search.h: the bounds, the stop
condition and a trial that falls short of its rate are there, with their unit tests). The suite
chooses the search's upper bound, keeps the best of its repetitions, converts client packets to
packets the device forwarded, and reads two warnings off the trials: the generator was the limit,
or a sporadic loss pulled the NDR down."""
from .results import FAILED, STATUS_RANK

UPPER_BOUND_FACTOR = 1.05     # the search starts a little above the max-load rate
SHORTFALL = 0.97              # a trial that sent less than 97 % of its rate: the generator's limit
SPORADIC_NDR_SHARE = 0.7      # an NDR below 70 % of the PDR: a sporadic loss, not the device's limit
DEFAULT_PDR_LOSS_PERCENT = 0.5
# Packets the device forwards per client packet when no latency run measured it: vipgate forwards
# the request and the backend's reply, testpmd echoes each packet once.
VIPGATE_PACKETS_PER_CLIENT = 2.0


def upper_bound(max_load_run, factor=UPPER_BOUND_FACTOR):
    """--rate for a search: `factor` x what the generator reached at max offered load; 0 (vipgen
    then starts from its own ceiling) without a max-load result."""
    result = max_load_run.result if max_load_run is not None else None
    return int(result.tx_pps * factor) if result is not None and result.tx_pps else 0


def generator_bound(search):
    """True when a trial within the PDR loss could not even send the rate asked: the generator
    ran out of steam before the DUT lost (more than a trace of) packets."""
    if search is None:
        return False
    limit = (search.pdr_loss_percent or DEFAULT_PDR_LOSS_PERCENT) / 100
    return any((trial.loss_ratio or 0) <= limit and trial.sent_pps and trial.rate_pps
               and trial.sent_pps < SHORTFALL * trial.rate_pps for trial in search.trials)


def sporadic_loss(ndr_pps, pdr_pps):
    """An NDR far below the PDR: a few packets lost once (the CPU taken away for a moment) at a
    rate the device otherwise sustains."""
    return bool(ndr_pps and pdr_pps and ndr_pps < SPORADIC_NDR_SHARE * pdr_pps)


def packets_per_client_packet(latency_run, dut):
    """DUT packets per client packet, measured by the run at 50 % of the NDR (it loses nothing);
    without one, 2 for vipgate and 1 for testpmd."""
    if latency_run is not None and latency_run.ok and latency_run.result.tx_pps:
        return latency_run.result.dut_pps / latency_run.result.tx_pps
    return VIPGATE_PACKETS_PER_CLIENT if dut == "vipgate" else 1.0


def to_dut_pps(client_pps, factor):
    return client_pps * factor if client_pps else None


def worst(repetitions):
    return max(repetitions, key=lambda r: STATUS_RANK[r.status])


def best_ndr(repetitions):
    """Searches: the best of the repetitions (a sporadic loss of a few packets, from another
    process taking the CPU for a moment, pulls a single NDR far down); the worst when none found
    an NDR."""
    rated = sorted((r for r in repetitions if r.result.search and r.result.search.ndr_pps),
                   key=lambda r: r.result.search.ndr_pps)
    return rated[-1] if rated else worst(repetitions)


def median_rate(repetitions):
    """Max-load runs: the repetition with the median DUT rate (the lower of the two middle ones
    for an even count); the worst when none has a rate."""
    rated = sorted((r for r in repetitions if r.result.dut_pps is not None), key=lambda r: r.result.dut_pps)
    return rated[(len(rated) - 1) // 2] if rated else worst(repetitions)


def should_repeat(index, repetition, repeats):
    """A first repetition that did not run at all will not work better the second time."""
    return not (repetition.status == FAILED and index == 0 and repeats > 1)
