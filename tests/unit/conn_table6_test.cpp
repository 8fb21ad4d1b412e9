// The IPv6 connection table: both directions in both NAT shapes (the reply key rebuilt from the
// entry), collisions, eviction order, ageing and the state machine through the table. The
// mechanism is shared with IPv4 (conn_index.h), so these check the IPv6 instance's own parts
// and that the shared ones behave the same with the wider entry.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include <rte_byteorder.h>
#include <rte_memory.h>

#include "dataplane/conn_table.h"
#include "dataplane/conn_table6.h"
#include "dataplane/half_open_admission.h"

namespace vipgate {
namespace {

constexpr uint32_t kSeed = 0x5eed1234;
constexpr ConnTimeouts kTimeouts{.tcp_syn_ms = 5'000,
                                 .tcp_established_ms = 3'600'000,
                                 .tcp_closing_ms = 60'000,
                                 .tcp_closed_ms = 10'000,
                                 .udp_ms = 30'000,
                                 .icmp_ms = 10'000,
                                 .udp_unreplied_ms = 20'000};

struct Table6Deleter {
    void operator()(ConnTable6* table) const { ConnTable6::destroy(table); }
};
using Table6Ptr = std::unique_ptr<ConnTable6, Table6Deleter>;

constexpr uint8_t kSnatSlot = 3;
// 2001:db8:5::1, the SNAT address in slot kSnatSlot.
constexpr uint8_t kSnatAddress[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

Table6Ptr make_table(uint32_t capacity) {
    Table6Ptr table(ConnTable6::create(capacity, kSeed, SOCKET_ID_ANY));
    EXPECT_NE(table, nullptr) << "ConnTable6::create(" << capacity << ") failed";
    if (table != nullptr) {
        EXPECT_TRUE(table->set_snat_address(kSnatSlot, kSnatAddress));
    }
    return table;
}

// 2001:db8:<group>::<low> with a 32-bit low part.
void make_address(uint8_t (&address)[16], uint16_t group, uint32_t low) {
    std::memset(address, 0, sizeof(address));
    address[0] = 0x20;
    address[1] = 0x01;
    address[2] = 0x0d;
    address[3] = 0xb8;
    address[4] = static_cast<uint8_t>(group >> 8);
    address[5] = static_cast<uint8_t>(group);
    const uint32_t low_be = rte_cpu_to_be_32(low);
    std::memcpy(address + 12, &low_be, sizeof(low_be));
}

struct Flow6 {
    FlowKey6 original;   // client -> VIP
    ReplySide6 reply;    // what the table builds the reply key from
    FlowKey6 reply_key;  // endpoint -> client (DNAT-only) or endpoint -> SNAT address (full-NAT)
};

// Flow number n: client 2001:db8:1::<n / 50000> port 10000 + n % 50000 to the VIP
// 2001:db8:2::a port 80, to one of 16 endpoints 2001:db8:3::<1..16> port 8080. Full-NAT
// replies go to the SNAT address, port 1024 + n % 60000 (distinct for the flows a test uses).
Flow6 make_flow(uint32_t n, bool full_nat, uint8_t protocol = kProtoTcp) {
    Flow6 flow;
    make_address(flow.original.src_addr, 1, n / 50'000);
    make_address(flow.original.dst_addr, 2, 0xa);
    flow.original.src_port = rte_cpu_to_be_16(static_cast<uint16_t>(10'000 + n % 50'000));
    flow.original.dst_port = rte_cpu_to_be_16(80);
    flow.original.protocol = protocol;

    make_address(flow.reply.endpoint_addr, 3, 1 + n % 16);
    flow.reply.endpoint_port = rte_cpu_to_be_16(8080);
    flow.reply.dst_port =
        full_nat ? rte_cpu_to_be_16(static_cast<uint16_t>(1024 + n % 60'000)) : flow.original.src_port;
    flow.reply.snat_slot = full_nat ? kSnatSlot : Connection6::kDnatOnly;

    std::memcpy(flow.reply_key.src_addr, flow.reply.endpoint_addr, 16);
    std::memcpy(flow.reply_key.dst_addr, full_nat ? kSnatAddress : flow.original.src_addr, 16);
    flow.reply_key.src_port = flow.reply.endpoint_port;
    flow.reply_key.dst_port = flow.reply.dst_port;
    flow.reply_key.protocol = protocol;
    return flow;
}

InsertResult6 insert_flow(ConnTable6& table, const Flow6& flow, TcpState state, uint32_t now_ms,
                          const ConnTimeouts& timeouts = kTimeouts) {
    return table.insert(flow.original, flow.reply, state, now_ms, timeouts);
}

TEST(ConnTable6, EntryLayoutAndBytesPerConnection) {
    static_assert(sizeof(Connection6) == 96 && alignof(Connection6) == 32);
    Table6Ptr table6 = make_table(100'000);
    ASSERT_NE(table6, nullptr);
    // 96-byte entry + 21.3 bytes of index (two keys at load 0.6 in 64-byte 10-slot buckets) +
    // the table object (with its SNAT slots) over 100k entries.
    EXPECT_EQ(table6->bytes_per_connection(), 118u);
    EXPECT_LE(table6->bytes_per_connection(), 128u);  // the goal

    ConnTable* table4 = ConnTable::create(100'000, kSeed, SOCKET_ID_ANY);
    ASSERT_NE(table4, nullptr);
    EXPECT_EQ(table4->bytes_per_connection(), 86u);  // 64 + 21.3 + the object
    ConnTable::destroy(table4);
}

TEST(ConnTable6, InsertAndLookupBothDirectionsInBothNatShapes) {
    Table6Ptr table = make_table(1024);
    for (const bool full_nat : {false, true}) {
        SCOPED_TRACE(full_nat ? "full-NAT" : "DNAT-only");
        const Flow6 flow = make_flow(full_nat ? 7 : 8, full_nat);
        const InsertResult6 inserted = insert_flow(*table, flow, TcpState::SynSent, 1000);
        ASSERT_EQ(inserted.status, InsertStatus::Inserted);
        ASSERT_NE(inserted.connection, nullptr);
        EXPECT_EQ(inserted.connection->original, flow.original);
        EXPECT_EQ(table->reply_key(*inserted.connection), flow.reply_key);

        const ConnLookupResult6 original = table->lookup(flow.original);
        EXPECT_EQ(original.connection, inserted.connection);
        EXPECT_EQ(original.direction, FlowDirection::Original);
        const ConnLookupResult6 reply = table->lookup(flow.reply_key);
        EXPECT_EQ(reply.connection, inserted.connection);
        EXPECT_EQ(reply.direction, FlowDirection::Reply);
    }
    EXPECT_EQ(table->size(), 2u);
    EXPECT_FALSE(table->set_snat_address(Connection6::kDnatOnly, kSnatAddress));  // not a slot
}

// A Reply-direction candidate must match in every field of the rebuilt key (the index holds
// only a 16-bit signature): keys that differ from a real reply in one field each are refused.
TEST(ConnTable6, ReplyLookupComparesEveryRebuiltField) {
    Table6Ptr table = make_table(1024);
    const Flow6 dnat = make_flow(1, false);
    const Flow6 full = make_flow(2, true);
    ASSERT_EQ(insert_flow(*table, dnat, TcpState::Established, 0).status, InsertStatus::Inserted);
    ASSERT_EQ(insert_flow(*table, full, TcpState::Established, 0).status, InsertStatus::Inserted);
    for (const Flow6* flow : {&dnat, &full}) {
        std::vector<FlowKey6> near_misses(7, flow->reply_key);
        near_misses[0].src_addr[15] ^= 1;
        near_misses[1].dst_addr[15] ^= 1;
        near_misses[2].src_port ^= 1;
        near_misses[3].dst_port ^= 1;
        near_misses[4].protocol = kProtoUdp;
        near_misses[5].padding[1] = 1;
        std::memcpy(near_misses[6].dst_addr, flow == &dnat ? kSnatAddress : flow->original.src_addr, 16);
        const Connection6* connection = table->lookup(flow->original).connection;
        ASSERT_NE(connection, nullptr);
        EXPECT_TRUE(table->reply_matches(*connection, flow->reply_key));
        for (const FlowKey6& key : near_misses) {
            EXPECT_FALSE(table->reply_matches(*connection, key));
            EXPECT_EQ(table->lookup(key).connection, nullptr);
        }
        EXPECT_EQ(table->lookup(flow->reply_key).connection, connection);
    }
}

TEST(ConnTable6, DuplicateAndReplyClashReturnExisting) {
    Table6Ptr table = make_table(64);
    const Flow6 flow = make_flow(5, true);
    const InsertResult6 first = insert_flow(*table, flow, TcpState::SynSent, 0);
    ASSERT_EQ(first.status, InsertStatus::Inserted);
    EXPECT_EQ(insert_flow(*table, flow, TcpState::SynSent, 10).connection, first.connection);
    EXPECT_EQ(insert_flow(*table, flow, TcpState::SynSent, 10).status, InsertStatus::Exists);
    // Another client whose reply would reuse the same SNAT port to the same endpoint.
    Flow6 clash = make_flow(6, true);
    std::memcpy(clash.reply.endpoint_addr, flow.reply.endpoint_addr, 16);
    clash.reply.dst_port = flow.reply.dst_port;
    EXPECT_EQ(insert_flow(*table, clash, TcpState::SynSent, 10).status, InsertStatus::Exists);
    EXPECT_EQ(table->size(), 1u);
}

TEST(ConnTable6, RemoveUnlinksBothKeys) {
    Table6Ptr table = make_table(64);
    for (const bool full_nat : {false, true}) {
        const Flow6 flow = make_flow(9, full_nat);
        const InsertResult6 inserted = insert_flow(*table, flow, TcpState::Established, 0);
        ASSERT_EQ(inserted.status, InsertStatus::Inserted);
        table->remove(inserted.connection);
        EXPECT_EQ(table->lookup(flow.original).connection, nullptr);
        EXPECT_EQ(table->lookup(flow.reply_key).connection, nullptr);
        EXPECT_EQ(table->size(), 0u);
    }
}

// 25 connections whose original keys share one home bucket (2.5 buckets' worth): every key is
// found in both directions, by lookup and lookup_bulk, past the full home bucket.
TEST(ConnTable6, CollisionsInOneBucketAreResolved) {
    Table6Ptr table = make_table(4096);
    std::vector<Flow6> crowd;
    const uint32_t target = table->home_bucket(make_flow(0, true).original);
    for (uint32_t n = 0; crowd.size() < 25 && n < 2'000'000; ++n) {
        const Flow6 flow = make_flow(n, n % 2 == 0);
        if (table->home_bucket(flow.original) == target) crowd.push_back(flow);
    }
    ASSERT_EQ(crowd.size(), 25u);
    for (const Flow6& flow : crowd) {
        ASSERT_EQ(insert_flow(*table, flow, TcpState::Established, 0).status, InsertStatus::Inserted);
    }
    std::vector<FlowKey6> keys;
    for (const Flow6& flow : crowd) {
        keys.push_back(flow.original);
        keys.push_back(flow.reply_key);
    }
    std::vector<ConnLookupResult6> bulk(keys.size());
    table->lookup_bulk(keys.data(), static_cast<uint32_t>(keys.size()), bulk.data());
    for (size_t k = 0; k < keys.size(); ++k) {
        const ConnLookupResult6 scalar = table->lookup(keys[k]);
        ASSERT_NE(scalar.connection, nullptr);
        EXPECT_EQ(scalar.connection->original, crowd[k / 2].original);
        EXPECT_EQ(scalar.direction, k % 2 == 0 ? FlowDirection::Original : FlowDirection::Reply);
        EXPECT_EQ(bulk[k].connection, scalar.connection);
        EXPECT_EQ(bulk[k].direction, scalar.direction);
    }
}

// The bucket comes from one two-lane CRC pass and the finaliser: 200k keys differing only
// in client address and port (the structured case) fill the buckets like a uniform hash.
TEST(ConnTable6, HashSpreadsStructuredKeys) {
    Table6Ptr table = make_table(100'000);  // 33,334 buckets
    std::vector<uint32_t> per_bucket(table->bucket_count());
    constexpr uint32_t kKeys = 200'000;
    for (uint32_t n = 0; n < kKeys; ++n) ++per_bucket[table->home_bucket(make_flow(n, true).original)];
    uint32_t fullest = 0;
    for (uint32_t count : per_bucket) fullest = std::max(fullest, count);
    // Mean 6 per bucket; a uniform hash's maximum over 33k buckets is about 18.
    EXPECT_LT(fullest, 24u);
}

TEST(ConnTable6, FullTableEvictsOldestUnansweredNeverEstablished) {
    constexpr uint32_t kCapacity = 64;
    Table6Ptr table = make_table(kCapacity);
    // Half established (answered), then half half-open in order.
    for (uint32_t n = 0; n < kCapacity / 2; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n, n % 2 == 0), TcpState::Established, 0).status,
                  InsertStatus::Inserted);
    }
    for (uint32_t n = kCapacity / 2; n < kCapacity; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n, n % 2 == 0), TcpState::SynSent, n).status, InsertStatus::Inserted);
    }
    EXPECT_EQ(table->unanswered(), kCapacity / 2);
    // Each new connection evicts the oldest half-open one, in insertion order.
    for (uint32_t n = kCapacity; n < kCapacity + kCapacity / 2; ++n) {
        const InsertResult6 result = insert_flow(*table, make_flow(n, n % 2 == 0), TcpState::SynSent, 100);
        ASSERT_EQ(result.status, InsertStatus::InsertedAfterEviction) << n;
        const Flow6 evicted = make_flow(n - kCapacity / 2, n % 2 == 0);
        EXPECT_EQ(table->lookup(evicted.original).connection, nullptr) << n;
        EXPECT_EQ(table->lookup(evicted.reply_key).connection, nullptr) << n;
        if (n + 1 < kCapacity + kCapacity / 2) {
            EXPECT_NE(table->lookup(make_flow(n + 1 - kCapacity / 2, n % 2 != 0).original).connection, nullptr);
        }
    }
    // Now every half-open entry is younger than the established ones: they all go before any
    // established entry does, and with only established entries left the table is Full.
    for (uint32_t n = 0; n < kCapacity / 2; ++n) {
        EXPECT_NE(table->lookup(make_flow(n, n % 2 == 0).original).connection, nullptr);
    }
    uint32_t evictions = 0;
    for (uint32_t n = 1000; n < 1000 + kCapacity / 2; ++n) {
        const InsertResult6 result = insert_flow(*table, make_flow(n, false), TcpState::Established, 200);
        evictions += result.status == InsertStatus::InsertedAfterEviction;
    }
    EXPECT_EQ(evictions, kCapacity / 2);
    EXPECT_EQ(table->unanswered(), 0u);
    EXPECT_EQ(insert_flow(*table, make_flow(5000, true), TcpState::SynSent, 300).status, InsertStatus::Full);
    for (uint32_t n = 0; n < kCapacity / 2; ++n) {
        EXPECT_NE(table->lookup(make_flow(n, n % 2 == 0).original).connection, nullptr) << n;
    }
}

TEST(ConnTable6, FreshUnansweredHeadIsProtected) {
    ConnTimeouts timeouts = kTimeouts;
    timeouts.half_open_min_idle_ms = 50;
    Table6Ptr table = make_table(8);
    for (uint32_t n = 0; n < 8; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n, true), TcpState::SynSent, 1000, timeouts).status,
                  InsertStatus::Inserted);
    }
    EXPECT_EQ(insert_flow(*table, make_flow(100, true), TcpState::SynSent, 1010, timeouts).status,
              InsertStatus::HalfOpenProtected);
    EXPECT_EQ(insert_flow(*table, make_flow(100, true), TcpState::SynSent, 1050, timeouts).status,
              InsertStatus::InsertedAfterEviction);
    EXPECT_EQ(table->lookup(make_flow(0, true).original).connection, nullptr);
}

TEST(ConnTable6, AgeingRemovesExactlyTheExpired) {
    Table6Ptr table = make_table(256);
    for (uint32_t n = 0; n < 100; ++n) {
        const InsertResult6 inserted =
            insert_flow(*table, make_flow(n, n % 2 == 0, kProtoUdp), TcpState::None, n < 40 ? 0 : 10'000);
        ASSERT_EQ(inserted.status, InsertStatus::Inserted);
    }
    // Unreplied UDP lives udp_unreplied_ms: the 40 inserted at 0 are due at 20,000.
    EXPECT_EQ(table->expire(19'999, 256), 0u);
    EXPECT_EQ(table->expire(20'000, 100), 40u);  // the cursor had wrapped to entry 0
    EXPECT_EQ(table->size(), 60u);
    for (uint32_t n = 0; n < 100; ++n) {
        const Flow6 flow = make_flow(n, n % 2 == 0, kProtoUdp);
        EXPECT_EQ(table->lookup(flow.original).connection == nullptr, n < 40) << n;
        EXPECT_EQ(table->lookup(flow.reply_key).connection == nullptr, n < 40) << n;
    }
}

TEST(ConnTable6, StateMachineThroughTheTable) {
    Table6Ptr table = make_table(64);
    const Flow6 flow = make_flow(3, true);
    Connection6* connection = insert_flow(*table, flow, TcpState::SynSent, 0).connection;
    ASSERT_NE(connection, nullptr);
    EXPECT_EQ(connection->deadline_ms, kTimeouts.tcp_syn_ms);
    EXPECT_TRUE(is_unanswered(*connection));
    EXPECT_EQ(table->unanswered(), 1u);

    ConnLookupResult6 hit = table->lookup(flow.reply_key);
    ASSERT_EQ(hit.connection, connection);
    table->update(hit.connection, hit.direction, kTcpFlagSyn | kTcpFlagAck, 10, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::SynReceived);
    EXPECT_TRUE(connection->seen_reply);

    hit = table->lookup(flow.original);
    table->update(hit.connection, hit.direction, kTcpFlagAck, 20, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::Established);
    EXPECT_EQ(connection->deadline_ms, 20 + kTimeouts.tcp_established_ms);
    EXPECT_EQ(table->unanswered(), 0u);

    table->update(connection, FlowDirection::Reply, kTcpFlagFin | kTcpFlagAck, 30, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::Closing);
    EXPECT_EQ(connection->deadline_ms, 30 + kTimeouts.tcp_closing_ms);
    table->update(connection, FlowDirection::Original, kTcpFlagRst, 40, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::Closed);
    EXPECT_EQ(connection->deadline_ms, 40 + kTimeouts.tcp_closed_ms);
    EXPECT_EQ(table->expire(40 + kTimeouts.tcp_closed_ms, 64), 1u);
    EXPECT_EQ(table->lookup(flow.reply_key).connection, nullptr);
}

TEST(ConnTable6, UnansweredSynsAreCountedOnExpiry) {
    Table6Ptr table = make_table(64);
    EndpointCounters counters[4] = {};
    table->set_unanswered_counters(counters, 4);
    Connection6* connection = insert_flow(*table, make_flow(1, false), TcpState::SynSent, 0).connection;
    ASSERT_NE(connection, nullptr);
    connection->endpoint_slot = 2;
    EXPECT_EQ(table->expire(kTimeouts.tcp_syn_ms, 64), 1u);
    EXPECT_EQ(counters[2].syn_unanswered, 1u);
}

TEST(ConnTable6, ChurnLeavesNoLeaks) {
    constexpr uint32_t kCapacity = 512;
    Table6Ptr table = make_table(kCapacity);
    std::set<uint32_t> live;
    uint32_t now = 0;
    for (uint32_t round = 0; round < 20; ++round) {
        for (uint32_t n = round * 200; n < round * 200 + 200; ++n) {  // at most 300 + 200 live
            const InsertResult6 result = insert_flow(*table, make_flow(n, n % 3 != 0), TcpState::Established, now);
            ASSERT_EQ(result.status, InsertStatus::Inserted) << n;
            live.insert(n);
        }
        for (auto it = live.begin(); it != live.end();) {
            if (*it % 2 == round % 2 || live.size() > 300) {
                const Flow6 flow = make_flow(*it, *it % 3 != 0);
                ConnLookupResult6 hit = table->lookup(flow.reply_key);
                ASSERT_NE(hit.connection, nullptr) << *it;
                table->remove(hit.connection);
                it = live.erase(it);
            } else {
                ++it;
            }
        }
        now += 1000;
    }
    EXPECT_EQ(table->size(), live.size());
    uint32_t visited = 0;
    table->for_each([&](const Connection6&) { ++visited; });
    EXPECT_EQ(visited, live.size());
}

}  // namespace
}  // namespace vipgate
