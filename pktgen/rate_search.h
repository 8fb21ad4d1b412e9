// NDR/PDR search: the highest rate a device under test forwards with no loss (NDR) and with
// loss at most a small ratio (PDR), found by binary search over trials (RFC 2544 section 26.1;
// the NDR/PDR binary search of FD.io CSIT).
//
// Design note.
// - Why one search for both: a zero-loss trial passes PDR too, and a trial over the PDR loss
//   ratio fails NDR too, so every trial narrows both [lower, upper] intervals where it applies
//   and NDR <= PDR holds by construction. Each step bisects whichever unresolved interval is
//   wider relative to its top (NDR on a tie); on a DUT with a sharp cliff the two coincide and
//   the search costs little more than one.
// - Why credit the rate sent, not the rate asked for: a generator that falls short of the
//   offered rate tested the DUT at the rate it sent. A failure there is an upper bound at that
//   rate. A trial that falls short by more than half the precision also caps every later trial
//   at what was sent, since asking for more cannot produce more; a pass at the cap ends the
//   search there. (A steady shortfall under half the precision is not a cap: the interval
//   still shrinks, towards twice the shortfall, which is below the precision.) The first trial
//   runs at max_rate_pps, so this is how a generator slower than max_rate_pps is found.
// - Bounds. lower is the highest passing rate, upper the lowest failing rate (initially none,
//   and the search top is min(upper, generator cap, max_rate_pps)). Until something passes, the
//   bottom is min_rate_pps, untested; the search tries min_rate_pps itself only when the
//   interval above it is already within the precision, and a failure there means "not found".
//   An interval is resolved when (top - lower) <= precision * top, or when the floor was tried
//   and nothing passed. The search stops when both are resolved or after max_trials trials;
//   the reported rates are then the highest passing rates measured (0 and not found when no
//   trial passed), whether or not the interval closed.
// - A DUT that is not monotonic (a pass above a failure) ends that interval early and reports
//   the highest rate that passed; the trial list shows what happened.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace vipgen {

struct TrialResult {
    double offered_pps;  // the rate the search asked for
    double sent_pps;     // the rate the generator achieved: the rate the search credits
    uint64_t sent;
    uint64_t received;

    // (sent - received) / sent; receiving more than was sent (duplicates) counts as no loss,
    // and a trial that sent nothing has ratio 0.
    double loss_ratio() const;
};

struct SearchOptions {
    double max_rate_pps;            // the first trial; no trial asks for more
    double min_rate_pps = 1000;     // the lowest rate tried; failing here means "not found"
    double precision = 0.01;        // stop when an interval's (upper - lower) / upper <= precision
    double pdr_loss_ratio = 0.005;  // PDR passes with loss_ratio() <= this; NDR needs zero loss
    unsigned max_trials = 30;
};

struct SearchResult {
    double ndr_pps;                   // highest sent_pps of a trial with no loss; 0 when not found
    double pdr_pps;                   // highest sent_pps of a trial within pdr_loss_ratio; 0 when not found
    std::vector<TrialResult> trials;  // in the order they ran
    bool ndr_found;
    bool pdr_found;
};

// Throws std::invalid_argument naming every invalid field: rates not positive and finite,
// min_rate_pps above max_rate_pps, precision outside (0, 1), pdr_loss_ratio outside [0, 1),
// max_trials 0.
void validate(const SearchOptions& options);

// Validates the options (before any trial), then runs trials through run_trial(rate_pps). The
// search goes by the rates it asked for, not by offered_pps. Exceptions from run_trial propagate.
SearchResult search_ndr_pdr(const SearchOptions& options, const std::function<TrialResult(double rate_pps)>& run_trial);

}  // namespace vipgen
