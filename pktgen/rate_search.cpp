#include "pktgen/rate_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace vipgen {

namespace {

constexpr double kNoUpperBound = std::numeric_limits<double>::infinity();

// The state shared by both intervals: the option values and what the generator can reach.
struct SearchRange {
    const SearchOptions& options;
    double generator_cap;  // max_rate_pps, or the lowest rate sent by a trial that fell short
};

// One criterion's interval. Rates are sent_pps of measured trials.
struct Interval {
    double lower = 0;              // highest passing rate; 0 until something passes
    double upper = kNoUpperBound;  // lowest failing rate
    bool floor_tried = false;      // a trial asked for min_rate_pps

    void record(double sent_pps, bool passed, bool at_floor) {
        if (passed) {
            lower = std::max(lower, sent_pps);
        } else {
            upper = std::min(upper, sent_pps);
        }
        floor_tried = floor_tried || at_floor;
    }

    double top(const SearchRange& range) const { return std::min(upper, range.generator_cap); }
    double bottom(const SearchRange& range) const { return lower > 0 ? lower : range.options.min_rate_pps; }
    bool found() const { return lower > 0; }

    bool resolved(const SearchRange& range) const {
        if (!found()) return floor_tried;
        const double top_pps = top(range);
        return top_pps - lower <= range.options.precision * top_pps;
    }

    // Negative when the top is already below the bottom (bottom is always positive).
    double relative_width(const SearchRange& range) const {
        const double top_pps = top(range);
        const double bottom_pps = bottom(range);
        return (top_pps - bottom_pps) / std::max(top_pps, bottom_pps);
    }

    // Bisects [bottom, top], except that with nothing passed yet and the untested floor already
    // within the precision of the top, the floor itself is next.
    double next_rate(const SearchRange& range) const {
        const double top_pps = top(range);
        const double bottom_pps = bottom(range);
        if (!found() && top_pps - bottom_pps <= range.options.precision * top_pps) return bottom_pps;
        return bottom_pps + (top_pps - bottom_pps) / 2;
    }
};

// The unresolved interval to bisect next, or nullptr when both are resolved.
const Interval* choose(const Interval& ndr, const Interval& pdr, const SearchRange& range) {
    const bool ndr_open = !ndr.resolved(range);
    const bool pdr_open = !pdr.resolved(range);
    if (ndr_open && pdr_open) return pdr.relative_width(range) > ndr.relative_width(range) ? &pdr : &ndr;
    if (ndr_open) return &ndr;
    if (pdr_open) return &pdr;
    return nullptr;
}

bool positive_finite(double value) {
    return value > 0 && std::isfinite(value);
}

}  // namespace

double TrialResult::loss_ratio() const {
    if (sent == 0 || received >= sent) return 0.0;
    return static_cast<double>(sent - received) / static_cast<double>(sent);
}

void validate(const SearchOptions& options) {
    std::ostringstream errors;
    const auto fail = [&errors](const char* field, double value, const char* requirement) {
        errors << (errors.tellp() > 0 ? "; " : "invalid rate search options: ") << field << " = " << value << " ("
               << requirement << ")";
    };
    if (!positive_finite(options.max_rate_pps)) fail("max_rate_pps", options.max_rate_pps, "must be positive");
    if (!positive_finite(options.min_rate_pps)) fail("min_rate_pps", options.min_rate_pps, "must be positive");
    if (options.min_rate_pps > options.max_rate_pps) {
        fail("min_rate_pps", options.min_rate_pps, "must not exceed max_rate_pps");
    }
    if (!(options.precision > 0 && options.precision < 1)) fail("precision", options.precision, "must be in (0, 1)");
    if (!(options.pdr_loss_ratio >= 0 && options.pdr_loss_ratio < 1)) {
        fail("pdr_loss_ratio", options.pdr_loss_ratio, "must be in [0, 1)");
    }
    if (options.max_trials == 0) fail("max_trials", options.max_trials, "must be at least 1");
    if (errors.tellp() > 0) throw std::invalid_argument(errors.str());
}

SearchResult search_ndr_pdr(const SearchOptions& options,
                            const std::function<TrialResult(double rate_pps)>& run_trial) {
    validate(options);

    SearchResult result{};
    SearchRange range{options, options.max_rate_pps};
    Interval ndr;
    Interval pdr;
    double rate = options.max_rate_pps;
    while (result.trials.size() < options.max_trials) {
        const TrialResult& trial = result.trials.emplace_back(run_trial(rate));
        const bool at_floor = rate <= options.min_rate_pps;
        ndr.record(trial.sent_pps, trial.received >= trial.sent, at_floor);
        pdr.record(trial.sent_pps, trial.loss_ratio() <= options.pdr_loss_ratio, at_floor);
        if (trial.sent_pps < rate * (1 - options.precision / 2)) {
            range.generator_cap = std::min(range.generator_cap, trial.sent_pps);
        }

        const Interval* next = choose(ndr, pdr, range);
        if (next == nullptr) break;
        rate = next->next_rate(range);
    }

    result.ndr_found = ndr.found();
    result.pdr_found = pdr.found();
    result.ndr_pps = ndr.lower;
    result.pdr_pps = pdr.lower;
    return result;
}

}  // namespace vipgen
