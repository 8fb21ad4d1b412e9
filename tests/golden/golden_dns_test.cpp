// Golden DNS packets: queries to a DNS address through the real pipeline, in both NAT modes.
// The answers' DNS bytes are the responder's (unit-tested in tests/unit/dns_test.cpp, and
// decoded here for what each case is about); what these cases prove is the packet path: which
// queries are answered, dropped, or forwarded, the frames around the answers byte for byte
// (addresses, ports, lengths, checksums), the stateless TCP exchange, rate limiting, and the
// counters.
#include <gtest/gtest.h>

#include <rte_tcp.h>

#include "control/dns_text.h"
#include "control/dns_zone_builder.h"
#include "dataplane/dns_path.h"
#include "dataplane/dns_responder.h"
#include "tests/golden/golden_harness.h"

namespace vipgate::golden {
namespace {

using test::TcpSpec;
using test::UdpSpec;
using Counters = std::map<std::string, uint64_t>;

constexpr uint32_t kDnsAddr = ipv4("198.18.100.53");
constexpr uint16_t kClientPort = 41000;
constexpr uint8_t kSyn = RTE_TCP_SYN_FLAG;
constexpr uint8_t kAck = RTE_TCP_ACK_FLAG;
constexpr uint8_t kFin = RTE_TCP_FIN_FLAG;
constexpr uint8_t kPsh = RTE_TCP_PSH_FLAG;
constexpr uint8_t kRst = RTE_TCP_RST_FLAG;

struct ZoneOptions {
    uint32_t address = kDnsAddr;
    bool upstreams = false;
    uint32_t rate_limit = 0;
    uint32_t slip = 2;
};

std::shared_ptr<const DnsZone> golden_zone(const ZoneOptions& options = {}) {
    DnsServerParameters parameters;
    parameters.addresses = {options.address};
    parameters.has_upstreams = options.upstreams;
    parameters.rate_limit = options.rate_limit;
    parameters.rate_limit_slip = options.slip;
    DnsZoneBuilder builder("cluster.local", 5, parameters);
    builder.add_a("web.default.svc.cluster.local", 0xC6126401);
    builder.add_srv("_http._tcp.web.default.svc.cluster.local", 0, 100, 80, "web.default.svc.cluster.local");
    builder.add_ptr("1.100.18.198.in-addr.arpa", "web.default.svc.cluster.local");
    builder.add_txt("dns-version.cluster.local", "1.1.0");
    builder.add_cname("ext.default.svc.cluster.local", "www.example.org");
    for (uint32_t i = 0; i < 40; ++i) builder.add_a("big.default.svc.cluster.local", 0xC6130000 + i);
    return builder.build();
}

Bytes query(const std::string& name, uint16_t type = dns::kTypeA, std::optional<uint16_t> edns = std::nullopt) {
    return make_dns_query({.name = name, .type = type, .edns_size = edns});
}

Bytes to_dns(const UdpSpec& udp, uint32_t client = kClientAddr, uint32_t server = kDnsAddr) {
    return test::udp_frame(udp, {.src = client, .dst = server}, from_router());
}

class GoldenDns : public testing::TestWithParam<NatMode> {
protected:
    TopologySpec topology() const {
        TopologySpec spec;
        spec.nat_mode = GetParam();
        return spec;
    }

    // The responder's answer to `message`, as the pipeline must send it back over UDP.
    Bytes expected_udp_answer(const DnsZone& zone, const Bytes& message, uint16_t client_port = kClientPort,
                              DnsAnswerOptions options = {}, uint32_t server = kDnsAddr) {
        Bytes response(2048);
        const DnsAnswer answer = answer_dns_query(zone, message.data(), static_cast<uint32_t>(message.size()), options,
                                                  response.data(), static_cast<uint32_t>(response.size()));
        response.resize(answer.length);
        last_response_ = decode_dns_response(response.data(), response.size());
        return test::udp_frame({.src_port = dns::kPort, .dst_port = client_port, .payload = response},
                               answer_ip(server, kClientAddr), to_router());
    }

    void expect_udp(GoldenHarness& harness, const std::string& description, const Bytes& message, Counters counters) {
        counters["dns_queries_udp"] += 1;
        // Sources are trusted with large answers only when client ranges name them.
        const Bytes expected = expected_udp_answer(*harness.snapshot().dns, message, kClientPort,
                                                   {.client_trusted = harness.snapshot().restricts_clients()});
        harness.check(
            {description,
             to_dns({.src_port = kClientPort, .payload = message}),
             kClientPortId,
             {.verdict = Verdict::Answered, .target = kClientPortId, .frame = expected, .counters = counters}});
    }

    DnsTextResponse last_response_;
};

TEST_P(GoldenDns, AnswersEveryRecordKindInPlace) {
    TopologySpec spec = topology();
    spec.client_ranges = {"198.18.0.0/16"};
    GoldenHarness harness(spec);
    harness.set_dns_zone(golden_zone());
    expect_udp(harness, "A hit", query("web.default.svc.cluster.local"), {{"dns_noerror", 1}});
    EXPECT_EQ(last_response_.records.at(0).data, "198.18.100.1");
    EXPECT_TRUE(last_response_.authoritative);
    expect_udp(harness, "A hit asked in upper case", query("WEB.default.svc.cluster.local"), {{"dns_noerror", 1}});
    EXPECT_EQ(last_response_.question, "WEB.default.svc.cluster.local. IN A");
    expect_udp(harness, "NXDOMAIN", query("nope.default.svc.cluster.local"), {{"dns_nxdomain", 1}});
    EXPECT_EQ(last_response_.rcode, 3);
    EXPECT_EQ(last_response_.records.at(0).type, dns::kTypeSoa);
    expect_udp(harness, "NODATA at a service", query("web.default.svc.cluster.local", dns::kTypeAaaa),
               {{"dns_nodata", 1}});
    expect_udp(harness, "NODATA at the namespace", query("default.svc.cluster.local"), {{"dns_nodata", 1}});
    EXPECT_EQ(last_response_.records.at(0).section, "authority");
    expect_udp(harness, "SRV with its target's A as additional",
               query("_http._tcp.web.default.svc.cluster.local", dns::kTypeSrv), {{"dns_noerror", 1}});
    ASSERT_EQ(last_response_.records.size(), 2u);
    EXPECT_EQ(last_response_.records[1].section, "additional");
    expect_udp(harness, "PTR", query("1.100.18.198.in-addr.arpa", dns::kTypePtr), {{"dns_noerror", 1}});
    EXPECT_EQ(last_response_.records.at(0).data, "web.default.svc.cluster.local.");
    expect_udp(harness, "CNAME for an A query", query("ext.default.svc.cluster.local"), {{"dns_noerror", 1}});
    EXPECT_EQ(last_response_.records.at(0).type, dns::kTypeCname);
    expect_udp(harness, "TXT", query("dns-version.cluster.local", dns::kTypeTxt), {{"dns_noerror", 1}});
    expect_udp(harness, "EDNS: OPT echoed", query("web.default.svc.cluster.local", dns::kTypeA, 4096),
               {{"dns_noerror", 1}});
    EXPECT_EQ(last_response_.edns_size, dns::kServerUdpSize);
    expect_udp(harness, "too big for 512 bytes: TC", query("big.default.svc.cluster.local"),
               {{"dns_noerror", 1}, {"dns_truncated", 1}});
    EXPECT_TRUE(last_response_.truncated);
    expect_udp(harness, "the same with EDNS fits", query("big.default.svc.cluster.local", dns::kTypeA, 1232),
               {{"dns_noerror", 1}});
    EXPECT_EQ(last_response_.records.size(), 40u);
    expect_udp(harness, "out of zone without upstreams: REFUSED", query("example.org"), {{"dns_refused", 1}});
    EXPECT_EQ(last_response_.rcode, 5);
    EXPECT_EQ(harness.connections(0).size(), 0u) << "no connection state for answered queries";
}

TEST_P(GoldenDns, MalformedQueriesAreAnsweredOrDroppedWithTheirReason) {
    GoldenHarness harness(topology());
    harness.set_dns_zone(golden_zone());
    Bytes loop = query("web.default.svc.cluster.local");
    loop[12 + 4] = 0xC0;  // "\3web" then a pointer back to offset 12
    loop[12 + 5] = 0x0C;
    expect_udp(harness, "compression loop: FORMERR", loop, {{"dns_formerr", 1}});
    Bytes opcode = query("web.default.svc.cluster.local");
    opcode[2] |= 0x10;  // opcode 2
    expect_udp(harness, "opcode 2: NOTIMP", opcode, {{"dns_notimp", 1}});
    Bytes version = query("web.default.svc.cluster.local", dns::kTypeA, 1232);
    version[version.size() - 5] = 1;
    expect_udp(harness, "EDNS version 1: BADVERS", version, {{"dns_badvers", 1}});

    Bytes response = query("web.default.svc.cluster.local");
    response[2] |= 0x80;
    harness.check({"QR=1 is never answered",
                   to_dns({.src_port = kClientPort, .payload = response}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped,
                    .reason = DropReason::DnsResponseReceived,
                    .counters = {{"dns_queries_udp", 1}}}});
    harness.check(
        {"shorter than a header",
         to_dns({.src_port = kClientPort, .payload = test::payload_bytes(11)}),
         kClientPortId,
         {.verdict = Verdict::Dropped, .reason = DropReason::DnsMalformed, .counters = {{"dns_queries_udp", 1}}}});
    harness.check(
        {"over 512 bytes",
         to_dns({.src_port = kClientPort, .payload = test::payload_bytes(600)}),
         kClientPortId,
         {.verdict = Verdict::Dropped, .reason = DropReason::DnsTooLarge, .counters = {{"dns_queries_udp", 1}}}});
}

TEST_P(GoldenDns, WithoutClientRangesLargeAnswersAreTruncated) {
    GoldenHarness harness(topology());
    harness.set_dns_zone(golden_zone());
    const Bytes message = query("big.default.svc.cluster.local", dns::kTypeA, 1232);
    expect_udp(harness, "640 bytes of answer to a 58-byte query from anyone: TC", message,
               {{"dns_noerror", 1}, {"dns_truncated", 1}});
    EXPECT_TRUE(last_response_.truncated);
    expect_udp(harness, "a small answer goes out whole", query("web.default.svc.cluster.local", dns::kTypeA, 1232),
               {{"dns_noerror", 1}});
    EXPECT_FALSE(last_response_.truncated);
}

TEST_P(GoldenDns, OnlyClientRangesMayAsk) {
    TopologySpec spec = topology();
    spec.client_ranges = {"198.18.1.0/24"};
    GoldenHarness harness(spec);
    harness.set_dns_zone(golden_zone());
    harness.check({"a source outside the client ranges",
                   to_dns({.src_port = kClientPort, .payload = query("web.default.svc.cluster.local")}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::SourceNotAllowed}});
}

TEST_P(GoldenDns, OutOfZoneQueriesGoToTheUpstreamsThroughTheServicePath) {
    GoldenHarness harness(topology());
    // The web VIP's UDP 53 port plays the upstream service the control plane creates.
    harness.set_dns_zone(golden_zone({.address = kWebVip, .upstreams = true}));
    const Flow flow{.protocol = kProtoUdp, .client_port = kClientPort, .vip = kWebVip, .vip_port = 53};
    const UdpSpec external{.payload = query("example.org")};
    const RunResult result = harness.run(0, client_to_vip(flow, external));
    ASSERT_EQ(result.transmitted.size(), 1u);
    EXPECT_EQ(result.transmitted[0].port_index, kEndpointPortId);
    const std::optional<Translation> translation = harness.translation(flow);
    ASSERT_TRUE(translation.has_value());
    EXPECT_EQ(result.transmitted[0].frame, gateway_to_endpoint(*translation, external));
    EXPECT_EQ(result.counter_changes.at("dns_forwarded_upstream"), 1u);
    EXPECT_EQ(result.counter_changes.at("new_connections"), 1u);

    const UdpSpec upstream_answer{.payload = test::payload_bytes(300, 9)};
    harness.check({"the upstream's answer is relayed unchanged",
                   endpoint_to_gateway(*translation, upstream_answer),
                   kEndpointPortId,
                   {.verdict = Verdict::Forwarded,
                    .target = kClientPortId,
                    .frame = gateway_to_client(flow, upstream_answer),
                    .counters = {{"conntrack_hits", 1}, {"forwarded_to_client", 1}}}});
    const Bytes expected =
        expected_udp_answer(*harness.snapshot().dns, query("web.default.svc.cluster.local"), kClientPort, {}, kWebVip);
    harness.check({"an in-zone query from the same socket is still answered here",
                   client_to_vip(flow, UdpSpec{.payload = query("web.default.svc.cluster.local")}),
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .frame = expected,
                    .counters = {{"dns_queries_udp", 1}, {"dns_noerror", 1}}}});
}

TEST_P(GoldenDns, RateLimitingDropsAndSlips) {
    GoldenHarness harness(topology());
    harness.set_dns_zone(golden_zone({.rate_limit = 2, .slip = 2}));
    const Bytes message = query("web.default.svc.cluster.local");
    expect_udp(harness, "first of the second", message, {{"dns_noerror", 1}});
    expect_udp(harness, "second of the second", message, {{"dns_noerror", 1}});
    harness.check(
        {"third: over the limit, dropped",
         to_dns({.src_port = kClientPort, .payload = message}),
         kClientPortId,
         {.verdict = Verdict::Dropped, .reason = DropReason::DnsRateLimited, .counters = {{"dns_queries_udp", 1}}}});
    Bytes slipped = expected_udp_answer(*harness.snapshot().dns, message, kClientPort, {.force_truncated = true});
    harness.check(
        {"fourth: slipped, TC",
         to_dns({.src_port = kClientPort, .payload = message}),
         kClientPortId,
         {.verdict = Verdict::Answered,
          .target = kClientPortId,
          .frame = slipped,
          .counters = {{"dns_queries_udp", 1}, {"dns_noerror", 1}, {"dns_truncated", 1}, {"dns_slipped", 1}}}});
    EXPECT_TRUE(last_response_.truncated);
    harness.worker(0).now_ms += 1000;
    expect_udp(harness, "a second later", message, {{"dns_noerror", 1}});
}

TEST_P(GoldenDns, TcpHandshakeQueryAndClose) {
    GoldenHarness harness(topology());
    harness.set_dns_zone(golden_zone());
    const FlowKey4 key{kClientAddr, kDnsAddr, rte_cpu_to_be_16(kClientPort), rte_cpu_to_be_16(53), kProtoTcp};
    const uint32_t isn =
        static_cast<uint32_t>(siphash(harness.worker(0).dns_tcp_key, uint64_t{key.src_addr} << 32 | key.dst_addr,
                                      uint64_t{key.src_port} << 16 | key.dst_port));
    auto from_client = [](TcpSpec tcp) {
        tcp.src_port = kClientPort;
        tcp.dst_port = 53;
        return test::tcp_frame(tcp, {.src = kClientAddr, .dst = kDnsAddr}, from_router());
    };
    auto to_client = [](TcpSpec tcp) {
        tcp.src_port = 53;
        tcp.dst_port = kClientPort;
        return test::tcp_frame(tcp, answer_ip(kDnsAddr, kClientAddr), to_router());
    };
    const Bytes mss_sack = {2, 4, 0x05, 0xB4, 1, 1, 4, 2};
    harness.check({"SYN -> SYN-ACK with a keyed ISN and our MSS",
                   from_client({.seq = 1000, .flags = kSyn, .options = mss_sack}),
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .frame = to_client({.seq = isn, .ack = 1001, .flags = kSyn | kAck, .options = {2, 4, 0x05, 0xB4}}),
                    .counters = {{"dns_tcp_control_sent", 1}}}});
    harness.check({"the handshake's ACK",
                   from_client({.seq = 1001, .ack = isn + 1, .flags = kAck}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::DnsTcpNoQuery}});

    const Bytes message = query("web.default.svc.cluster.local");
    Bytes framed = {0, static_cast<uint8_t>(message.size())};
    framed.insert(framed.end(), message.begin(), message.end());
    Bytes response(1500);
    const DnsAnswer answer =
        answer_dns_query(*harness.snapshot().dns, message.data(), static_cast<uint32_t>(message.size()),
                         {.transport = DnsTransport::Tcp}, response.data(), 1500);
    response.resize(answer.length);
    Bytes framed_response = {0, static_cast<uint8_t>(response.size())};
    framed_response.insert(framed_response.end(), response.begin(), response.end());
    const uint32_t query_end = 1001 + static_cast<uint32_t>(framed.size());
    harness.check({"the query -> the answer, ACK, PSH, FIN",
                   from_client({.seq = 1001, .ack = isn + 1, .flags = kAck | kPsh, .payload = framed}),
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .frame = to_client(
                        {.seq = isn + 1, .ack = query_end, .flags = kAck | kPsh | kFin, .payload = framed_response}),
                    .counters = {{"dns_queries_tcp", 1}, {"dns_noerror", 1}}}});
    const uint32_t our_fin_end = isn + 1 + static_cast<uint32_t>(framed_response.size()) + 1;
    harness.check({"the client's FIN is acknowledged",
                   from_client({.seq = query_end, .ack = our_fin_end, .flags = kFin | kAck}),
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .frame = to_client({.seq = our_fin_end, .ack = query_end + 1, .flags = kAck}),
                    .counters = {{"dns_tcp_control_sent", 1}}}});

    harness.check({"a query that does not acknowledge our ISN gets a RST",
                   from_client({.seq = 1001, .ack = isn + 7, .flags = kAck | kPsh, .payload = framed}),
                   kClientPortId,
                   {.verdict = Verdict::Answered,
                    .target = kClientPortId,
                    .reason = DropReason::DnsTcpBadAck,
                    .frame = test::tcp_frame(
                        {.src_port = 53, .dst_port = kClientPort, .seq = isn + 7, .ack = 0, .flags = kRst, .window = 0},
                        answer_ip(kDnsAddr, kClientAddr), to_router()),
                    .counters = {{"resets_sent", 1}}}});
    harness.check({"half a query waits for the retransmission",
                   from_client({.seq = 1001,
                                .ack = isn + 1,
                                .flags = kAck | kPsh,
                                .payload = Bytes(framed.begin(), framed.begin() + 10)}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::DnsTcpIncomplete}});
    harness.check({"a RST is dropped silently",
                   from_client({.seq = 1001, .flags = kRst}),
                   kClientPortId,
                   {.verdict = Verdict::Dropped, .reason = DropReason::DnsTcpReset}});
    Bytes external = query("example.org");
    Bytes framed_external = {0, static_cast<uint8_t>(external.size())};
    framed_external.insert(framed_external.end(), external.begin(), external.end());
    const RunResult refused =
        harness.run(0, from_client({.seq = 1001, .ack = isn + 1, .flags = kAck | kPsh, .payload = framed_external}));
    EXPECT_EQ(refused.counter_changes.at("dns_refused"), 1u) << "out of zone over TCP: REFUSED";
    ASSERT_EQ(refused.transmitted.size(), 1u);
    const Bytes& segment = refused.transmitted[0].frame;
    const size_t dns_at = 14 + 20 + 20 + 2;
    ASSERT_GT(segment.size(), dns_at + 12);
    EXPECT_EQ(decode_dns_response(segment.data() + dns_at, segment.size() - dns_at).rcode, 5);
}

INSTANTIATE_TEST_SUITE_P(BothNatModes, GoldenDns, testing::Values(NatMode::FullNat, NatMode::DnatOnly), mode_name);

}  // namespace
}  // namespace vipgate::golden
