// The emulated hosts' answers: backends reply to forwarded packets, and every impersonated
// address answers ARP.
//
// Design note: the reply is made in place in the received mbuf (no allocation, cannot fail for
// lack of buffers) and turned around the way a server's TCP/UDP stack would answer: addresses
// and ports swapped, SYN answered with SYN|ACK, FIN with FIN|ACK, data with ACK, a fresh TTL
// (hop limit). Swapping addresses and ports does not change a one's-complement sum, so only the
// IPv4 TTL and the TCP flags need incremental checksum updates (vipgen's own arithmetic, not
// vipgate's). IPv6 needs no Neighbor Discovery: vipgate has static neighbors for the hosts
// vipgen plays. The signature stays, so the client side can
// match the reply to its flow and time the round trip.
#pragma once

#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "pktgen/checker.h"

namespace vipgen {

// Turns a packet the gateway forwarded (already checked, TCP or UDP over untagged IPv4 with a
// 20-byte header, or IPv6 without extension headers) into the backend's reply, sent back to the MAC it came from.
void make_backend_reply(rte_mbuf* m, const ReceivedPacket& packet, const rte_ether_addr& our_mac) noexcept;

// Turns an ARP request for one of `addresses` (sorted, host order) into the reply in place.
// False when the frame is not such a request (the caller frees it).
bool make_arp_answer(rte_mbuf* m, const std::vector<uint32_t>& addresses, const rte_ether_addr& our_mac) noexcept;

// An ARP reply's sender, when the frame is an ARP reply from `from_address` (host order).
bool read_arp_reply(const rte_mbuf* m, uint32_t from_address, rte_ether_addr& sender_mac) noexcept;

}  // namespace vipgen
