// SnapshotBuilder, the shared lookup hashes (VIP, endpoint, address): every snapshot reads the
// same rte_hash tables, so an update edits them in place around the publication (snapshot.h):
// removals before it, additions after, recycled positions once every worker has moved on.
//
// Design note: a key can have several users (an endpoint address and port in two services, a
// VIP address with several ports, a DNS address that is also the VIP of the DNS upstream port),
// and its value depends on all of them. So the builder counts the users of each key as ports come
// and go, notes each touched key's value before the update, and at the end of prepare() turns the
// keys whose value changed into edits: one edit per key, whatever order the ports came in.
#include "control/snapshot_builder.h"

#include <algorithm>
#include <stdexcept>

#include <rte_byteorder.h>
#include <rte_hash.h>

#include "control/dpdk_tables.h"

namespace vipgate {
namespace {

uint64_t pack(const EndpointKey& key) {
    return (uint64_t(key.address) << 32) | (uint64_t(key.port) << 16) | key.protocol;
}

EndpointKey unpack(uint64_t packed) {
    return EndpointKey{static_cast<uint32_t>(packed >> 32), static_cast<uint16_t>(packed >> 16),
                       static_cast<uint8_t>(packed), 0};
}

// Keeps the first entry of each key of (key, value before the update) pairs recorded in touch order.
template <typename Key, typename Value>
void first_touches(std::vector<std::pair<Key, Value>>& touches) {
    std::stable_sort(touches.begin(), touches.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    touches.erase(
        std::unique(touches.begin(), touches.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
        touches.end());
}

}  // namespace

void SnapshotBuilder::ensure_lookup_tables() {
    if (lookup_) return;
    auto lookup = std::make_shared<LookupTables>();
    lookup->vip_table = create_shared_hash("vip_", max_service_ports_ * 2, sizeof(VipKey), readers_);
    lookup->endpoint_table = create_shared_hash("endpoints_", max_endpoint_slots_ * 2, sizeof(EndpointKey), readers_);
    lookup->address_table = create_shared_hash("addr_", max_service_ports_ + 1024, sizeof(uint32_t), readers_);
    lookup_ = std::move(lookup);
}

// What the endpoint hash holds for a key: its one service port, or ambiguous when several share it.
void* SnapshotBuilder::endpoint_value(uint64_t packed) const {
    auto users = endpoint_users_.find(packed);
    if (users == endpoint_users_.end()) return nullptr;
    return users->second.size() == 1 ? users->second.front().second : kAmbiguousServicePort;
}

void SnapshotBuilder::reference_endpoint(const EndpointKey& key, uint32_t id, bool add) {
    const uint64_t packed = pack(key);
    auto [entry, fresh] = endpoint_users_.try_emplace(packed);
    auto& users = entry->second;
    endpoint_before_.emplace_back(packed, fresh               ? nullptr
                                          : users.size() == 1 ? users.front().second
                                                              : kAmbiguousServicePort);
    auto user = std::find_if(users.begin(), users.end(), [id](const auto& entry) { return entry.first == id; });
    if (add) {
        void* reference = service_port_reference(id, id_incarnation_[id]);
        if (user != users.end()) {
            user->second = reference;
        } else {
            users.emplace_back(id, reference);
        }
        return;
    }
    if (user != users.end()) users.erase(user);
    if (users.empty()) endpoint_users_.erase(entry);
}

void SnapshotBuilder::reference_vip_address(uint32_t address, bool add) {
    auto users = vip_address_users_.find(address);
    vip_address_before_.emplace_back(address, users != vip_address_users_.end());
    if (add) {
        ++vip_address_users_[address];
    } else if (users != vip_address_users_.end() && --users->second == 0) {
        vip_address_users_.erase(users);
    }
}

void SnapshotBuilder::stage_global_addresses(const config::Config& settings) {
    std::map<uint32_t, AddressKind> wanted;
    for (const auto& port : settings.ports) {
        for (const auto& prefix : port.addresses) wanted[rte_cpu_to_be_32(prefix.address)] = AddressKind::Local;
    }
    for (uint32_t address : settings.snat.addresses) wanted[rte_cpu_to_be_32(address)] = AddressKind::Snat;
    for (uint32_t address : settings.dns.addresses) wanted[rte_cpu_to_be_32(address)] = AddressKind::Dns;
    for (const auto& [address, kind] : global_addresses_) {
        if (!wanted.count(address) && !vip_address_users_.count(address)) address_edits_.deletes.push_back(address);
    }
    for (const auto& [address, kind] : wanted) {
        auto old = global_addresses_.find(address);
        if (old == global_addresses_.end() || old->second != kind) {
            address_edits_.sets.emplace_back(address, reinterpret_cast<void*>(uintptr_t(kind)));
        }
    }
    global_addresses_ = std::move(wanted);
}

// The edits of the endpoint and address hashes for the keys this update touched: after
// stage_global_addresses(), since a VIP address that is also a gateway address keeps that kind.
void SnapshotBuilder::stage_reference_edits() {
    first_touches(endpoint_before_);
    for (const auto& [packed, before] : endpoint_before_) {
        void* const after = endpoint_value(packed);
        if (after == before) continue;
        if (after == nullptr) {
            endpoint_edits_.deletes.push_back(unpack(packed));
        } else {
            endpoint_edits_.sets.emplace_back(unpack(packed), after);
        }
    }
    endpoint_before_.clear();
    first_touches(vip_address_before_);
    for (const auto& [address, before] : vip_address_before_) {
        const bool after = vip_address_users_.count(address) > 0;
        if (after == before || global_addresses_.count(address)) continue;
        if (after) {
            address_edits_.sets.emplace_back(address, reinterpret_cast<void*>(uintptr_t(AddressKind::Vip)));
        } else {
            address_edits_.deletes.push_back(address);
        }
    }
    vip_address_before_.clear();
}

void SnapshotBuilder::before_publish() {
    auto remove = [this](rte_hash* hash, const void* key) {
        const int32_t position = rte_hash_del_key(hash, key);
        if (position >= 0 && readers_ == nullptr) rte_hash_free_key_with_position(hash, position);
    };
    for (const VipKey& key : vip_edits_.deletes) remove(lookup_->vip_table, &key);
    for (const EndpointKey& key : endpoint_edits_.deletes) remove(lookup_->endpoint_table, &key);
    for (const uint32_t& key : address_edits_.deletes) remove(lookup_->address_table, &key);
    vip_edits_.deletes.clear();
    endpoint_edits_.deletes.clear();
    address_edits_.deletes.clear();
}

void SnapshotBuilder::after_publish() {
    // Capacity was checked in prepare() and the tables have extendable buckets: an add can only
    // fail for lack of EAL memory, or when removed keys' positions are still held by a worker
    // that has not been quiescent since (a stuck worker); either leaves that one key unreachable,
    // so say so loudly.
    auto add = [](rte_hash* hash, const void* key, void* value, const char* table) {
        if (rte_hash_add_key_data(hash, key, value) != 0) {
            throw std::runtime_error(std::string("cannot add a key to the ") + table +
                                     " table (out of EAL memory, or a stuck worker still holds removed keys' "
                                     "positions?); the entry stays unreachable");
        }
    };
    std::string failure;
    auto guarded = [&](auto&& operation) {
        try {
            operation();
        } catch (const std::exception& error) {
            failure = error.what();
        }
    };
    // Pairs, not structured bindings: clang 14 (the fuzz build) cannot capture those in a lambda.
    for (const auto& edit : vip_edits_.sets) guarded([&] { add(lookup_->vip_table, &edit.first, edit.second, "VIP"); });
    for (const auto& edit : endpoint_edits_.sets) {
        guarded([&] { add(lookup_->endpoint_table, &edit.first, edit.second, "endpoint"); });
    }
    for (const auto& edit : address_edits_.sets) {
        guarded([&] { add(lookup_->address_table, &edit.first, edit.second, "address"); });
    }
    vip_edits_.sets.clear();
    endpoint_edits_.sets.clear();
    address_edits_.sets.clear();
    if (!failure.empty()) throw std::runtime_error(failure);
}

}  // namespace vipgate
