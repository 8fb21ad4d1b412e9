#include "pktgen/report.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "config/config.h"

namespace vipgen {
namespace {

constexpr size_t kEndpointsInTable = 16;

const char* mode_name(CheckMode mode) {
    return mode == CheckMode::Gateway ? "vipgate" : "forwarder";
}

const char* pattern_name(Pattern pattern) {
    switch (pattern) {
    case Pattern::Established:
        return "established";
    case Pattern::New:
        return "new";
    case Pattern::Mixed:
        return "mixed";
    case Pattern::Lifecycle:
        return "lifecycle";
    case Pattern::Flood:
        return "flood";
    }
    return "?";
}

const char* family_name(Families families) {
    switch (families) {
    case Families::Ipv4:
        return "ipv4";
    case Families::Ipv6:
        return "ipv6";
    case Families::Dual:
        return "dual";
    }
    return "?";
}

double per_second(uint64_t value, double seconds) {
    return seconds > 0 ? static_cast<double>(value) / seconds : 0.0;
}

// Frame bits on the wire including the FCS the NIC adds.
double bits_per_second(uint64_t bytes, uint64_t packets, double seconds) {
    return per_second((bytes + packets * kFcsBytes) * 8, seconds);
}

double dut_pps(const RunReport& report) {
    const Measurement& m = report.result;
    const uint64_t handled = report.options.mode == CheckMode::Gateway
                                 ? m.counters.forwarded_packets + m.counters.returned_packets
                                 : m.counters.returned_packets;
    return per_second(handled, m.duration_s);
}

// Flood pattern: the share of legitimate connections that carried data end to end.
double legit_success(const LcoreCounters& c) {
    return c.legit_sent == 0 ? 0.0 : static_cast<double>(c.legit_completed) / static_cast<double>(c.legit_sent);
}

std::string format(const char* pattern, double value) {
    char text[64];
    std::snprintf(text, sizeof(text), pattern, value);
    return text;
}

}  // namespace

void print_table(std::ostream& out, const RunReport& report) {
    const Options& o = report.options;
    const Measurement& m = report.result;
    const LcoreCounters& c = m.counters;
    out << "vipgen: " << mode_name(o.mode) << " mode, pattern " << pattern_name(o.pattern.pattern) << ", "
        << o.pattern.flows << " flows over " << report.targets.targets.size() << " VIP ports ("
        << family_name(o.families) << "), " << o.lcores << " lcore(s), frames " << o.size_text << ", "
        << format("%.1f s", m.duration_s)
        << (m.rate_target_pps > 0 ? format(" at %.3f Mpps offered", m.rate_target_pps / 1e6) : " unlimited") << "\n";
    if (report.flows_opened > 0) out << "  flows opened      " << report.flows_opened << "\n";
    out << "  client tx         " << c.tx_packets << " packets  "
        << format("%.3f Mpps  ", per_second(c.tx_packets, m.duration_s) / 1e6)
        << format("%.3f Gbit/s", bits_per_second(c.tx_bytes, c.tx_packets, m.duration_s) / 1e9) << "\n";
    out << "  client rx (ok)    " << c.returned_packets << " packets  "
        << format("%.3f Mpps  ", per_second(c.returned_packets, m.duration_s) / 1e6)
        << format("%.3f Gbit/s", bits_per_second(c.returned_bytes, c.returned_packets, m.duration_s) / 1e9) << "\n";
    out << "  device forwarded  " << format("%.3f Mpps", dut_pps(report) / 1e6)
        << (o.mode == CheckMode::Gateway ? " (client->endpoint plus endpoint->client)" : "") << "\n";
    if (m.flood) {
        out << "  established       " << c.established_sent << " sent, " << c.established_returned << " answered\n";
        out << "  spoofed SYNs      " << c.spoofed_sent << " sent, " << c.spoofed_answered << " SYN-ACKs back\n";
        out << "  legitimate        " << c.legit_sent << " SYNs, " << c.legit_answered << " SYN-ACKs, "
            << c.legit_completed << " completed" << format(" (%.2f %%)", 100 * legit_success(c)) << "\n";
    }
    out << "  lost              " << m.lost() << format(" (%.4f %%)", m.loss_ratio() * 100);
    if (c.replies_dropped != 0) out << ", of which the generator's backends could not answer " << c.replies_dropped;
    out << "\n";
    if (report.dns != nullptr) {
        out << "  dns               " << report.dns->names().size() << " names asked of "
            << vipgate::config::format_ipv4(report.dns->server()) << ":53, "
            << format("%.3f M answers/s checked ok, ", per_second(c.returned_packets, m.duration_s) / 1e6)
            << m.check_failures() << " wrong\n";
    }
    out << "  check failures   ";
    for (size_t i = 1; i < kVerdictCount; ++i) {
        out << " " << verdict_name(static_cast<Verdict>(i)) << " "
            << c.verdicts[i] + report.warmup.counters.verdicts[i];
    }
    out << "\n  latency (ns)      samples " << m.latency.count() << "  min " << m.latency.min() << "  p50 "
        << m.latency.percentile(0.5) << "  p99 " << m.latency.percentile(0.99) << "  p99.9 "
        << m.latency.percentile(0.999) << "  max " << m.latency.max() << "\n";
    if (o.mode == CheckMode::Gateway) {
        const uint64_t total = std::max<uint64_t>(1, c.forwarded_packets);
        out << "  endpoints         " << report.targets.endpoints.size() << " ("
            << std::count_if(m.endpoint_packets.begin(), m.endpoint_packets.end(), [](uint64_t p) { return p > 0; })
            << " received traffic)\n";
        for (size_t i = 0; i < std::min(kEndpointsInTable, report.targets.endpoints.size()); ++i) {
            const EndpointAddress& e = report.targets.endpoints[i];
            const bool ipv6 = !vipgate::config::is_zero(e.address6);
            out << "    " << (ipv6 ? "[" : "") << format_address(e) << (ipv6 ? "]" : "") << ":" << e.port << "  "
                << m.endpoint_packets[i]
                << format("  %.2f %%", 100.0 * static_cast<double>(m.endpoint_packets[i]) / static_cast<double>(total))
                << "\n";
        }
    }
    if (report.search) {
        const SearchResult& s = *report.search;
        out << "  search            NDR " << (s.ndr_found ? format("%.3f Mpps", s.ndr_pps / 1e6) : "not found")
            << ", PDR (" << o.pdr_loss_percent << " % loss) "
            << (s.pdr_found ? format("%.3f Mpps", s.pdr_pps / 1e6) : "not found") << ", " << s.trials.size()
            << " trials\n";
        for (const TrialResult& t : s.trials) {
            out << "    offered " << format("%9.3f Mpps", t.offered_pps / 1e6) << "  sent "
                << format("%9.3f Mpps", t.sent_pps / 1e6) << "  loss " << format("%.4f %%", t.loss_ratio() * 100)
                << "\n";
        }
    }
}

void print_json(std::ostream& out, const RunReport& report) {
    const Options& o = report.options;
    const Measurement& m = report.result;
    const LcoreCounters& c = m.counters;
    auto number = [](double v) { return format("%.6g", v); };
    out << "{\"mode\":\"" << mode_name(o.mode) << "\",\"family\":\"" << family_name(o.families) << "\",\"pattern\":\""
        << pattern_name(o.pattern.pattern) << "\",\"lcores\":" << o.lcores << ",\"flows\":" << o.pattern.flows
        << ",\"size\":\"" << o.size_text << "\",\"duration_s\":" << number(m.duration_s)
        << ",\"rate_target_pps\":" << number(m.rate_target_pps) << ",\"tx_packets\":" << c.tx_packets
        << ",\"tx_pps\":" << number(per_second(c.tx_packets, m.duration_s))
        << ",\"tx_bps\":" << number(bits_per_second(c.tx_bytes, c.tx_packets, m.duration_s))
        << ",\"rx_packets\":" << c.returned_packets
        << ",\"rx_pps\":" << number(per_second(c.returned_packets, m.duration_s))
        << ",\"rx_bps\":" << number(bits_per_second(c.returned_bytes, c.returned_packets, m.duration_s))
        << ",\"backend_rx_packets\":" << c.forwarded_packets << ",\"backend_tx_packets\":" << c.replies_sent
        << ",\"backend_replies_dropped\":" << c.replies_dropped << ",\"dut_pps\":" << number(dut_pps(report))
        << ",\"lost\":" << m.lost() << ",\"loss_ratio\":" << number(m.loss_ratio())
        << ",\"alloc_failures\":" << c.alloc_failures;
    for (size_t i = 1; i < kVerdictCount; ++i) {
        out << ",\"" << verdict_name(static_cast<Verdict>(i)) << "\":" << c.verdicts[i];
    }
    out << ",\"warmup_check_failures\":{";
    for (size_t i = 1; i < kVerdictCount; ++i) {
        out << (i > 1 ? "," : "") << "\"" << verdict_name(static_cast<Verdict>(i))
            << "\":" << report.warmup.counters.verdicts[i];
    }
    const LcoreCounters& w = report.warmup.counters;
    out << "},\"flows_opened\":" << report.flows_opened << ",\"warmup\":{\"tx_packets\":" << w.tx_packets
        << ",\"rx_packets\":" << w.returned_packets << ",\"backend_rx_packets\":" << w.forwarded_packets
        << ",\"backend_tx_packets\":" << w.replies_sent << "}";
    out << ",\"latency_ns\":{\"samples\":" << m.latency.count() << ",\"min\":" << m.latency.min()
        << ",\"mean\":" << number(m.latency.mean()) << ",\"p50\":" << m.latency.percentile(0.5)
        << ",\"p99\":" << m.latency.percentile(0.99) << ",\"p999\":" << m.latency.percentile(0.999)
        << ",\"max\":" << m.latency.max() << "}";
    out << ",\"endpoints\":[";
    const double total = static_cast<double>(std::max<uint64_t>(1, c.forwarded_packets));
    for (size_t i = 0; i < report.targets.endpoints.size(); ++i) {
        const EndpointAddress& e = report.targets.endpoints[i];
        out << (i ? "," : "") << "{\"address\":\"" << format_address(e) << "\",\"port\":" << e.port
            << ",\"packets\":" << m.endpoint_packets[i]
            << ",\"share\":" << number(static_cast<double>(m.endpoint_packets[i]) / total) << "}";
    }
    out << "]";
    if (report.dns != nullptr) {
        out << ",\"dns\":{\"server\":\"" << vipgate::config::format_ipv4(report.dns->server())
            << "\",\"names\":" << report.dns->names().size() << ",\"queries\":" << c.tx_packets
            << ",\"answers\":" << c.returned_packets
            << ",\"answers_pps\":" << number(per_second(c.returned_packets, m.duration_s))
            << ",\"wrong_answers\":" << m.check_failures() << ",\"lost\":" << m.lost() << "}";
    }
    if (m.flood) {
        out << ",\"flood\":{\"established_sent\":" << c.established_sent
            << ",\"established_returned\":" << c.established_returned << ",\"established_lost\":" << m.lost()
            << ",\"spoofed_sent\":" << c.spoofed_sent << ",\"spoofed_answered\":" << c.spoofed_answered
            << ",\"legit_sent\":" << c.legit_sent << ",\"legit_answered\":" << c.legit_answered
            << ",\"legit_completed\":" << c.legit_completed << ",\"legit_success\":" << number(legit_success(c))
            << ",\"legit_completed_per_s\":" << number(per_second(c.legit_completed, m.duration_s))
            << ",\"spoofed_pps\":" << number(per_second(c.spoofed_sent, m.duration_s)) << "}";
    }
    if (report.search) {
        const SearchResult& s = *report.search;
        out << ",\"search\":{\"ndr_pps\":" << number(s.ndr_pps) << ",\"pdr_pps\":" << number(s.pdr_pps)
            << ",\"ndr_found\":" << (s.ndr_found ? "true" : "false")
            << ",\"pdr_found\":" << (s.pdr_found ? "true" : "false")
            << ",\"pdr_loss_percent\":" << number(o.pdr_loss_percent) << ",\"trials\":[";
        for (size_t i = 0; i < s.trials.size(); ++i) {
            const TrialResult& t = s.trials[i];
            out << (i ? "," : "") << "{\"rate_pps\":" << number(t.offered_pps) << ",\"sent_pps\":" << number(t.sent_pps)
                << ",\"loss_ratio\":" << number(t.loss_ratio()) << "}";
        }
        out << "]}";
    }
    out << "}\n";
}

}  // namespace vipgen
