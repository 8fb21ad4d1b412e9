#include "tools/vipctl/top.h"

#include <sstream>

#include "tools/vipctl/json_fields.h"
#include "tools/vipctl/resource_tables.h"
#include "tools/vipctl/response_output.h"

namespace vipgate::vipctl {
namespace {

constexpr const char* kNoRate = "-";
const nlohmann::json kStatsRequest = {{"op", "get"}, {"resource", "stats"}};

bool answered(const nlohmann::json& response) {
    return response.is_object() && response.contains("ok") && response.at("ok") == true;
}

std::string counter_rate(const nlohmann::json& rates, const char* name) {
    const nlohmann::json& counters = field_list(rates, "counters");
    const auto rate = counters.find(name);
    return rate != counters.end() && rate->is_number() ? rate_text(rate->get<double>()) : kNoRate;
}

}  // namespace

std::string top_frame(const nlohmann::json& stats, bool wide) {
    const nlohmann::json& rates = field_list(stats, "rates");
    const auto drops = rates.find("drops");
    std::ostringstream text;
    text << "generation " << field_text(stats, "generation") << "   rx " << counter_rate(rates, "rx_packets")
         << " pkt/s   tx " << counter_rate(rates, "tx_packets") << " pkt/s   new "
         << counter_rate(rates, "new_connections") << " conn/s   active "
         << field_text(field_list(stats, "counters"), "active_connections", "0") << "   drops "
         << (drops != rates.end() && drops->is_number() ? rate_text(drops->get<double>()) : kNoRate) << "/s   (over "
         << rate_text(rates.value("interval_s", 0.0)) << " s)\n\n";
    const size_t services = field_list(stats, "services").size();
    text << service_rates_table(stats, TableOptions{std::nullopt, wide}, kTopRows).render();
    if (!wide && services > kTopRows) {
        text << "(" << services - kTopRows << " quieter service ports not shown; -o wide shows all)\n";
    }
    return text.str();
}

int run_top(const CommandLine& command, const SendRequest& send, const Sleep& sleep, std::ostream& out,
            std::ostream& err, bool clear_screen) {
    nlohmann::json stats = send(kStatsRequest);  // starts the first interval
    for (uint64_t refresh = 0; command.count == 0 || refresh < command.count; ++refresh) {
        if (!answered(stats)) {
            print_refusal(stats, err);
            return kExitRefused;
        }
        sleep(command.interval_s);
        stats = send(kStatsRequest);
        if (!answered(stats)) continue;  // reported at the top of the loop
        if (clear_screen) out << "\033[H\033[2J";
        out << top_frame(stats, command.output == OutputFormat::Wide) << std::flush;
        if (!clear_screen && (command.count == 0 || refresh + 1 < command.count)) out << "\n";
    }
    if (!answered(stats)) {
        print_refusal(stats, err);
        return kExitRefused;
    }
    return kExitDone;
}

}  // namespace vipgate::vipctl
