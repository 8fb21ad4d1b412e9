// SnapshotBuilder, numbering: every service port has an id (its index in the ServicePort table,
// and so its VIP-table value) and every endpoint a slot (its index in the EndpointSlot table and
// in the workers' per-endpoint counters). Both are kept while the port or endpoint lives, so
// connections stay pinned across updates, and reused after; a reuse is told apart by a new
// incarnation (ids) or generation (slots), so a worker holding the old value cannot mistake
// the new owner for the old one.
//
// Entries are staged copy-on-write: an unchanged one is not written, so the next snapshot keeps
// sharing its chunk with the running one.
#include "control/snapshot_builder.h"

#include <cstring>
#include <tuple>

namespace vipgate {
namespace {

bool same_slot(const EndpointSlot& a, const EndpointSlot& b) {
    return std::tie(a.address, a.port, a.ready, a.terminating, a.generation, a.weight, a.service_port, a.ipv6) ==
               std::tie(b.address, b.port, b.ready, b.terminating, b.generation, b.weight, b.service_port, b.ipv6) &&
           std::memcmp(a.address6, b.address6, sizeof(a.address6)) == 0;
}

}  // namespace

// A kept port keeps its id (and so its VIP key); a new one takes a free id with a new
// incarnation, so a worker holding the id's old VIP-table value cannot mistake it for this port.
void SnapshotBuilder::claim_port_id(InstalledPort& out, const InstalledPort* previous) {
    if (previous != nullptr) {
        out.id = previous->id;
        return;
    }
    if (!free_ids_.empty()) {
        out.id = free_ids_.back();
        free_ids_.pop_back();
    } else {
        out.id = static_cast<uint32_t>(id_incarnation_.size());
        id_incarnation_.push_back(0);
    }
    if (++id_incarnation_[out.id] == 0) id_incarnation_[out.id] = 1;
    vip_edits_.sets.emplace_back(out.key, service_port_reference(out.id, id_incarnation_[out.id]));
    if (!out.ipv6) reference_vip_address(out.vip, true);
}

uint32_t SnapshotBuilder::allocate_slot() {
    uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<uint32_t>(slot_generation_.size());
        slot_generation_.push_back(0);
    }
    slot_generation_[slot] = next_endpoint_generation_++;
    if (next_endpoint_generation_ == 0) next_endpoint_generation_ = 1;
    ++statistics_.endpoints_added;
    return slot;
}

void SnapshotBuilder::release_slot(uint32_t slot) {
    endpoints_.mutable_entry(slot) = EndpointSlot{};
    free_slots_.push_back(slot);
    ++statistics_.endpoints_removed;
}

// Stages a slot's entry only when it differs from the published one: unchanged slots stay
// shared with the running snapshot.
void SnapshotBuilder::stage_slot(uint32_t slot, const EndpointSlot& entry) {
    const EndpointSlot current = endpoints_.contains(slot) ? endpoints_[slot] : EndpointSlot{};
    if (!same_slot(current, entry)) endpoints_.mutable_entry(slot) = entry;
}

// Copy-on-write: an unchanged entry is not written, so the snapshot keeps sharing its chunk.
void SnapshotBuilder::stage_service_port(uint32_t id, ServicePort entry) {
    static const ServicePort kEmpty{};
    const ServicePort& current = service_ports_.contains(id) ? service_ports_[id] : kEmpty;
    if (current.incarnation != entry.incarnation || current.maglev != entry.maglev ||
        current.endpoint_slots != entry.endpoint_slots || current.affinity_timeout_ms != entry.affinity_timeout_ms ||
        current.service_name != entry.service_name) {
        service_ports_.mutable_entry(id) = std::move(entry);
    }
}

}  // namespace vipgate
