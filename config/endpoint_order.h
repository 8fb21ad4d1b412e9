// The order and merging of a service's resolved endpoints, one rule for both families
// (ResolvedEndpoint and ResolvedEndpoint6, service_store.h): a port's endpoints sorted by
// (address, port) with duplicates dropped, and a headless service's addresses listed once each.
//
// Design note: the same address can come from a selected pod, the service's own endpoints and
// EndpointSlices at once. A port keeps one entry per (address, port) (which of equal entries
// survives std::sort is unspecified); a headless name answers each address once, with its readiest entry
// (Kubernetes-ready, then serving, then the rest: stable among equals) and the first hostname
// any of its entries gives.
#pragma once

#include <algorithm>
#include <cstddef>
#include <tuple>
#include <utility>
#include <vector>

namespace vipgate::config {

template <class Endpoint>
void sort_unique_by_address_and_port(std::vector<Endpoint>& endpoints) {
    std::sort(endpoints.begin(), endpoints.end(),
              [](const auto& a, const auto& b) { return std::tie(a.address, a.port) < std::tie(b.address, b.port); });
    endpoints.erase(
        std::unique(endpoints.begin(), endpoints.end(),
                    [](const auto& a, const auto& b) { return a.address == b.address && a.port == b.port; }),
        endpoints.end());
}

template <class Endpoint>
void keep_readiest_per_address(std::vector<Endpoint>& addresses) {
    auto rank = [](const Endpoint& endpoint) { return (endpoint.ready ? 0 : 2) + (endpoint.terminating ? 1 : 0); };
    std::stable_sort(addresses.begin(), addresses.end(), [&](const auto& a, const auto& b) {
        return a.address != b.address ? a.address < b.address : rank(a) < rank(b);
    });
    size_t kept = 0;
    for (size_t i = 0; i < addresses.size(); ++i) {
        if (kept > 0 && addresses[kept - 1].address == addresses[i].address) {
            if (addresses[kept - 1].hostname.empty()) addresses[kept - 1].hostname = addresses[i].hostname;
            continue;
        }
        if (kept != i) addresses[kept] = std::move(addresses[i]);
        ++kept;
    }
    addresses.resize(kept);
}

}  // namespace vipgate::config
