// Golden packets for router advertisements (docs/ipv6.md, "accept_router_advertisements"): on
// the port that accepts them an RA is punted whole, unchecked, for the control thread; on the
// other port it stays a counted nd_ignored drop. The control thread's checks are
// tests/unit/router_advertisement_test.cpp's.
#include <gtest/gtest.h>

#include "dataplane/nd_packets.h"
#include "tests/golden/nat66_topology.h"

namespace vipgate::golden {
namespace {

using namespace nat66;  // NOLINT(google-build-using-namespace): the topology is this file's vocabulary

// An RA from fe80::1 to all nodes, router lifetime 1800 s, the router's MAC as its source
// link-layer option; on the endpoint port tagged with its VLAN.
Bytes router_advertisement(const rte_ether_addr& router_mac, uint16_t vlan) {
    Bytes icmp(16, 0);
    icmp[0] = kNdRouterAdvertisement;
    icmp[4] = 64;
    test::put16(icmp, 6, 1800);
    const Bytes option = {1,
                          1,
                          router_mac.addr_bytes[0],
                          router_mac.addr_bytes[1],
                          router_mac.addr_bytes[2],
                          router_mac.addr_bytes[3],
                          router_mac.addr_bytes[4],
                          router_mac.addr_bytes[5]};
    test::append_bytes(icmp, option);
    const Ipv6Address source = ipv6("fe80::1");
    test::put16(icmp, 2, test::ipv6_l4_checksum(source, kAllNodes, kProtoIcmpv6, icmp));
    return ipv6_frame({}, kProtoIcmpv6, icmp, {.src = source, .dst = kAllNodes, .hop_limit = 255},
                      {.src = router_mac, .dst = multicast_mac(kAllNodes), .vlan = vlan});
}

TEST(GoldenRouterAdvertisement, PuntedOnTheAcceptingPortIgnoredElsewhere) {
    TopologySpec spec = ipv6_topology(NatMode::FullNat);
    spec.client_accepts_router_advertisements = true;
    GoldenHarness harness(spec);
    const Bytes on_clients = router_advertisement(kRouterMac, 0);
    harness.check({"RA on the port with accept_router_advertisements: punted as it came",
                   on_clients,
                   kClientPortId,
                   {.verdict = Verdict::Punted,
                    .frame = on_clients,
                    .counters = {{"punted", 1}},
                    .punted_next_hop = kPuntRouterAdvertisement}});
    const Bytes hop_limit_64 = [&] {
        Bytes frame = on_clients;
        frame[sizeof(rte_ether_hdr) + 7] = 64;  // invalid, but checking is the control thread's
        return frame;
    }();
    harness.check({"an invalid RA is punted all the same",
                   hop_limit_64,
                   kClientPortId,
                   {.verdict = Verdict::Punted,
                    .frame = hop_limit_64,
                    .counters = {{"punted", 1}},
                    .punted_next_hop = kPuntRouterAdvertisement}});
    harness.check({"RA on the endpoint port (not accepting): ignored",
                   router_advertisement(endpoint_mac(ipv6("2001:db8:e::20")), kEndpointVlan), kEndpointPortId,
                   dropped(DropReason::NdIgnored)});
}

TEST(GoldenRouterAdvertisement, IgnoredWhereNoPortAcceptsThem) {
    GoldenHarness harness(ipv6_topology(NatMode::FullNat));
    harness.check({"RA on the client port, not accepting", router_advertisement(kRouterMac, 0), kClientPortId,
                   dropped(DropReason::NdIgnored)});
}

}  // namespace
}  // namespace vipgate::golden
