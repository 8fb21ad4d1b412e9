// IPv6 fragments of TCP and UDP (RFC 8200 4.5), served as IPv4's (fragment_table.h, the note at
// the top of pipeline.cpp): every fragment of a datagram meets on its home worker, keyed by
// (source, destination, 32-bit identification); the first fragment (which carries the ports)
// takes the normal path, and later fragments get what became of it: the same addresses, the
// same owner worker, or the same drop. Fragments that come before the first wait in the entry.
//
// What a rewrite touches: the first fragment is rewritten as a whole packet (nat_rewrite6.h):
// its TCP or UDP checksum covers the whole datagram's pseudo-header, so the address and port
// deltas applied there are all the datagram needs. A later fragment carries no L4 header and
// IPv6 has no header checksum: only its addresses and hop limit change.
//
// Not served in fragments: SCTP (its CRC32c covers the whole datagram, which is never here) and
// ICMPv6 (dropped as `fragment`, as IPv4's ICMP fragments are).
#pragma once

#include <cstdint>

#include "dataplane/fragment_table.h"
#include "dataplane/ipv6_parser.h"
#include "dataplane/snapshot.h"
#include "dataplane/worker_context.h"

struct rte_mbuf;

namespace vipgate {

enum class Fragment6Step : uint8_t {
    FirstFragment,  // take the normal path, then settle the entry (settle_first_fragment6)
    Follow,         // a later fragment whose first was handled: send it as the entry says
    Consumed,       // handed to its home, held for its first fragment, or dropped
};

struct Fragment6Admission {
    Fragment6Step step;
    FragmentEntry6* entry;  // FirstFragment, Follow
    bool owner_known;       // handed here by its home: this worker owns the datagram
};

// A fragment of a TCP or UDP datagram parsed into `parsed`: to its home worker, then into its
// datagram's entry (the bytes it covers recorded, overlaps and table limits dropped and counted).
Fragment6Admission admit_fragment6(WorkerContext& context, const Snapshot& snapshot, rte_mbuf* packet,
                                   const ParsedIpv6& parsed, bool from_handoff) noexcept;

// The rest of the datagram is dropped: the fragments held now, and those to come until the entry
// expires (a receiver never gets a datagram that overlapped).
void discard_datagram6(WorkerContext& context, FragmentEntry6& entry) noexcept;

// Every byte seen: nothing more can come; counted once, by the worker that translated it.
void finish_if_complete6(WorkerContext& context, FragmentEntry6& entry) noexcept;

// A later fragment's new addresses and hop limit (the caller checked it is above 1).
void rewrite_fragment6_addresses(uint8_t* frame, const ParsedIpv6& parsed, const uint8_t src_addr[16],
                                 const uint8_t dst_addr[16]) noexcept;

}  // namespace vipgate
