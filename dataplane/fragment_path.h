// Fragments of TCP and UDP datagrams: the steps IPv4 (pipeline.cpp) and IPv6 (pipeline6.cpp,
// RFC 8200 4.5) share. Every fragment of a datagram first meets on its home worker, keyed by
// (source, destination, identification; IPv4 adds the protocol); the first fragment (which
// carries the ports) takes the normal path, and later fragments get what became of it: the same
// addresses, the same owner worker, or the same drop. Fragments that come before the first wait
// in the entry (fragment_table.h says why nothing is reassembled).
//
// What a rewrite touches: the first fragment is rewritten as a whole packet: its TCP or UDP
// checksum covers the whole datagram's pseudo-header, so the address and port deltas applied
// there are all the datagram needs. A later fragment carries no L4 header: only its addresses
// and TTL (IPv4, with the header checksum) or hop limit (IPv6) change.
//
// Not served in fragments: SCTP (its CRC32c covers the whole datagram, which is never here) and
// ICMP/ICMPv6 (dropped as `fragment`).
//
// Design note: one template over the family. FragmentFamily<Parsed> names what differs (the
// key, the table, the payload length); the steps that differ per family (a translated
// fragment's route, MTU check and rewrite; parsing a held fragment again) are the pipeline's,
// passed in as lambdas. Everything here is inline: no indirect call and no allocation on the
// packet path, the same code as when each pipeline had its own copy.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include <rte_branch_prediction.h>
#include <rte_ip.h>

#include "dataplane/fragment_table.h"
#include "dataplane/ipv6_parser.h"
#include "dataplane/kernel_output.h"
#include "dataplane/packet_parser.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"
#include "dataplane/worker_output.h"

struct rte_mbuf;

namespace vipgate {

template <class Parsed>
struct FragmentFamily;

template <>
struct FragmentFamily<ParsedPacket> {
    using Entry = FragmentEntry;
    static FragmentTable& table(WorkerContext& context) noexcept { return context.fragments; }
    static FragmentKey key(const ParsedPacket& parsed) noexcept {
        return {parsed.key.src_addr, parsed.key.dst_addr, parsed.ip_id, parsed.key.protocol, 0};
    }
    static uint16_t home(const FragmentKey& key, uint32_t seed, uint16_t worker_count) noexcept {
        return fragment_home(key, seed, worker_count);
    }
    static uint16_t payload_length(const ParsedPacket& parsed) noexcept {
        return static_cast<uint16_t>(parsed.ip_total_length - sizeof(rte_ipv4_hdr));
    }
};

template <>
struct FragmentFamily<ParsedIpv6> {
    using Entry = FragmentEntry6;
    static FragmentTable6& table(WorkerContext& context) noexcept { return context.fragments6; }
    static FragmentKey6 key(const ParsedIpv6& parsed) noexcept {
        FragmentKey6 key;
        std::memcpy(key.src_addr.data(), parsed.key.src_addr, 16);
        std::memcpy(key.dst_addr.data(), parsed.key.dst_addr, 16);
        key.id = parsed.fragment_id;
        return key;
    }
    static uint16_t home(const FragmentKey6& key, uint32_t seed, uint16_t worker_count) noexcept {
        return fragment_home6(key, seed, worker_count);
    }
    static uint16_t payload_length(const ParsedIpv6& parsed) noexcept { return parsed.fragment_length; }
};

// What the first fragment's normal path decided, filled in as it goes (a hand-off, a rewrite,
// the kernel): what its later fragments get. Discard unless something else was decided.
template <class Address>
struct FragmentDecision {
    FragmentAction action = FragmentAction::Discard;
    uint16_t owner = 0;
    Address new_src_addr{};
    Address new_dst_addr{};
};

// The rest of the datagram is dropped: the fragments held now, and those to come until the entry
// expires (teardrop and friends: a receiver never gets a datagram that overlapped).
inline void discard_datagram(WorkerContext& context, FragmentProgress& entry) noexcept {
    entry.action = FragmentAction::Discard;
    for (uint32_t i = 0; i < entry.held_count; ++i) drop_packet(context, entry.held[i], DropReason::FragmentOrphan);
    entry.held_count = 0;
}

// Every byte seen: nothing more can come. Counted once, by the worker that translated it.
template <class Entry>
inline void finish_if_complete(WorkerContext& context, BasicFragmentTable<Entry>& table, Entry& entry) noexcept {
    if (!entry.complete()) return;
    if (entry.action == FragmentAction::Translate) ++context.counters.fragment_datagrams_completed;
    table.release(entry);
}

// A later fragment, or one that waited for its first: where the datagram's entry says.
// `forward()` sends it translated (the family's route, MTU check and address rewrite).
template <class Entry, class Forward>
inline void send_later_fragment(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet, uint16_t port_index,
                                const Entry& entry, Forward&& forward) noexcept {
    switch (entry.action) {
    case FragmentAction::Translate:
        forward();
        return;
    case FragmentAction::HandOff:
        hand_off_packet(context, packet, entry.owner);
        return;
    case FragmentAction::Kernel:
        if (pass_to_kernel(context, snapshot, packet, port_index)) return;
        break;
    case FragmentAction::AwaitFirst:
    case FragmentAction::Discard:
        break;
    }
    drop_packet(context, packet, DropReason::FragmentOrphan);
}

// A fragment at the classify step. It goes to its home first; there its datagram's entry is
// found or made and the bytes it covers recorded (overlaps and table limits are dropped and
// counted). A first fragment is returned with its entry, for the normal path; a later one
// follows the first's decision (`send_later(entry)`, then the entry goes once complete), or
// waits for it. Null: the packet was taken here. `owner_known`: the fragment was handed here by
// its home, so this worker owns the datagram (from the hand-off ring a fragment is at its home,
// sent by the worker RSS gave it to, or at the owner its home handed the datagram to: the two
// cannot be the same worker).
template <class Parsed, class SendLater>
inline typename FragmentFamily<Parsed>::Entry* admit_fragment(WorkerContext& context, const Snapshot& snapshot,
                                                              rte_mbuf* packet, const Parsed& parsed, bool from_handoff,
                                                              bool& owner_known, SendLater&& send_later) noexcept {
    using Family = FragmentFamily<Parsed>;
    const auto key = Family::key(parsed);
    owner_known = false;
    if (context.worker_count > 1) {
        const uint16_t home = Family::home(key, snapshot.hash_seed, context.worker_count);
        if (home != context.worker_index) {
            if (!from_handoff) {
                hand_off_packet(context, packet, home);
                return nullptr;
            }
            owner_known = true;
        }
    }
    auto& table = Family::table(context);
    auto* entry = table.find_or_create(key, snapshot.hash_seed, context.now_ms, context.counters);
    if (unlikely(entry == nullptr)) {
        drop_packet(context, packet, DropReason::FragmentTableFull);
        return nullptr;
    }
    if (entry->action == FragmentAction::Discard) {
        drop_packet(context, packet, DropReason::FragmentOrphan);
        return nullptr;
    }
    switch (entry->add_range(parsed.fragment_offset, Family::payload_length(parsed), parsed.more_fragments)) {
    case RangeResult::Added:
        break;
    case RangeResult::Overlap:
        discard_datagram(context, *entry);
        drop_packet(context, packet, DropReason::FragmentOverlap);
        return nullptr;
    case RangeResult::TooManyRanges:
        discard_datagram(context, *entry);
        drop_packet(context, packet, DropReason::FragmentTableFull);
        return nullptr;
    }
    if (parsed.fragment == FragmentKind::First) return entry;
    if (entry->action == FragmentAction::AwaitFirst) {
        if (entry->hold(packet)) {
            ++context.counters.fragments_held;
        } else {
            discard_datagram(context, *entry);
            drop_packet(context, packet, DropReason::FragmentTableFull);
        }
        return nullptr;
    }
    send_later(*entry);
    finish_if_complete(context, table, *entry);
    return nullptr;
}

// After a first fragment's normal path: its datagram's entry takes `decision` (unless a later
// packet of this burst made the datagram overlap meanwhile), the fragments that waited for it
// follow (`send_held(mbuf)`: the family parses each again; the same bytes parse the same way),
// and the entry goes once every byte was seen.
template <class Entry, class Address, class SendHeld>
inline void settle_datagram(WorkerContext& context, BasicFragmentTable<Entry>& table, Entry& entry,
                            const FragmentDecision<Address>& decision, SendHeld&& send_held) noexcept {
    if (entry.action != FragmentAction::AwaitFirst) return;
    entry.action = decision.action;
    entry.owner = static_cast<uint8_t>(decision.owner);
    entry.new_src_addr = decision.new_src_addr;
    entry.new_dst_addr = decision.new_dst_addr;
    for (uint32_t i = 0; i < entry.held_count; ++i) send_held(entry.held[i]);
    entry.held_count = 0;
    finish_if_complete(context, table, entry);
}

// The owner of the packet in hand, and what a first fragment's normal path decided: the state the
// two pipelines' hand-off and first-fragment steps share (one per burst processor).
template <class Address>
class PacketOwnership {
public:
    explicit PacketOwnership(bool from_handoff) noexcept : from_handoff_(from_handoff), owner_known_(from_handoff) {}

    // `owner` is the worker that owns the packet's connection. When that is another worker and
    // this one did not get the packet from the worker that decided, it is handed there (and a
    // first fragment's later fragments after it): true. An owner >= worker_count (an SNAT port
    // outside every worker's range, quoted in an ICMP error) is nobody's: handled here, which
    // keeps handoff[owner] in bounds.
    bool hand_off_elsewhere(WorkerContext& context, rte_mbuf* packet, uint16_t owner) noexcept {
        if (owner_known_ || context.worker_count == 1 || owner == context.worker_index ||
            owner >= context.worker_count) {
            return false;
        }
        decision.action = FragmentAction::HandOff;
        decision.owner = owner;
        hand_off_packet(context, packet, owner);
        return true;
    }

    // A first fragment takes the normal path (`normal_path()`: the family's tracked or untracked
    // step), deciding for its datagram's owner unless its home already did (`owner_known`, from
    // admit_fragment); then its entry is settled (settle_datagram).
    template <class Entry, class NormalPath, class SendHeld>
    void take_first_fragment(WorkerContext& context, BasicFragmentTable<Entry>& table, Entry& entry, bool owner_known,
                             NormalPath&& normal_path, SendHeld&& send_held) noexcept {
        owner_known_ = owner_known;
        decision = {};
        normal_path();
        owner_known_ = from_handoff_;
        settle_datagram(context, table, entry, decision, send_held);
    }

    FragmentDecision<Address> decision;  // of the first fragment in hand

private:
    const bool from_handoff_;
    // The packet in hand came from the worker that decided its owner: no hand-off. from_handoff_,
    // except for a first fragment handed to its home, which decides.
    bool owner_known_;
};

}  // namespace vipgate
