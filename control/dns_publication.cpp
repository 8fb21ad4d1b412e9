#include "control/dns_publication.h"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <exception>
#include <string_view>

#include "control/dns_records.h"

namespace vipgate {
namespace {

// Writes every record as one line: equal text, equal records.
class FingerprintSink final : public DnsRecordSink {
public:
    void add_name(std::string_view name) override { line("N", name, {}); }
    void add_a(std::string_view name, uint32_t address) override { line("A", name, std::to_string(address)); }
    void add_aaaa(std::string_view name, const std::array<uint8_t, 16>& address) override {
        line("AAAA", name, config::format_ipv6(address));
    }
    void add_srv(std::string_view name, uint16_t priority, uint16_t weight, uint16_t port,
                 std::string_view target) override {
        std::string data = std::to_string(priority) + " " + std::to_string(weight) + " " + std::to_string(port) + " ";
        data += target;
        line("S", name, data);
    }
    void add_ptr(std::string_view name, std::string_view target) override { line("P", name, target); }
    void add_txt(std::string_view name, std::string_view text) override { line("T", name, text); }
    void add_cname(std::string_view name, std::string_view target) override { line("C", name, target); }

    std::string take() { return std::move(text_); }

private:
    void line(std::string_view type, std::string_view name, std::string_view data) {
        text_.append(type).append(" ").append(name).append(" ").append(data).append("\n");
    }

    std::string text_;
};

std::string fingerprint(const std::string& zone, const config::ResolvedService& service) {
    FingerprintSink sink;
    emit_service_records(zone, service, sink);
    return sink.take();
}

}  // namespace

std::shared_ptr<const DnsZone> DnsPublication::update(const config::DnsConfig& dns,
                                                      const std::map<std::string, config::ResolvedService>& services,
                                                      const std::vector<std::string>& changed) {
    if (dns.addresses.empty() || !factory_) {
        dns_.reset();
        fingerprints_.clear();
        zone_.reset();
        return zone_;
    }
    if (!dns_ || !(*dns_ == dns)) {
        fingerprints_.clear();
        for (const auto& [key, service] : services) fingerprints_.emplace(key, fingerprint(dns.zone, service));
        rebuild(dns, services);
    } else if (fingerprints_changed(dns, services, changed)) {
        rebuild(dns, services);
    }
    return zone_;
}

bool DnsPublication::fingerprints_changed(const config::DnsConfig& dns,
                                          const std::map<std::string, config::ResolvedService>& services,
                                          const std::vector<std::string>& changed) {
    bool different = false;
    for (const std::string& key : changed) {
        auto service = services.find(key);
        auto known = fingerprints_.find(key);
        if (service == services.end()) {
            if (known != fingerprints_.end()) {
                fingerprints_.erase(known);
                different = true;
            }
            continue;
        }
        std::string next = fingerprint(dns.zone, service->second);
        if (known != fingerprints_.end() && known->second == next) continue;
        fingerprints_[key] = std::move(next);
        different = true;
    }
    return different;
}

void DnsPublication::rebuild(const config::DnsConfig& dns,
                             const std::map<std::string, config::ResolvedService>& services) {
    const auto started = std::chrono::steady_clock::now();
    try {
        zone_ = factory_(dns, services);
        dns_ = dns;
    } catch (const std::exception& error) {
        // Names are checked before they reach the builder, so this is a bug, not bad input: the
        // workers keep answering from the previous zone, and the next change tries again.
        spdlog::error("DNS zone not rebuilt, the previous one stays: {}", error.what());
        dns_.reset();
        return;
    }
    ++statistics_.builds;
    statistics_.last_build_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace vipgate
