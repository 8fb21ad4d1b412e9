// NDR/PDR search against simulated devices and generators: the rates found lie within the
// precision below the true thresholds, every trial narrows both intervals, generator shortfalls
// cap the search, a device that fails everything yields "not found", and bad options are refused
// before any trial runs.
#include "pktgen/rate_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace vipgen {
namespace {

constexpr double kMaxRate = 10e6;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

using LossModel = std::function<double(double sent_pps)>;

// One simulated one-second trial: the generator sends min(rate * efficiency, limit) and the
// device loses loss_at(sent rate) of it, at least one packet whenever that ratio is positive.
struct SimulatedSetup {
    LossModel loss_at;
    double generator_limit_pps = kInfinity;
    double generator_efficiency = 1.0;

    TrialResult operator()(double rate_pps) const {
        const double sent_pps = std::min(rate_pps * generator_efficiency, generator_limit_pps);
        const auto sent = static_cast<uint64_t>(std::llround(sent_pps));
        const auto lost = static_cast<uint64_t>(std::ceil(static_cast<double>(sent) * loss_at(sent_pps)));
        return TrialResult{rate_pps, sent_pps, sent, sent - std::min(lost, sent)};
    }
};

// Forwards at most capacity_pps and drops the excess.
LossModel capacity(double capacity_pps) {
    return [capacity_pps](double rate) { return rate > capacity_pps ? (rate - capacity_pps) / rate : 0.0; };
}

// No loss up to no_loss_pps, 0.2 % up to small_loss_pps, 30 % above.
LossModel lossy_band(double no_loss_pps, double small_loss_pps) {
    return [=](double rate) { return rate <= no_loss_pps ? 0.0 : rate <= small_loss_pps ? 0.002 : 0.3; };
}

LossModel constant_loss(double ratio) {
    return [ratio](double) { return ratio; };
}

SearchResult search(const SearchOptions& options, const SimulatedSetup& setup) {
    return search_ndr_pdr(options, [&setup](double rate) { return setup(rate); });
}

// Properties every search result has, whatever the device: trials within [min, max] starting at
// max, the reported rates the best sent rates of passing trials, NDR <= PDR.
void expect_consistent(const SearchResult& result, const SearchOptions& options) {
    ASSERT_FALSE(result.trials.empty());
    EXPECT_LE(result.trials.size(), options.max_trials);
    EXPECT_EQ(result.trials.front().offered_pps, options.max_rate_pps);
    double best_ndr = 0;
    double best_pdr = 0;
    for (const TrialResult& trial : result.trials) {
        EXPECT_GE(trial.offered_pps, options.min_rate_pps);
        EXPECT_LE(trial.offered_pps, options.max_rate_pps);
        if (trial.received >= trial.sent) best_ndr = std::max(best_ndr, trial.sent_pps);
        if (trial.loss_ratio() <= options.pdr_loss_ratio) best_pdr = std::max(best_pdr, trial.sent_pps);
    }
    EXPECT_EQ(result.ndr_pps, best_ndr);
    EXPECT_EQ(result.pdr_pps, best_pdr);
    EXPECT_EQ(result.ndr_found, best_ndr > 0);
    EXPECT_EQ(result.pdr_found, best_pdr > 0);
    EXPECT_LE(result.ndr_pps, result.pdr_pps);
}

// Found within the search precision below the true threshold, never above it.
void expect_within_precision(double found, double truth, double precision, const char* what) {
    EXPECT_LE(found, truth) << what;
    EXPECT_GE(found, truth * (1 - precision)) << what;
}

TEST(TrialResultTest, LossRatio) {
    EXPECT_DOUBLE_EQ((TrialResult{1e6, 1e6, 1000, 990}).loss_ratio(), 0.01);
    EXPECT_EQ((TrialResult{1e6, 1e6, 1000, 1000}).loss_ratio(), 0.0);
    EXPECT_EQ((TrialResult{1e6, 1e6, 1000, 1005}).loss_ratio(), 0.0);  // duplicates are not negative loss
    EXPECT_EQ((TrialResult{1e6, 0, 0, 0}).loss_ratio(), 0.0);
    EXPECT_EQ((TrialResult{1e6, 1e6, 1000, 0}).loss_ratio(), 1.0);
}

TEST(RateSearchTest, DeviceWithCapacityFindsNdrAndPdrWithinPrecision) {
    constexpr double kCapacity = 3.3e6;
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{capacity(kCapacity)});

    expect_consistent(result, options);
    EXPECT_TRUE(result.ndr_found);
    EXPECT_TRUE(result.pdr_found);
    expect_within_precision(result.ndr_pps, kCapacity, options.precision, "NDR");
    // Dropping the excess above the capacity stays within the PDR ratio up to capacity / (1 - ratio).
    expect_within_precision(result.pdr_pps, kCapacity / (1 - options.pdr_loss_ratio), options.precision, "PDR");
    EXPECT_LT(result.trials.size(), options.max_trials) << "did not converge";
}

// On a sharp cliff NDR and PDR coincide, so one bisection's worth of trials resolves both; a
// search that narrowed only the interval it was bisecting would need about twice as many.
TEST(RateSearchTest, EveryTrialNarrowsBothIntervals) {
    constexpr double kCliff = 3.3e6;
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{[](double rate) { return rate <= kCliff ? 0.0 : 0.5; }});

    expect_consistent(result, options);
    expect_within_precision(result.ndr_pps, kCliff, options.precision, "NDR");
    EXPECT_EQ(result.pdr_pps, result.ndr_pps);
    const double bisections =
        std::ceil(std::log2((options.max_rate_pps - options.min_rate_pps) / (options.precision * kCliff)));
    EXPECT_LE(static_cast<double>(result.trials.size()), 1 + bisections);
}

TEST(RateSearchTest, LossyBandPutsNdrAtItsStartAndPdrAtItsEnd) {
    constexpr double kNoLossUpTo = 4e6;
    constexpr double kSmallLossUpTo = 6e6;
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{lossy_band(kNoLossUpTo, kSmallLossUpTo)});

    expect_consistent(result, options);
    expect_within_precision(result.ndr_pps, kNoLossUpTo, options.precision, "NDR");
    expect_within_precision(result.pdr_pps, kSmallLossUpTo, options.precision, "PDR");
    EXPECT_LT(result.trials.size(), options.max_trials) << "did not converge";
}

TEST(RateSearchTest, ConstantSmallLossHasPdrAtMaxRateAndNoNdr) {
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{constant_loss(0.002)});

    expect_consistent(result, options);
    EXPECT_TRUE(result.pdr_found);
    EXPECT_EQ(result.pdr_pps, kMaxRate);
    EXPECT_FALSE(result.ndr_found);
    EXPECT_EQ(result.ndr_pps, 0.0);
    EXPECT_EQ(result.trials.back().offered_pps, options.min_rate_pps);
    EXPECT_LT(result.trials.size(), options.max_trials) << "the failure at min_rate_pps should end the search";
}

TEST(RateSearchTest, DeviceFailingEverythingFindsNothing) {
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{constant_loss(1.0)});

    expect_consistent(result, options);
    EXPECT_FALSE(result.ndr_found);
    EXPECT_FALSE(result.pdr_found);
    EXPECT_EQ(result.ndr_pps, 0.0);
    EXPECT_EQ(result.pdr_pps, 0.0);
    EXPECT_EQ(result.trials.back().offered_pps, options.min_rate_pps);
    EXPECT_LT(result.trials.size(), options.max_trials) << "the failure at min_rate_pps should end the search";
}

// The device could take more than the generator can send: the first trial passes at the rate
// actually sent, and nothing faster can be asked for.
TEST(RateSearchTest, GeneratorSlowerThanDeviceEndsAtTheRateSent) {
    constexpr double kGeneratorLimit = 6e6;
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{capacity(8e6), kGeneratorLimit});

    expect_consistent(result, options);
    ASSERT_EQ(result.trials.size(), 1u);
    EXPECT_EQ(result.ndr_pps, kGeneratorLimit);
    EXPECT_EQ(result.pdr_pps, kGeneratorLimit);
}

TEST(RateSearchTest, NoTrialAsksForMoreThanTheGeneratorSent) {
    constexpr double kGeneratorLimit = 6e6;
    constexpr double kCapacity = 5.5e6;
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result = search(options, SimulatedSetup{capacity(kCapacity), kGeneratorLimit});

    expect_consistent(result, options);
    for (size_t i = 1; i < result.trials.size(); ++i) {
        EXPECT_LE(result.trials[i].offered_pps, kGeneratorLimit) << "trial " << i;
    }
    expect_within_precision(result.ndr_pps, kCapacity, options.precision, "NDR");
}

// A generator that always sends 0.3 % below the offered rate (under half the precision) is not
// treated as capped, and the search still closes within the precision.
TEST(RateSearchTest, SmallGeneratorShortfallStillConverges) {
    constexpr double kCapacity = 4e6;
    const SearchOptions options{.max_rate_pps = kMaxRate};
    const SearchResult result =
        search(options, SimulatedSetup{capacity(kCapacity), kInfinity, /*generator_efficiency=*/0.997});

    expect_consistent(result, options);
    expect_within_precision(result.ndr_pps, kCapacity, options.precision, "NDR");
    EXPECT_LT(result.trials.size(), options.max_trials) << "did not converge";
}

TEST(RateSearchTest, StopsAfterMaxTrialsWithTheBestRateSoFar) {
    const SearchOptions options{.max_rate_pps = kMaxRate, .max_trials = 4};
    const SearchResult result = search(options, SimulatedSetup{capacity(3.3e6)});

    expect_consistent(result, options);
    ASSERT_EQ(result.trials.size(), 4u);
    EXPECT_TRUE(result.ndr_found);
    EXPECT_GT(result.ndr_pps, 0.0);
}

TEST(RateSearchTest, MinEqualToMaxRunsOneTrial) {
    const SearchOptions options{.max_rate_pps = 1e6, .min_rate_pps = 1e6};

    const SearchResult passing = search(options, SimulatedSetup{capacity(2e6)});
    expect_consistent(passing, options);
    EXPECT_EQ(passing.trials.size(), 1u);
    EXPECT_EQ(passing.ndr_pps, 1e6);

    const SearchResult failing = search(options, SimulatedSetup{capacity(0.5e6)});
    expect_consistent(failing, options);
    EXPECT_EQ(failing.trials.size(), 1u);
    EXPECT_FALSE(failing.ndr_found);
    EXPECT_FALSE(failing.pdr_found);
}

TEST(RateSearchTest, ZeroPdrLossRatioMakesPdrTheNdr) {
    const SearchOptions options{.max_rate_pps = kMaxRate, .pdr_loss_ratio = 0.0};
    const SearchResult result = search(options, SimulatedSetup{capacity(3.3e6)});

    expect_consistent(result, options);
    EXPECT_EQ(result.pdr_pps, result.ndr_pps);
}

struct InvalidOptionsCase {
    SearchOptions options;
    std::vector<std::string> named;  // what the message must mention
};

TEST(RateSearchTest, RejectsInvalidOptionsBeforeAnyTrial) {
    const double nan = std::nan("");
    const std::vector<InvalidOptionsCase> cases = {
        {{.max_rate_pps = 0}, {"max_rate_pps"}},
        {{.max_rate_pps = -1e6}, {"max_rate_pps"}},
        {{.max_rate_pps = nan}, {"max_rate_pps"}},
        {{.max_rate_pps = kInfinity}, {"max_rate_pps"}},
        {{.max_rate_pps = 1e6, .min_rate_pps = 0}, {"min_rate_pps"}},
        {{.max_rate_pps = 1e6, .min_rate_pps = 2e6}, {"min_rate_pps", "must not exceed max_rate_pps"}},
        {{.max_rate_pps = 1e6, .precision = 0}, {"precision"}},
        {{.max_rate_pps = 1e6, .precision = 1}, {"precision"}},
        {{.max_rate_pps = 1e6, .precision = nan}, {"precision"}},
        {{.max_rate_pps = 1e6, .pdr_loss_ratio = -0.1}, {"pdr_loss_ratio"}},
        {{.max_rate_pps = 1e6, .pdr_loss_ratio = 1}, {"pdr_loss_ratio"}},
        {{.max_rate_pps = 1e6, .max_trials = 0}, {"max_trials"}},
        {{.max_rate_pps = 0, .precision = 0, .max_trials = 0}, {"max_rate_pps", "precision", "max_trials"}},
    };
    const auto never_called = [](double rate) -> TrialResult {
        ADD_FAILURE() << "trial run at " << rate << " pps despite invalid options";
        return {};
    };
    for (size_t i = 0; i < cases.size(); ++i) {
        try {
            search_ndr_pdr(cases[i].options, never_called);
            ADD_FAILURE() << "case " << i << " was accepted";
        } catch (const std::invalid_argument& error) {
            for (const std::string& name : cases[i].named) {
                EXPECT_NE(std::string(error.what()).find(name), std::string::npos)
                    << "case " << i << ": '" << error.what() << "' does not mention " << name;
            }
        }
    }
}

}  // namespace
}  // namespace vipgen
