// DNS mode's clients and their outstanding queries.
//
// Design note: an answer carries nothing vipgen can sign but the 16-bit ID and the client's own
// address and port, so those must identify the query. A DNS flow is a client (address, port) of
// --clients; flow id -> client is a plain mixed-radix split (address fastest, so consecutive
// flows are different sources, as RRL keys them) and its inverse is as cheap. Each flow numbers
// its queries 1, 2, ... in the ID; the table keeps, per flow, the last ID sent and the last ID
// answered. An answer is accepted when its ID lies after the last answered and not after the last
// sent (mod 2^16): a duplicate, a replay or an invented ID is refused, a lost query is skipped.
// Which name a query asks is a pure function of (flow, ID), so the checker knows the expected
// answer without storing anything per query.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

#include "pktgen/flow_space.h"

namespace vipgen {

class DnsClients {
public:
    // `clients` as validated by the options (a power-of-two address count, a port range).
    explicit DnsClients(const ClientSpace& clients) noexcept
        : first_address_(clients.first_address),
          address_bits_(static_cast<uint32_t>(std::countr_zero(clients.address_count))),
          first_port_(clients.first_port),
          ports_(std::bit_floor(static_cast<uint32_t>(clients.last_port - clients.first_port + 1))) {}

    uint64_t size() const noexcept { return static_cast<uint64_t>(ports_) << address_bits_; }
    uint32_t address(uint32_t flow) const noexcept { return first_address_ + (flow & ((1u << address_bits_) - 1)); }
    uint16_t port(uint32_t flow) const noexcept { return static_cast<uint16_t>(first_port_ + (flow >> address_bits_)); }

    // The flow of a client (address, port); false when it is none of ours.
    bool flow_of(uint32_t address, uint16_t port, uint32_t& flow) const noexcept {
        const uint32_t address_offset = address - first_address_;
        const uint32_t port_offset = static_cast<uint32_t>(port - first_port_);
        if ((address_offset >> address_bits_) != 0 || port < first_port_ || port_offset >= ports_) return false;
        flow = port_offset << address_bits_ | address_offset;
        return true;
    }

private:
    uint32_t first_address_;
    uint32_t address_bits_;
    uint16_t first_port_;
    uint32_t ports_;
};

class DnsQueryTable {
public:
    explicit DnsQueryTable(uint32_t flows) : flows_(flows), slots_(std::make_unique<Slot[]>(flows)) {}

    uint32_t flows() const noexcept { return flows_; }

    // The ID of the flow's next query, remembering when it was sent. An atomic add: with several
    // lcores the established pattern may let two of them visit one flow.
    uint16_t next_id(uint32_t flow, uint32_t tx_tsc) noexcept {
        Slot& slot = slots_[flow];
        // Relaxed: the slot's words are independent; no other memory is published through them.
        const uint16_t id = static_cast<uint16_t>(slot.sent.fetch_add(1, std::memory_order_relaxed) + 1);
        slot.sent_tsc.store(tx_tsc, std::memory_order_relaxed);
        return id;
    }

    // Accepts `id` as the answer to an outstanding query of `flow` (see the design note); when it
    // answers the newest query, `tx_tsc` is when that was sent (else 0: no latency sample).
    bool accept(uint32_t flow, uint16_t id, uint32_t& tx_tsc) noexcept {
        Slot& slot = slots_[flow];
        const uint16_t sent = slot.sent.load(std::memory_order_relaxed);
        const uint16_t answered = slot.answered.load(std::memory_order_relaxed);
        const uint16_t ahead = static_cast<uint16_t>(id - answered);
        if (ahead == 0 || ahead > static_cast<uint16_t>(sent - answered)) return false;
        slot.answered.store(id, std::memory_order_relaxed);
        tx_tsc = id == sent ? slot.sent_tsc.load(std::memory_order_relaxed) : 0;
        return true;
    }

private:
    struct Slot {
        std::atomic<uint16_t> sent{0};
        std::atomic<uint16_t> answered{0};
        std::atomic<uint32_t> sent_tsc{0};
    };
    static_assert(sizeof(Slot) == 8);

    uint32_t flows_;
    std::unique_ptr<Slot[]> slots_;
};

// Which name (index into the names file) query `id` of `flow` asks: consecutive flows ask
// consecutive names, and each flow walks the list, so every name is asked.
inline uint32_t dns_name_index(uint32_t flow, uint16_t id, uint32_t flows, uint32_t names) noexcept {
    return static_cast<uint32_t>((flow + static_cast<uint64_t>(id) * flows) % names);
}

}  // namespace vipgen
