// vipgen's DNS query mode is itself tested: the names file, the answer checker (every way an
// answer can be wrong is counted as what it is), the outstanding-ID window, the client mapping,
// and a query built from its template that a hand-made answer then satisfies.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

#include <rte_mbuf.h>

#include "pktgen/checker.h"
#include "pktgen/dns_answer_check.h"
#include "pktgen/dns_flows.h"
#include "pktgen/dns_mode.h"
#include "pktgen/dns_names.h"
#include "pktgen/dns_query_factory.h"
#include "pktgen/packet_factory.h"

namespace vipgen {
namespace {

constexpr uint16_t kTypeA = 1, kTypeCname = 5, kTypeSoa = 6, kTypeSrv = 33;

DnsName name_of(const std::string& line) {
    return parse_dns_names(line, "test")[0];
}

// Builds a DNS message the way a server would (owner names as pointers to the question).
class Message {
public:
    Message(const DnsName& question, uint16_t flags, uint16_t id = 0x1234, uint16_t type = 0) {
        put16(id);
        put16(flags);
        put16(1);
        put16(0);
        put16(0);
        put16(0);
        bytes.insert(bytes.end(), question.wire.begin(), question.wire.end());
        put16(type != 0 ? type : question.type);
        put16(1);
    }
    Message& answer(uint16_t type, std::vector<uint8_t> data) { return record(6, type, std::move(data)); }
    Message& authority(uint16_t type, std::vector<uint8_t> data) { return record(8, type, std::move(data)); }
    Message& additional(uint16_t type, std::vector<uint8_t> data) { return record(10, type, std::move(data)); }
    Message& a(uint32_t address) {
        return answer(kTypeA, {static_cast<uint8_t>(address >> 24), static_cast<uint8_t>(address >> 16),
                               static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)});
    }
    Message& soa() { return authority(kTypeSoa, std::vector<uint8_t>(22, 0)); }
    DnsCheck check(const DnsName& asked) const {
        return check_dns_answer(bytes.data(), static_cast<uint32_t>(bytes.size()), asked);
    }

    std::vector<uint8_t> bytes;

private:
    void put16(uint16_t v) {
        bytes.push_back(static_cast<uint8_t>(v >> 8));
        bytes.push_back(static_cast<uint8_t>(v));
    }
    Message& record(size_t count_offset, uint16_t type, std::vector<uint8_t> data) {
        ++bytes[count_offset + 1];
        put16(0xc00c);
        put16(type);
        put16(1);
        put16(0);
        put16(5);
        put16(static_cast<uint16_t>(data.size()));
        bytes.insert(bytes.end(), data.begin(), data.end());
        return *this;
    }
};

constexpr uint16_t kAnswer = 0x8180;  // QR, RD, RA
constexpr uint16_t kNxDomain = kAnswer | 3;

// ---- the names file ----

TEST(DnsNames, ParsesEveryKindOfExpectation) {
    const auto names = parse_dns_names(
        "# comment\n"
        "\n"
        "web.default.svc.cluster.local. A 198.18.128.12,198.18.128.10  # trailing comment\n"
        "nope.default.svc.cluster.local a nxdomain\n"
        "web.default.svc.cluster.local AAAA NODATA\n"
        "_http._tcp.web.default.svc.cluster.local SRV NOERROR\n"
        "outside.example 65 REFUSED\n",
        "names.txt");
    ASSERT_EQ(names.size(), 5u);
    EXPECT_EQ(names[0].text, "web.default.svc.cluster.local");
    EXPECT_EQ(names[0].wire.size(), 31u);
    EXPECT_EQ(names[0].wire[0], 3);
    EXPECT_EQ(names[0].wire.back(), 0);
    EXPECT_EQ(names[0].outcome, DnsOutcome::Addresses);
    EXPECT_EQ(names[0].addresses, (std::vector<uint32_t>{0xC612800A, 0xC612800C}));  // sorted
    EXPECT_EQ(names[1].outcome, DnsOutcome::NxDomain);
    EXPECT_EQ(names[1].rcode, kDnsRcodeNxDomain);
    EXPECT_EQ(names[2].type, 28);
    EXPECT_EQ(names[2].outcome, DnsOutcome::NoData);
    EXPECT_EQ(names[3].type, kTypeSrv);
    EXPECT_EQ(names[3].outcome, DnsOutcome::NoError);
    EXPECT_EQ(names[4].type, 65);
    EXPECT_EQ(names[4].rcode, kDnsRcodeRefused);
}

TEST(DnsNames, BadLinesNameTheLineAndTheProblem) {
    auto problem = [](const std::string& text) {
        try {
            parse_dns_names(text, "n.txt");
        } catch (const std::runtime_error& error) {
            return std::string(error.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(problem("a.b A 198.18.0.1\nc.d A\n"), "n.txt:2: expected 'NAME TYPE EXPECTED', got 2 field(s)");
    EXPECT_NE(problem("a.b BOGUS 198.18.0.1").find("n.txt:1: unknown type 'BOGUS'"), std::string::npos);
    EXPECT_NE(problem("a.b A 198.18.0.300").find("is neither IPv4 addresses"), std::string::npos);
    EXPECT_NE(problem("a.b A 198.18.0.1,").find("is neither IPv4 addresses"), std::string::npos);
    EXPECT_NE(problem("a.b SRV 198.18.0.1").find("only be expected for type A"), std::string::npos);
    EXPECT_NE(problem("a..b A NXDOMAIN").find("empty label"), std::string::npos);
    EXPECT_NE(problem(std::string(64, 'x') + ".b A NXDOMAIN").find("over 63 bytes"), std::string::npos);
    std::string long_name;
    for (int i = 0; i < 51; ++i) long_name += "abcd.";  // 51 x 5 + 1 + 2: 258 bytes
    long_name += "x";
    EXPECT_NE(problem(long_name + " A NXDOMAIN").find("over 255 bytes"), std::string::npos);
    EXPECT_EQ(problem("# nothing\n"), "n.txt: no names (lines 'NAME TYPE EXPECTED')");
    EXPECT_EQ(problem(". NS NOERROR"), "accepted");  // the root
}

// ---- the answer checker ----

TEST(DnsAnswerCheck, RightAnswersPass) {
    const DnsName one = name_of("web.default.svc.cluster.local A 198.18.128.10");
    EXPECT_EQ(Message(one, kAnswer).a(0xC612800A).check(one), DnsCheck::Ok);

    const DnsName three = name_of("db.default.svc.cluster.local A 198.18.2.11,198.18.2.12,198.18.2.13");
    EXPECT_EQ(Message(three, kAnswer).a(0xC612020D).a(0xC612020B).a(0xC612020C).check(three), DnsCheck::Ok)
        << "any order";

    DnsName upper = one;
    std::transform(upper.wire.begin(), upper.wire.end(), upper.wire.begin(),
                   [](uint8_t c) { return c >= 'a' && c <= 'z' ? static_cast<uint8_t>(c - 32) : c; });
    EXPECT_EQ(Message(upper, kAnswer).a(0xC612800A).check(one), DnsCheck::Ok) << "names compare without case";

    EXPECT_EQ(Message(one, kAnswer).answer(kTypeCname, {3, 'w', 'e', 'b', 0xc0, 0x0c}).a(0xC612800A).check(one),
              DnsCheck::Ok)
        << "a CNAME before the address";
    EXPECT_EQ(Message(one, kAnswer).a(0xC612800A).additional(41, {}).check(one), DnsCheck::Ok) << "an OPT record";

    const DnsName srv = name_of("_http._tcp.web.default.svc.cluster.local SRV NOERROR");
    EXPECT_EQ(Message(srv, kAnswer).answer(kTypeSrv, std::vector<uint8_t>(8, 0)).check(srv), DnsCheck::Ok);
    const DnsName nodata = name_of("web.default.svc.cluster.local AAAA NODATA");
    EXPECT_EQ(Message(nodata, kAnswer).soa().check(nodata), DnsCheck::Ok);
    const DnsName nx = name_of("nope.default.svc.cluster.local A NXDOMAIN");
    EXPECT_EQ(Message(nx, kNxDomain).soa().check(nx), DnsCheck::Ok);
    const DnsName refused = name_of("example.org A REFUSED");
    EXPECT_EQ(Message(refused, kAnswer | 5).check(refused), DnsCheck::Ok);
}

TEST(DnsAnswerCheck, WrongAnswersAreCountedAsWhatTheyAre) {
    const DnsName web = name_of("web.default.svc.cluster.local A 198.18.128.10");
    EXPECT_EQ(Message(web, 0x0100).a(0xC612800A).check(web), DnsCheck::NotAnswer) << "QR clear: a query";
    EXPECT_EQ(Message(web, kAnswer | 0x2000).a(0xC612800A).check(web), DnsCheck::NotAnswer) << "opcode 4 (NOTIFY)";
    EXPECT_EQ(Message(web, kAnswer | 0x0200).check(web), DnsCheck::Truncated);
    EXPECT_EQ(Message(name_of("other.default.svc.cluster.local A 198.18.128.10"), kAnswer).a(0xC612800A).check(web),
              DnsCheck::WrongQuestion);
    EXPECT_EQ(Message(name_of("web.default.svc.cluster A 198.18.128.10"), kAnswer).a(0xC612800A).check(web),
              DnsCheck::WrongQuestion)
        << "a shorter name";
    EXPECT_EQ(Message(web, kAnswer, 1, 28).a(0xC612800A).check(web), DnsCheck::WrongQuestion) << "another type";
    Message no_question(web, kAnswer);
    no_question.bytes[5] = 0;
    EXPECT_EQ(no_question.check(web), DnsCheck::WrongQuestion);

    EXPECT_EQ(Message(web, kNxDomain).soa().check(web), DnsCheck::WrongRcode);
    EXPECT_EQ(Message(web, kAnswer | 2).check(web), DnsCheck::WrongRcode);
    EXPECT_EQ(Message(web, kAnswer).a(0xC612800B).check(web), DnsCheck::WrongRecords) << "another address";
    EXPECT_EQ(Message(web, kAnswer).check(web), DnsCheck::WrongRecords) << "no address";
    EXPECT_EQ(Message(web, kAnswer).a(0xC612800A).a(0xC612800B).check(web), DnsCheck::WrongRecords) << "one too many";

    const DnsName two = name_of("db.default.svc.cluster.local A 198.18.2.11,198.18.2.12");
    EXPECT_EQ(Message(two, kAnswer).a(0xC612020B).a(0xC612020B).check(two), DnsCheck::WrongRecords)
        << "a duplicate instead of the second pod";
    EXPECT_EQ(Message(two, kAnswer).a(0xC612020B).a(0xC612020C).a(0xC612020D).check(two), DnsCheck::WrongRecords)
        << "a pod that is no longer ready";

    const DnsName nodata = name_of("web.default.svc.cluster.local AAAA NODATA");
    EXPECT_EQ(Message(nodata, kAnswer).check(nodata), DnsCheck::WrongRecords) << "NODATA without the SOA";
    EXPECT_EQ(Message(nodata, kAnswer).answer(28, std::vector<uint8_t>(16, 0)).soa().check(nodata),
              DnsCheck::WrongRecords);
    EXPECT_EQ(Message(nodata, kNxDomain).soa().check(nodata), DnsCheck::WrongRcode) << "NXDOMAIN is not NODATA";
    Message soa_in_answer(nodata, kAnswer);
    soa_in_answer.answer(kTypeSoa, std::vector<uint8_t>(22, 0));
    EXPECT_EQ(soa_in_answer.check(nodata), DnsCheck::WrongRecords);
    const DnsName nx = name_of("nope.default.svc.cluster.local A NXDOMAIN");
    EXPECT_EQ(Message(nx, kNxDomain).check(nx), DnsCheck::WrongRecords) << "NXDOMAIN without the SOA";
    const DnsName srv = name_of("_http._tcp.web.default.svc.cluster.local SRV NOERROR");
    EXPECT_EQ(Message(srv, kAnswer).check(srv), DnsCheck::WrongRecords) << "NOERROR with nothing in it";
}

TEST(DnsAnswerCheck, MalformedMessagesNeverReadPastTheEnd) {
    const DnsName web = name_of("web.default.svc.cluster.local A 198.18.128.10");
    const Message good = Message(web, kAnswer).a(0xC612800A);
    for (size_t length = 0; length < good.bytes.size(); ++length) {
        // Exactly sized copies, so a read past the end is a heap overflow under ASan.
        std::vector<uint8_t> cut(good.bytes.begin(), good.bytes.begin() + static_cast<std::ptrdiff_t>(length));
        const DnsCheck check = check_dns_answer(cut.data(), static_cast<uint32_t>(cut.size()), web);
        EXPECT_EQ(check, DnsCheck::Malformed) << "cut to " << length << " bytes";
    }
    Message long_data = good;
    long_data.bytes[long_data.bytes.size() - 5] = 5;  // rdlength 5, 4 bytes follow
    EXPECT_EQ(long_data.check(web), DnsCheck::Malformed);
    Message a_of_five = good;
    a_of_five.bytes.push_back(0);
    a_of_five.bytes[a_of_five.bytes.size() - 6] = 5;  // an A record of 5 bytes
    EXPECT_EQ(a_of_five.check(web), DnsCheck::Malformed);
    Message counts_lie = good;
    counts_lie.bytes[7] = 2;  // two answers, one present
    EXPECT_EQ(counts_lie.check(web), DnsCheck::Malformed);
    Message reserved_label = good;
    reserved_label.bytes[12] = 0x40;
    EXPECT_EQ(reserved_label.check(web), DnsCheck::Malformed);

    // An owner name of 200 one-byte labels: more labels than any legal name has.
    Message many_labels(web, kAnswer);
    many_labels.bytes[7] = 1;
    for (int i = 0; i < 200; ++i) many_labels.bytes.insert(many_labels.bytes.end(), {1, 'x'});
    many_labels.bytes.insert(many_labels.bytes.end(), {0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 198, 18, 128, 10});
    EXPECT_EQ(many_labels.check(web), DnsCheck::Malformed);
}

// ---- outstanding queries, clients, names ----

TEST(DnsQueryTable, AcceptsEachOutstandingIdOnce) {
    DnsQueryTable table(4);
    uint32_t tsc = 0;
    EXPECT_FALSE(table.accept(0, 1, tsc)) << "nothing sent yet";
    EXPECT_EQ(table.next_id(0, 100), 1);
    EXPECT_EQ(table.next_id(0, 200), 2);
    EXPECT_EQ(table.next_id(0, 300), 3);
    EXPECT_FALSE(table.accept(0, 4, tsc)) << "not sent yet";
    EXPECT_FALSE(table.accept(1, 1, tsc)) << "another flow's ID";
    EXPECT_TRUE(table.accept(0, 1, tsc));
    EXPECT_EQ(tsc, 0u) << "not the newest query: no latency sample";
    EXPECT_FALSE(table.accept(0, 1, tsc)) << "a duplicate";
    EXPECT_TRUE(table.accept(0, 3, tsc)) << "2 was lost";
    EXPECT_EQ(tsc, 300u);
    EXPECT_FALSE(table.accept(0, 2, tsc)) << "late, after a newer answer";
    EXPECT_FALSE(table.accept(0, 3, tsc));
}

TEST(DnsQueryTable, IdsWrapAround) {
    DnsQueryTable table(1);
    uint32_t tsc = 0;
    for (uint32_t i = 1; i <= 65534; ++i) {
        table.next_id(0, 1);
        ASSERT_TRUE(table.accept(0, static_cast<uint16_t>(i), tsc)) << i;
    }
    EXPECT_EQ(table.next_id(0, 7), 65535);
    EXPECT_EQ(table.next_id(0, 8), 0);
    EXPECT_EQ(table.next_id(0, 9), 1);
    EXPECT_TRUE(table.accept(0, 65535, tsc));
    EXPECT_TRUE(table.accept(0, 0, tsc));
    EXPECT_TRUE(table.accept(0, 1, tsc));
    EXPECT_EQ(tsc, 9u);
    EXPECT_FALSE(table.accept(0, 65535, tsc));
}

TEST(DnsClients, FlowToClientAndBack) {
    const DnsClients clients(ClientSpace{0xC6130000u, 256, 1024, 3071});  // 256 addresses x 2048 ports
    EXPECT_EQ(clients.size(), 256u * 2048u);
    std::set<std::pair<uint32_t, uint16_t>> seen;
    for (uint32_t flow = 0; flow < 5000; ++flow) {
        uint32_t back = 0;
        ASSERT_TRUE(clients.flow_of(clients.address(flow), clients.port(flow), back));
        EXPECT_EQ(back, flow);
        seen.insert({clients.address(flow), clients.port(flow)});
    }
    EXPECT_EQ(seen.size(), 5000u);
    EXPECT_NE(clients.address(0), clients.address(1)) << "consecutive flows are different sources";
    uint32_t flow = 0;
    EXPECT_FALSE(clients.flow_of(0xC6130100u, 1024, flow)) << "address past the prefix";
    EXPECT_FALSE(clients.flow_of(0xC612FFFFu, 1024, flow)) << "address before the prefix";
    EXPECT_FALSE(clients.flow_of(0xC6130000u, 1023, flow)) << "port before the range";
    EXPECT_FALSE(clients.flow_of(0xC6130000u, 3072, flow)) << "port past the range";
}

TEST(DnsNameIndex, EveryNameIsAsked) {
    for (uint32_t names : {1u, 7u, 1000u, 10000u}) {
        std::set<uint32_t> asked;
        for (uint32_t flow = 0; flow < 1024; ++flow) {
            for (uint16_t id = 1; id <= 12; ++id) asked.insert(dns_name_index(flow, id, 1024, names));
        }
        EXPECT_EQ(asked.size(), names);
        EXPECT_LT(*asked.rbegin(), names);
    }
}

// ---- a query from its template, answered ----

class DnsModeTest : public ::testing::Test {
protected:
    void SetUp() override {
        pool_ = rte_pktmbuf_pool_create("dns_mode_test", 64, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr);
    }
    void TearDown() override { rte_mempool_free(pool_); }

    // Turns the query in `frame` into the server's answer: addresses and ports swapped, QR set,
    // one A record.
    static std::vector<uint8_t> answer_to(const uint8_t* frame, uint32_t length, uint32_t address) {
        std::vector<uint8_t> l4(frame + kL4Offset, frame + length);
        std::swap_ranges(l4.begin(), l4.begin() + 2, l4.begin() + 2);
        l4[8 + 2] |= 0x80;
        l4[8 + 7] = 1;
        const uint8_t record[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4};
        l4.insert(l4.end(), record, record + sizeof(record));
        for (int shift = 24; shift >= 0; shift -= 8) l4.push_back(static_cast<uint8_t>(address >> shift));
        return l4;
    }

    rte_mempool* pool_ = nullptr;
    const rte_ether_addr our_mac_{{0x02, 0, 0, 0, 0, 0x10}};
    const rte_ether_addr gateway_mac_{{0x02, 0, 0, 0, 0, 0x01}};
};

TEST_F(DnsModeTest, QueriesAreValidAndTheirAnswersCheck) {
    constexpr uint32_t kServer = 0xC612640A;  // 198.18.100.10
    const ClientSpace clients{0xC6130000u, 1u << 16, 1024, 65535};
    DnsMode dns(parse_dns_names("web.default.svc.cluster.local A 198.18.128.10\n"
                                "NOPE.default.svc.cluster.local A NXDOMAIN\n",
                                "t"),
                kServer, clients, 64, our_mac_, gateway_mac_);
    const DnsClients mapping(clients);
    for (uint32_t flow : {0u, 1u, 63u}) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        ASSERT_NE(m, nullptr);
        const uint16_t frame_size = dns.build_query(m, flow, 1234);
        ASSERT_EQ(rte_pktmbuf_data_len(m), frame_size);
        const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
        ReceivedPacket query{};
        Verdict verdict = Verdict::Ok;
        ASSERT_EQ(parse_frame(frame, frame_size, query, verdict), FrameType::Ipv4);
        EXPECT_EQ(verdict, Verdict::Ok) << "IPv4 and UDP checksums";
        EXPECT_EQ(query.source, mapping.address(flow));
        EXPECT_EQ(query.source_port, mapping.port(flow));
        EXPECT_EQ(query.destination, kServer);
        EXPECT_EQ(query.destination_port, 53);
        EXPECT_EQ(std::memcmp(frame, gateway_mac_.addr_bytes, 6), 0);
        const uint8_t* message = frame + kUdpPayloadOffset;
        EXPECT_EQ(message[0] << 8 | message[1], 1) << "a flow's first query has ID 1";
        EXPECT_EQ(message[2], 0x01) << "RD";
        const DnsName& asked = dns.names()[dns_name_index(flow, 1, 64, 2)];
        EXPECT_EQ(std::memcmp(message + 12, asked.wire.data(), asked.wire.size()), 0);

        std::vector<uint8_t> l4 = answer_to(frame, kIpOffset + 20 + query.l4_length, 0xC612800A);
        ReceivedPacket answer = query;
        std::swap(answer.source, answer.destination);
        std::swap(answer.source_port, answer.destination_port);
        answer.l4 = l4.data();
        answer.l4_length = static_cast<uint32_t>(l4.size());
        uint32_t tx_tsc = 0;
        const Verdict expected = asked.outcome == DnsOutcome::Addresses ? Verdict::Ok : Verdict::DnsWrongRcode;
        EXPECT_EQ(dns.check_answer(answer, tx_tsc), expected) << asked.text;
        EXPECT_EQ(tx_tsc, 1234u);
        EXPECT_EQ(dns.check_answer(answer, tx_tsc), Verdict::DnsWrongId) << "the same answer twice";

        ReceivedPacket elsewhere = answer;
        elsewhere.source = kServer + 1;
        EXPECT_EQ(dns.check_answer(elsewhere, tx_tsc), Verdict::WrongReply) << "from another address";
        elsewhere = answer;
        elsewhere.destination = 0xC6140000u;
        EXPECT_EQ(dns.check_answer(elsewhere, tx_tsc), Verdict::WrongReply) << "to no client of ours";
        elsewhere = answer;
        elsewhere.destination_port = mapping.port(64);  // a client beyond --flows
        elsewhere.destination = mapping.address(64);
        EXPECT_EQ(dns.check_answer(elsewhere, tx_tsc), Verdict::WrongReply);
        rte_pktmbuf_free(m);
    }
}

}  // namespace
}  // namespace vipgen
