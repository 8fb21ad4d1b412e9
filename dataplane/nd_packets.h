// Neighbor Discovery (RFC 4861) messages: the validity checks every receiver applies, the
// fields the control thread acts on, and the two messages vipgate sends (a solicitation to a
// solicited-node multicast group, an advertisement). Pure functions on frames, shared by the
// workers (which check and punt, pipeline6.cpp) and the control thread (NeighborDiscovery).
#pragma once

#include <array>
#include <cstdint>

#include <rte_ether.h>

#include "dataplane/ipv6_parser.h"

struct rte_mbuf;

namespace vipgate {

using Ipv6Bytes = std::array<uint8_t, 16>;

constexpr uint8_t kNdRouterSolicitation = 133;
constexpr uint8_t kNdRouterAdvertisement = 134;
constexpr uint8_t kNdNeighborSolicitation = 135;
constexpr uint8_t kNdNeighborAdvertisement = 136;
constexpr uint8_t kNdRedirect = 137;

constexpr uint8_t kNaRouter = 0x80;
constexpr uint8_t kNaSolicited = 0x40;
constexpr uint8_t kNaOverride = 0x20;

// What a worker punts carries one of these in mbuf->hash.usr (an IPv4 punt carries its next
// hop there; IPv6 ones are told apart by their ethertype first).
constexpr uint32_t kPuntNdMessage = 1;            // a Neighbor Solicitation or Advertisement
constexpr uint32_t kPuntHeldIpv6 = 2;             // a forwarded packet whose next hop has no MAC yet
constexpr uint32_t kPuntRouterAdvertisement = 3;  // an RA on a port with accept_router_advertisements

inline bool is_nd_type(uint8_t icmp_type) noexcept {
    return icmp_type >= kNdRouterSolicitation && icmp_type <= kNdRedirect;
}

struct NdMessage {
    uint8_t type = 0;
    uint8_t flags = 0;  // NA: R, S, O
    Ipv6Bytes source{};
    Ipv6Bytes destination{};
    Ipv6Bytes target{};
    bool has_link_layer = false;  // source (NS) or target (NA) link-layer address option
    rte_ether_addr link_layer{};
};

// RFC 4861 7.1.1 / 7.1.2 for an NS or NA that parse_ipv6 accepted: hop limit 255, code 0,
// ICMPv6 checksum, length, target not multicast, options of non-zero length within the message;
// an NS from the unspecified address goes to a solicited-node group and has no source
// link-layer option; an NA to a multicast group is not solicited. The whole message must be in
// the first segment. False: invalid, to be dropped.
bool parse_nd(const uint8_t* frame, uint32_t contiguous_length, const ParsedIpv6& parsed, NdMessage& out) noexcept;

// A Router Advertisement's fields the control thread acts on (control/default_routers.h).
struct RouterAdvertisement {
    Ipv6Bytes source{};           // the router's link-local address
    uint16_t lifetime_s = 0;      // Router Lifetime; 0: not a default router (withdraws it)
    int8_t preference = 0;        // RFC 4191 Default Router Preference: 1 high, 0 medium, -1 low
    bool has_link_layer = false;  // source link-layer address option
    rte_ether_addr link_layer{};
};

// RFC 4861 6.1.2, in its order: what makes a Router Advertisement invalid (the first failed rule).
enum class RaCheck : uint8_t {
    Valid,
    Fragmented,    // not a whole, unfragmented ICMPv6 message in the first segment
    NotLinkLocal,  // source not fe80::/10
    HopLimit,      // not 255
    Code,          // not 0
    Length,        // ICMP length below 16 bytes
    Checksum,
    Options,  // an option of length 0, or one running past the message
};
const char* ra_check_name(RaCheck check) noexcept;

// Checks an ICMPv6 type 134 message that parse_ipv6 accepted and reads its fields into `out`
// (meaningful only when the result is Valid). The preference is read as RFC 4191 says: the
// reserved value 10 is medium, and so is any preference of a lifetime-0 advertisement.
RaCheck parse_router_advertisement(const uint8_t* frame, uint32_t contiguous_length, const ParsedIpv6& parsed,
                                   RouterAdvertisement& out) noexcept;

bool is_unspecified(const Ipv6Bytes& address) noexcept;
// ff02::1:ffXX:XXXX for `target`, and its MAC 33:33:ff:XX:XX:XX.
Ipv6Bytes solicited_node_group(const Ipv6Bytes& target) noexcept;
rte_ether_addr multicast_mac(const Ipv6Bytes& group) noexcept;
extern const Ipv6Bytes kAllNodes;  // ff02::1

// Fills an empty mbuf with an NS (source link-layer option) or NA (target link-layer option,
// `flags`), hop limit 255, checksum set, an 802.1Q tag when vlan != 0. False if no room.
struct NdFrame {
    uint8_t type = kNdNeighborSolicitation;
    uint8_t flags = 0;
    rte_ether_addr ethernet_destination{};
    rte_ether_addr our_mac{};
    uint16_t vlan = 0;
    Ipv6Bytes source{};
    Ipv6Bytes destination{};
    Ipv6Bytes target{};
};
bool write_nd_message(rte_mbuf* m, const NdFrame& frame) noexcept;

}  // namespace vipgate
