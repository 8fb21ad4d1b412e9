// IPv6 fragments. See fragment6_path.h and fragment_table.h.
#include "dataplane/fragment6_path.h"

#include <cstring>

#include <rte_ip.h>
#include <rte_mbuf.h>

#include "dataplane/worker_output.h"

namespace vipgate {

Fragment6Admission admit_fragment6(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet,
                                   const ParsedIpv6& parsed, bool from_handoff) noexcept {
    constexpr Fragment6Admission consumed{Fragment6Step::Consumed, nullptr, false};
    FragmentKey6 key;
    std::memcpy(key.src_addr.data(), parsed.key.src_addr, 16);
    std::memcpy(key.dst_addr.data(), parsed.key.dst_addr, 16);
    key.id = parsed.fragment_id;
    // From the hand-off ring a fragment is at its home (sent by the worker RSS gave it to) or at
    // the owner its home handed the datagram to: the two cannot be the same worker.
    bool owner_known = false;
    if (context.worker_count > 1) {
        const uint16_t home = fragment_home6(key, snapshot.hash_seed, context.worker_count);
        if (home != context.worker_index) {
            if (!from_handoff) {
                hand_off_packet(context, packet, home);
                return consumed;
            }
            owner_known = true;
        }
    }
    FragmentEntry6* entry =
        context.fragments6.find_or_create(key, snapshot.hash_seed, context.now_ms, context.counters);
    if (entry == nullptr) {
        drop_packet(context, packet, DropReason::FragmentTableFull);
        return consumed;
    }
    if (entry->action == FragmentAction::Discard) {
        drop_packet(context, packet, DropReason::FragmentOrphan);
        return consumed;
    }
    switch (entry->add_range(parsed.fragment_offset, parsed.fragment_length, parsed.more_fragments)) {
    case RangeResult::Added:
        break;
    case RangeResult::Overlap:
        discard_datagram6(context, *entry);
        drop_packet(context, packet, DropReason::FragmentOverlap);
        return consumed;
    case RangeResult::TooManyRanges:
        discard_datagram6(context, *entry);
        drop_packet(context, packet, DropReason::FragmentTableFull);
        return consumed;
    }
    if (parsed.fragment == FragmentKind::First) return {Fragment6Step::FirstFragment, entry, owner_known};
    if (entry->action == FragmentAction::AwaitFirst) {
        if (entry->hold(packet)) {
            ++context.counters.fragments_held;
        } else {
            discard_datagram6(context, *entry);
            drop_packet(context, packet, DropReason::FragmentTableFull);
        }
        return consumed;
    }
    return {Fragment6Step::Follow, entry, owner_known};
}

void discard_datagram6(WorkerContext& context, FragmentEntry6& entry) noexcept {
    entry.action = FragmentAction::Discard;
    for (uint32_t i = 0; i < entry.held_count; ++i) drop_packet(context, entry.held[i], DropReason::FragmentOrphan);
    entry.held_count = 0;
}

void finish_if_complete6(WorkerContext& context, FragmentEntry6& entry) noexcept {
    if (!entry.complete()) return;
    if (entry.action == FragmentAction::Translate) ++context.counters.fragment_datagrams_completed;
    context.fragments6.release(entry);
}

void rewrite_fragment6_addresses(uint8_t* frame, const ParsedIpv6& parsed, const uint8_t src_addr[16],
                                 const uint8_t dst_addr[16]) noexcept {
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(frame + parsed.l3_offset);
    --ip->hop_limits;
    std::memcpy(ip->src_addr, src_addr, sizeof(ip->src_addr));
    std::memcpy(ip->dst_addr, dst_addr, sizeof(ip->dst_addr));
}

}  // namespace vipgate
