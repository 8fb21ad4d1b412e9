// NeighborCache: what ARP (neighbor_resolver.h) and IPv6 Neighbor Discovery
// (neighbor_discovery.h) share on the control thread, written once for both families.
//
// Design note: workers never wait for a neighbor. They punt packets whose next hop has no MAC
// yet; the cache holds a few per unresolved neighbor, like the kernel's neighbor queue
// (kMaxHeldPerNeighbor, kMaxHeldTotal in all: held mbufs come out of the ports' pools, so what
// unresolvable traffic can pin is bounded), asks for the neighbor (kMaxProbes requests,
// kProbeIntervalMs apart) and sends them when the answer arrives. Learnt entries are re-probed
// after kReachableMs and invalidated if they stay silent; static entries never age.
//
// Hardening (RFC 5227, and what ARP spoofing teaches), the same for both families:
// - A message that claims one of the gateway's own addresses from another MAC is a conflict: it
//   is never learnt; the gateway restates its claim to all hosts, at most once per
//   kDefendIntervalMs per address (RFC 5227 DEFEND_INTERVAL).
// - Entries are created only by requests aimed at us and by answers to our own requests (as Linux
//   with arp_accept=0), and a known neighbor's MAC changes only through an answer while we are
//   asking for it. Unsolicited news of a different MAC is refused and counted, and starts a probe:
//   if the neighbor really moved (a failover), its answer moves the entry. Whoever answers a probe
//   first wins; a spoofer that races every probe is beyond what ARP or ND itself can prevent.
//
// The family (Family in neighbor_resolver.cpp, neighbor_discovery.cpp) gives the address type,
// the table, its statistics, and how to write a request and a defence:
//   Address, Table, Statistics; kRequestsSent, kDefencesSent (Statistics members);
//   kNeighbor, kRequests, kProtocol (words for the log); key(Address) -> Table::Key;
//   text(Address); lookup(Table, Snapshot, port_index, Address, mac) (what a held packet may use);
//   write_request(mbuf, Snapshot, port_index, target); write_defence(mbuf, Snapshot, port_index, address).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "control/port_setup.h"
#include "dataplane/snapshot.h"

namespace vipgate {

struct NeighborCacheLimits {
    static constexpr uint64_t kReachableMs = 30'000;
    static constexpr uint64_t kProbeIntervalMs = 1'000;
    static constexpr uint32_t kMaxProbes = 3;
    static constexpr size_t kMaxHeldPerNeighbor = 8;
    static constexpr size_t kMaxHeldTotal = 1024;
    static constexpr size_t kMaxPending = 1024;
    static constexpr uint64_t kDefendIntervalMs = 10'000;
};

template <class Family>
class NeighborCache : public NeighborCacheLimits {
public:
    using Address = typename Family::Address;
    using Table = typename Family::Table;
    using Statistics = typename Family::Statistics;

    // What the cache sends goes through `transmit_ring` (worker 0 transmits it).
    NeighborCache(Table& table, const std::vector<PortRuntime>& ports, rte_ring* transmit_ring)
        : table_(table), ports_(ports), transmit_ring_(transmit_ring) {}
    ~NeighborCache() {
        for (auto& entry : pending_) {
            for (rte_mbuf* packet : entry.second.held) rte_pktmbuf_free(packet);
        }
    }
    NeighborCache(const NeighborCache&) = delete;
    NeighborCache& operator=(const NeighborCache&) = delete;

    Table& table() noexcept { return table_; }
    Statistics& statistics() noexcept { return statistics_; }
    const Statistics& statistics() const noexcept { return statistics_; }
    size_t learnt_count() const noexcept { return learnt_.size(); }
    size_t held_count() const noexcept { return held_total_; }

    uint16_t port_index_of(uint16_t port_id) const noexcept {
        for (uint16_t i = 0; i < ports_.size(); ++i) {
            if (ports_[i].port_id == port_id) return i;
        }
        return 0;
    }

    // packet->port names the output port.
    void transmit(rte_mbuf* packet) {
        if (rte_ring_mp_enqueue(transmit_ring_, packet) != 0) rte_pktmbuf_free(packet);
    }

    // A message from `sender_mac` claims `address`, one of ours: a conflict unless it is our own
    // message coming back.
    void claim(const Snapshot& snapshot, uint16_t port_index, const Address& address, const rte_ether_addr& sender_mac,
               uint64_t now_ms) {
        if (rte_is_same_ether_addr(&sender_mac, &snapshot.ports[port_index].mac)) return;
        ++statistics_.conflicts;
        defend(snapshot, port_index, address, now_ms);
    }

    // News that `neighbor` is at `mac`: `answer` when it answers a request (an ARP reply, a
    // neighbor advertisement), `aimed_at_us` when it asks for one of our addresses.
    void consider(const Snapshot& snapshot, uint16_t port_index, const Address& neighbor, const rte_ether_addr& mac,
                  bool answer, bool aimed_at_us, uint64_t now_ms) {
        rte_ether_addr existing{};  // read only when in_table (GCC cannot tell once inlined)
        const bool in_table = table_.lookup(Family::key(neighbor), existing);
        const bool asked = asking_for(neighbor);
        if (in_table && !rte_is_same_ether_addr(&existing, &mac) && !(asked && answer)) {
            ++statistics_.updates_refused;
            verify(snapshot, neighbor, now_ms);
        } else if (in_table || asked || (aimed_at_us && !answer)) {
            learn(neighbor, mac, port_index, now_ms);
        }
    }

    // Takes ownership of a packet waiting for `neighbor` on the port.
    void hold(rte_mbuf* packet, const Snapshot& snapshot, uint16_t port_index, const Address& neighbor,
              uint64_t now_ms) {
        rte_ether_addr mac;
        if (Family::lookup(table_, snapshot, port_index, neighbor, mac)) {  // resolved while in the ring
            rte_pktmbuf_mtod(packet, rte_ether_hdr*)->dst_addr = mac;
            transmit(packet);
            ++statistics_.held_sent;
            return;
        }
        if (held_total_ >= kMaxHeldTotal || (pending_.count(neighbor) == 0 && pending_.size() >= kMaxPending)) {
            drop(packet);
            return;
        }
        auto [entry, inserted] = pending_.try_emplace(neighbor);
        Pending& pending = entry->second;
        if (pending.held.size() >= kMaxHeldPerNeighbor) {
            drop(packet);
        } else {
            pending.held.push_back(packet);
            ++held_total_;
        }
        if (inserted) start(snapshot, pending, port_index, neighbor, now_ms);
    }

    // A packet that cannot be held (its route went away meanwhile).
    void drop(rte_mbuf* packet) {
        rte_pktmbuf_free(packet);
        ++statistics_.held_dropped;
    }

    // Asks for `address` on the port (unless already asking), holding nothing.
    void resolve(const Snapshot& snapshot, uint16_t port_index, const Address& address, uint64_t now_ms) {
        if (pending_.count(address) != 0 || pending_.size() >= kMaxPending) return;
        start(snapshot, pending_[address], port_index, address, now_ms);
    }

    // A frame of our own, written by `write` into a fresh mbuf of the port's pool, transmitted.
    template <class Writer>
    bool send(const Snapshot& snapshot, uint16_t port_index, Writer&& write) {
        if (port_index >= snapshot.ports.size() || port_index >= ports_.size()) return false;
        rte_mbuf* packet = rte_pktmbuf_alloc(ports_[port_index].pool);
        if (packet == nullptr) return false;
        packet->port = ports_[port_index].port_id;
        if (!write(packet)) {
            rte_pktmbuf_free(packet);
            return false;
        }
        transmit(packet);
        return true;
    }

    // A static entry now covers `address`: it is no longer learnt.
    void forget(const Address& address) { learnt_.erase(address); }

    // Retransmits requests, gives up on silent neighbors, re-probes old entries.
    void tick(const Snapshot& snapshot, uint64_t now_ms) {
        for (auto it = pending_.begin(); it != pending_.end();) {
            Pending& pending = it->second;
            const ProbeStep step = next_probe(pending, now_ms);
            if (step == ProbeStep::GiveUp) {
                spdlog::warn("{} {} did not answer {} {}; dropping {} waiting packets", Family::kNeighbor,
                             Family::text(it->first), kMaxProbes, Family::kRequests, pending.held.size());
                for (rte_mbuf* packet : pending.held) rte_pktmbuf_free(packet);
                statistics_.held_dropped += pending.held.size();
                held_total_ -= pending.held.size();
                it = pending_.erase(it);
                continue;
            }
            if (step == ProbeStep::Probe) send_request(snapshot, pending.port_index, it->first);
            ++it;
        }
        for (auto it = learnt_.begin(); it != learnt_.end();) {
            Learnt& entry = it->second;
            const ProbeStep step =
                now_ms - entry.confirmed_ms < kReachableMs ? ProbeStep::Wait : next_probe(entry, now_ms);
            if (step == ProbeStep::GiveUp) {
                spdlog::info("{} {} stopped answering {}; entry removed", Family::kNeighbor, Family::text(it->first),
                             Family::kRequests);
                table_.invalidate(Family::key(it->first));
                it = learnt_.erase(it);
                continue;
            }
            if (step == ProbeStep::Probe) send_request(snapshot, entry.port_index, it->first);
            ++it;
        }
    }

private:
    struct Pending {
        uint16_t port_index = 0;
        uint32_t probes = 0;
        uint64_t last_probe_ms = 0;
        std::vector<rte_mbuf*> held;
    };
    struct Learnt {
        uint16_t port_index = 0;
        uint64_t confirmed_ms = 0;
        uint64_t last_probe_ms = 0;
        uint32_t probes = 0;
    };

    enum class ProbeStep { Wait, Probe, GiveUp };
    // Probing, the same for a neighbor being resolved and a learnt one being checked: a request
    // every kProbeIntervalMs, kMaxProbes in all, then give up.
    template <class Entry>
    static ProbeStep next_probe(Entry& entry, uint64_t now_ms) {
        if (now_ms - entry.last_probe_ms < kProbeIntervalMs) return ProbeStep::Wait;
        if (entry.probes >= kMaxProbes) return ProbeStep::GiveUp;
        ++entry.probes;
        entry.last_probe_ms = now_ms;
        return ProbeStep::Probe;
    }

    void start(const Snapshot& snapshot, Pending& pending, uint16_t port_index, const Address& address,
               uint64_t now_ms) {
        pending.port_index = port_index;
        pending.probes = 1;
        pending.last_probe_ms = now_ms;
        send_request(snapshot, port_index, address);
    }

    // True while a request of ours for `address` is unanswered: it is unresolved, or a learnt
    // entry is being probed.
    bool asking_for(const Address& address) const {
        if (pending_.count(address) != 0) return true;
        auto learnt = learnt_.find(address);
        return learnt != learnt_.end() && learnt->second.probes > 0;
    }

    // Probe a learnt neighbor now (unless a probe is already out): its answer settles its MAC.
    void verify(const Snapshot& snapshot, const Address& address, uint64_t now_ms) {
        auto learnt = learnt_.find(address);
        if (learnt == learnt_.end() || learnt->second.probes > 0) return;
        learnt->second.probes = 1;
        learnt->second.last_probe_ms = now_ms;
        send_request(snapshot, learnt->second.port_index, address);
    }

    void learn(const Address& address, const rte_ether_addr& mac, uint16_t port_index, uint64_t now_ms) {
        const auto result = table_.learn(Family::key(address), mac);
        if (result == Table::LearnResult::Full) {
            spdlog::warn("{} table full ({} entries): cannot learn {}", Family::kNeighbor, Table::kCapacity,
                         Family::text(address));
            return;
        }
        if (table_.is_static(Family::key(address))) return;
        if (result == Table::LearnResult::Added) {
            ++statistics_.learnt;
            spdlog::debug("{} {} learnt on port {}", Family::kNeighbor, Family::text(address), ports_[port_index].name);
        }
        learnt_[address] = Learnt{port_index, now_ms, 0, 0};
        auto pending = pending_.find(address);
        if (pending == pending_.end()) return;
        held_total_ -= pending->second.held.size();
        for (rte_mbuf* held : pending->second.held) {
            rte_pktmbuf_mtod(held, rte_ether_hdr*)->dst_addr = mac;
            transmit(held);
            ++statistics_.held_sent;
        }
        pending_.erase(pending);
    }

    void send_request(const Snapshot& snapshot, uint16_t port_index, const Address& target) {
        if (!send(snapshot, port_index,
                  [&](rte_mbuf* request) { return Family::write_request(request, snapshot, port_index, target); }))
            return;
        ++(statistics_.*Family::kRequestsSent);
    }

    void defend(const Snapshot& snapshot, uint16_t port_index, const Address& address, uint64_t now_ms) {
        auto [entry, first] = last_defended_ms_.try_emplace(address, now_ms);
        if (!first && now_ms - entry->second < kDefendIntervalMs) return;
        entry->second = now_ms;
        if (!send(snapshot, port_index,
                  [&](rte_mbuf* defence) { return Family::write_defence(defence, snapshot, port_index, address); }))
            return;
        spdlog::warn("{}: another host claims {} on port {}; restated it as ours", Family::kProtocol,
                     Family::text(address), ports_[port_index].name);
        ++(statistics_.*Family::kDefencesSent);
    }

    Table& table_;
    const std::vector<PortRuntime>& ports_;
    rte_ring* transmit_ring_;
    std::map<Address, uint64_t> last_defended_ms_;  // our own addresses only: bounded
    std::map<Address, Pending> pending_;
    std::map<Address, Learnt> learnt_;
    size_t held_total_ = 0;
    Statistics statistics_;
};

}  // namespace vipgate
