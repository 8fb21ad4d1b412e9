#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include <rte_byteorder.h>
#include <rte_memory.h>

#include "control/connect_latency.h"
#include "dataplane/conn_table.h"

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

struct TableDeleter {
    void operator()(ConnTable* table) const { ConnTable::destroy(table); }
};
using TablePtr = std::unique_ptr<ConnTable, TableDeleter>;

TablePtr make_table(uint32_t capacity) {
    TablePtr table(ConnTable::create(capacity, kSeed, SOCKET_ID_ANY));
    EXPECT_NE(table, nullptr) << "ConnTable::create(" << capacity << ") failed";
    return table;
}

struct Flow {
    FlowKey4 original;  // client -> VIP
    FlowKey4 reply;     // endpoint -> client
};

FlowKey4 make_key(uint32_t src_addr, uint16_t src_port, uint32_t dst_addr, uint16_t dst_port, uint8_t protocol) {
    FlowKey4 key;
    key.src_addr = rte_cpu_to_be_32(src_addr);
    key.dst_addr = rte_cpu_to_be_32(dst_addr);
    key.src_port = rte_cpu_to_be_16(src_port);
    key.dst_port = rte_cpu_to_be_16(dst_port);
    key.protocol = protocol;
    return key;
}

// Flow number n: a distinct client (10.0.0.0/8 address, port 10000..59999) talking to one VIP,
// DNATed to one of 16 endpoints. Distinct n give distinct original and distinct reply keys.
Flow make_flow(uint32_t n, uint8_t protocol = kProtoTcp) {
    constexpr uint32_t kVip = 0xac1e000a;        // 172.30.0.10
    constexpr uint32_t kEndpoints = 0x0af40000;  // 10.244.0.0
    const uint32_t client = 0x0a000000 + n / 50'000;
    const auto client_port = static_cast<uint16_t>(10'000 + n % 50'000);
    const uint32_t endpoint = kEndpoints + 1 + n % 16;
    return Flow{make_key(client, client_port, kVip, 80, protocol),
                make_key(endpoint, 8080, client, client_port, protocol)};
}

InsertResult insert_flow(ConnTable& table, const Flow& flow, TcpState state, uint32_t now_ms,
                         const ConnTimeouts& timeouts = kTimeouts) {
    return table.insert(flow.original, flow.reply, state, now_ms, timeouts);
}

TEST(ConnTable, CreateRejectsBadCapacity) {
    EXPECT_EQ(ConnTable::create(0, kSeed, SOCKET_ID_ANY), nullptr);
    EXPECT_EQ(ConnTable::create(ConnTable::kMaxCapacity + 1, kSeed, SOCKET_ID_ANY), nullptr);
}

TEST(ConnTable, InsertAndLookupBothDirections) {
    TablePtr table = make_table(1024);
    const Flow flow = make_flow(7);
    const InsertResult inserted = insert_flow(*table, flow, TcpState::SynSent, 1000);
    ASSERT_EQ(inserted.status, InsertStatus::Inserted);
    ASSERT_NE(inserted.connection, nullptr);
    EXPECT_EQ(inserted.connection->original, flow.original);
    EXPECT_EQ(inserted.connection->reply, flow.reply);
    EXPECT_EQ(inserted.connection->tcp_state, TcpState::SynSent);
    EXPECT_EQ(inserted.connection->deadline_ms, 1000 + kTimeouts.tcp_syn_ms);
    EXPECT_EQ(table->size(), 1u);

    const ConnLookupResult forward = table->lookup(flow.original);
    EXPECT_EQ(forward.connection, inserted.connection);
    EXPECT_EQ(forward.direction, FlowDirection::Original);
    const ConnLookupResult backward = table->lookup(flow.reply);
    EXPECT_EQ(backward.connection, inserted.connection);
    EXPECT_EQ(backward.direction, FlowDirection::Reply);
}

TEST(ConnTable, LookupMisses) {
    TablePtr table = make_table(1024);
    const Flow flow = make_flow(7);
    insert_flow(*table, flow, TcpState::Established, 0);
    EXPECT_EQ(table->lookup(make_flow(8).original).connection, nullptr);
    EXPECT_EQ(table->lookup(flow.original.reversed()).connection, nullptr) << "VIP -> client is not tracked";
    FlowKey4 udp = flow.original;
    udp.protocol = kProtoUdp;
    EXPECT_EQ(table->lookup(udp).connection, nullptr) << "protocol is part of the key";
}

TEST(ConnTable, DuplicateReturnsExisting) {
    TablePtr table = make_table(1024);
    const Flow flow = make_flow(1);
    const InsertResult first = insert_flow(*table, flow, TcpState::SynSent, 0);
    const InsertResult again = insert_flow(*table, flow, TcpState::SynSent, 10);
    EXPECT_EQ(again.status, InsertStatus::Exists);
    EXPECT_EQ(again.connection, first.connection);

    // A different client whose reply tuple clashes (e.g. an SNAT port already in use).
    const Flow clash{make_flow(2).original, flow.reply};
    const InsertResult clashed = insert_flow(*table, clash, TcpState::SynSent, 10);
    EXPECT_EQ(clashed.status, InsertStatus::Exists);
    EXPECT_EQ(clashed.connection, first.connection);
    EXPECT_EQ(table->size(), 1u);
    EXPECT_EQ(table->lookup(clash.original).connection, nullptr);
}

TEST(ConnTable, ExpiredDuplicateIsReplaced) {
    TablePtr table = make_table(1024);
    const Flow flow = make_flow(1, kProtoUdp);
    insert_flow(*table, flow, TcpState::None, 0);
    const InsertResult again = insert_flow(*table, flow, TcpState::None, kTimeouts.udp_unreplied_ms);
    EXPECT_EQ(again.status, InsertStatus::Inserted);
    EXPECT_EQ(again.connection->deadline_ms, 2 * kTimeouts.udp_unreplied_ms);
    EXPECT_EQ(table->size(), 1u);
}

TEST(ConnTable, RemoveDeletesBothKeys) {
    TablePtr table = make_table(1024);
    const Flow a = make_flow(1);
    const Flow b = make_flow(2);
    Connection* connection_a = insert_flow(*table, a, TcpState::Established, 0).connection;
    insert_flow(*table, b, TcpState::Established, 0);
    ASSERT_EQ(table->size(), 2u);

    table->remove(connection_a);
    EXPECT_EQ(table->size(), 1u);
    EXPECT_EQ(table->lookup(a.original).connection, nullptr);
    EXPECT_EQ(table->lookup(a.reply).connection, nullptr);
    EXPECT_NE(table->lookup(b.original).connection, nullptr);
    EXPECT_NE(table->lookup(b.reply).connection, nullptr);

    EXPECT_EQ(insert_flow(*table, a, TcpState::SynSent, 0).status, InsertStatus::Inserted);
    EXPECT_EQ(table->size(), 2u);
}

TEST(ConnTable, ForEachVisitsLiveConnections) {
    TablePtr table = make_table(1024);
    std::vector<Connection*> inserted;
    for (uint32_t n = 0; n < 100; ++n) {
        inserted.push_back(insert_flow(*table, make_flow(n), TcpState::Established, 0).connection);
    }
    for (uint32_t n = 0; n < 100; n += 2) table->remove(inserted[n]);

    std::vector<uint32_t> seen;
    table->for_each([&](const Connection& connection) {
        for (uint32_t n = 0; n < 100; ++n) {
            if (connection.original == make_flow(n).original) seen.push_back(n);
        }
    });
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(seen.size(), 50u);
    for (uint32_t i = 0; i < 50; ++i) EXPECT_EQ(seen[i], 2 * i + 1);
}

TEST(ConnTable, LookupBulkMatchesScalar) {
    constexpr uint32_t kCapacity = 100'000;
    constexpr uint32_t kInserted = 60'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kInserted; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n), TcpState::Established, 0).status, InsertStatus::Inserted);
    }

    std::mt19937 random(42);
    std::uniform_int_distribution<uint32_t> flow_number(0, 2 * kInserted);  // about half are misses
    std::uniform_int_distribution<uint32_t> batch_size(1, ConnTable::kMaxBulk + 10);
    uint32_t hits = 0;
    uint32_t misses = 0;
    for (int round = 0; round < 2'000; ++round) {
        std::vector<FlowKey4> keys(batch_size(random));
        for (FlowKey4& key : keys) {
            const Flow flow = make_flow(flow_number(random));
            key = random() & 1 ? flow.original : flow.reply;
        }
        std::vector<ConnLookupResult> results(keys.size());
        table->lookup_bulk(keys.data(), static_cast<uint32_t>(keys.size()), results.data());
        for (size_t i = 0; i < keys.size(); ++i) {
            const ConnLookupResult expected = table->lookup(keys[i]);
            ASSERT_EQ(results[i].connection, expected.connection) << "round " << round << " key " << i;
            if (expected.connection == nullptr) {
                ++misses;
                continue;
            }
            ++hits;
            EXPECT_EQ(results[i].direction, expected.direction);
        }
    }
    EXPECT_GT(hits, 10'000u);
    EXPECT_GT(misses, 10'000u);
}

TEST(ConnTable, ExpiresExactlyAtDeadline) {
    TablePtr table = make_table(1024);
    const Flow flow = make_flow(3, kProtoUdp);
    const Connection* connection = insert_flow(*table, flow, TcpState::None, 1000).connection;
    ASSERT_EQ(connection->deadline_ms, 1000 + kTimeouts.udp_unreplied_ms);

    const uint32_t deadline = 1000 + kTimeouts.udp_unreplied_ms;
    EXPECT_FALSE(connection->is_expired(deadline - 1));
    EXPECT_EQ(table->expire(deadline - 1, table->capacity()), 0u);
    EXPECT_NE(table->lookup(flow.original).connection, nullptr);

    EXPECT_TRUE(connection->is_expired(deadline));
    EXPECT_EQ(table->expire(deadline, table->capacity()), 1u);
    EXPECT_EQ(table->lookup(flow.original).connection, nullptr);
    EXPECT_EQ(table->size(), 0u);
}

TEST(ConnTable, DeadlineWrapsAroundTheClock) {
    TablePtr table = make_table(1024);
    const uint32_t start = UINT32_MAX - 1000;
    insert_flow(*table, make_flow(3, kProtoIcmp), TcpState::None, start);
    const uint32_t deadline = start + kTimeouts.icmp_ms;  // wraps past zero
    ASSERT_LT(deadline, start);
    EXPECT_EQ(table->expire(start + 1, table->capacity()), 0u);
    EXPECT_EQ(table->expire(deadline - 1, table->capacity()), 0u);
    EXPECT_EQ(table->expire(deadline, table->capacity()), 1u);
}

// Until the first reply a UDP flow lives on the short unreplied timeout, which each datagram of
// the client extends; the first reply promotes it for good to udp_timeout.
TEST(ConnTable, FirstReplyPromotesUdpToTheLongerTimeout) {
    TablePtr table = make_table(1024);
    Connection* connection = insert_flow(*table, make_flow(3, kProtoUdp), TcpState::None, 1000).connection;
    EXPECT_FALSE(connection->seen_reply);
    EXPECT_EQ(connection->deadline_ms, 1000 + kTimeouts.udp_unreplied_ms);
    table->update(connection, FlowDirection::Original, 0, 2000, kTimeouts);
    EXPECT_FALSE(connection->seen_reply);
    EXPECT_EQ(connection->deadline_ms, 2000 + kTimeouts.udp_unreplied_ms);
    table->update(connection, FlowDirection::Reply, 0, 3000, kTimeouts);
    EXPECT_TRUE(connection->seen_reply);
    EXPECT_EQ(connection->deadline_ms, 3000 + kTimeouts.udp_ms);
    table->update(connection, FlowDirection::Original, 0, 4000, kTimeouts);
    EXPECT_TRUE(connection->seen_reply);
    EXPECT_EQ(connection->deadline_ms, 4000 + kTimeouts.udp_ms);

    // A TCP connection's timeout follows its state alone.
    Connection* tcp = insert_flow(*table, make_flow(4), TcpState::SynSent, 1000).connection;
    table->update(tcp, FlowDirection::Reply, kTcpFlagSyn | kTcpFlagAck, 2000, kTimeouts);
    EXPECT_TRUE(tcp->seen_reply);
    EXPECT_EQ(tcp->deadline_ms, 2000 + kTimeouts.tcp_syn_ms);
}

TEST(ConnTable, UpdateExtendsDeadline) {
    TablePtr table = make_table(1024);
    const Flow flow = make_flow(3, kProtoUdp);
    Connection* connection = insert_flow(*table, flow, TcpState::None, 0).connection;
    table->update(connection, FlowDirection::Reply, 0, 20'000, kTimeouts);
    EXPECT_EQ(connection->deadline_ms, 20'000 + kTimeouts.udp_ms);
    EXPECT_EQ(connection->tcp_state, TcpState::None);
    EXPECT_EQ(table->expire(kTimeouts.udp_ms, table->capacity()), 0u) << "the original deadline no longer applies";
    EXPECT_EQ(table->expire(20'000 + kTimeouts.udp_ms, table->capacity()), 1u);
}

TEST(ConnTable, StateChangeChangesTimeout) {
    TablePtr table = make_table(1024);
    Connection* connection = insert_flow(*table, make_flow(3), TcpState::SynSent, 0).connection;
    EXPECT_EQ(connection->deadline_ms, kTimeouts.tcp_syn_ms);

    table->update(connection, FlowDirection::Reply, kTcpFlagSyn | kTcpFlagAck, 100, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::SynReceived);
    EXPECT_EQ(connection->deadline_ms, 100 + kTimeouts.tcp_syn_ms);

    table->update(connection, FlowDirection::Original, kTcpFlagAck, 200, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::Established);
    EXPECT_EQ(connection->deadline_ms, 200 + kTimeouts.tcp_established_ms);

    table->update(connection, FlowDirection::Reply, kTcpFlagFin | kTcpFlagAck, 300, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::Closing);
    EXPECT_EQ(connection->deadline_ms, 300 + kTimeouts.tcp_closing_ms);

    table->update(connection, FlowDirection::Original, kTcpFlagRst, 400, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::Closed);
    EXPECT_EQ(connection->deadline_ms, 400 + kTimeouts.tcp_closed_ms);

    table->update(connection, FlowDirection::Original, kTcpFlagSyn, 500, kTimeouts);
    EXPECT_EQ(connection->tcp_state, TcpState::SynSent) << "port reuse";
    EXPECT_EQ(connection->deadline_ms, 500 + kTimeouts.tcp_syn_ms);
}

TEST(ConnTable, ExpireIsIncrementalAndComplete) {
    constexpr uint32_t kCapacity = 10'000;
    constexpr uint32_t kBudget = 256;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        // Even flows are unreplied UDP (expire at 20 s), odd ones established TCP (1 h).
        const bool udp = n % 2 == 0;
        insert_flow(*table, make_flow(n, udp ? kProtoUdp : kProtoTcp), udp ? TcpState::None : TcpState::Established, 0);
    }
    const uint32_t now = kTimeouts.udp_ms;
    uint32_t removed = 0;
    uint32_t calls = 0;
    while (removed < kCapacity / 2) {
        const uint32_t step = table->expire(now, kBudget);
        EXPECT_LE(step, kBudget);
        removed += step;
        ASSERT_LE(++calls, (kCapacity + kBudget - 1) / kBudget) << "one full sweep must reach every entry";
    }
    EXPECT_EQ(removed, kCapacity / 2);
    EXPECT_EQ(table->size(), kCapacity / 2);
    EXPECT_EQ(table->expire(now, kCapacity), 0u);
    for (uint32_t n = 1; n < kCapacity; n += 2) ASSERT_NE(table->lookup(make_flow(n).reply).connection, nullptr);
}

TEST(ConnTable, FullWhenAllEstablished) {
    constexpr uint32_t kCapacity = 100'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n), TcpState::Established, 0).status, InsertStatus::Inserted) << n;
    }
    EXPECT_EQ(table->size(), kCapacity);
    for (uint32_t n = kCapacity; n < kCapacity + 10'000; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n), TcpState::SynSent, 1000);
        ASSERT_EQ(result.status, InsertStatus::Full);
        ASSERT_EQ(result.connection, nullptr);
    }
    EXPECT_EQ(table->size(), kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_NE(table->lookup(make_flow(n).original).connection, nullptr);
}

TEST(ConnTable, HalfOpenFloodCannotEvictEstablished) {
    constexpr uint32_t kCapacity = 100'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        insert_flow(*table, make_flow(n), n % 2 == 0 ? TcpState::Established : TcpState::SynSent, 0);
    }
    uint32_t evictions = 0;
    for (uint32_t n = kCapacity; n < 3 * kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n), TcpState::SynSent, 1000);
        ASSERT_TRUE(result.status == InsertStatus::InsertedAfterEviction || result.status == InsertStatus::Full);
        evictions += result.status == InsertStatus::InsertedAfterEviction;
    }
    EXPECT_GT(evictions, kCapacity) << "half-open entries make room for new ones";
    EXPECT_EQ(table->size(), kCapacity);
    for (uint32_t n = 0; n < kCapacity; n += 2) {
        const ConnLookupResult found = table->lookup(make_flow(n).reply);
        ASSERT_NE(found.connection, nullptr) << "established flow " << n << " was evicted";
        ASSERT_EQ(found.connection->tcp_state, TcpState::Established);
    }
}

TEST(ConnTable, HalfOpenEvictedForNewConnectionsWhenFull) {
    constexpr uint32_t kCapacity = 1'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) insert_flow(*table, make_flow(n), TcpState::SynReceived, 0);
    for (uint32_t n = kCapacity; n < 2 * kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n), TcpState::Established, 1000);
        ASSERT_EQ(result.status, InsertStatus::InsertedAfterEviction) << n;
        ASSERT_NE(result.connection, nullptr);
    }
    EXPECT_EQ(table->size(), kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_EQ(table->lookup(make_flow(n).original).connection, nullptr);
    for (uint32_t n = kCapacity; n < 2 * kCapacity; ++n) {
        ASSERT_NE(table->lookup(make_flow(n).original).connection, nullptr);
    }
}

TEST(ConnTable, ClosingEntryIsFoundAndEvicted) {
    constexpr uint32_t kCapacity = 1'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) insert_flow(*table, make_flow(n), TcpState::Established, 0);
    Connection* closing = table->lookup(make_flow(500).original).connection;
    table->update(closing, FlowDirection::Reply, kTcpFlagFin | kTcpFlagAck, 0, kTimeouts);

    // Each attempt scans a window from the rotating cursor, so one sweep finds the entry.
    uint32_t evictions = 0;
    for (uint32_t n = kCapacity; n < 2 * kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n), TcpState::SynSent, 10);
        evictions += result.status == InsertStatus::InsertedAfterEviction;
    }
    EXPECT_GE(evictions, 1u);
    EXPECT_EQ(table->lookup(make_flow(500).original).connection, nullptr);
    EXPECT_EQ(table->size(), kCapacity);
    uint32_t established = 0;
    table->for_each(
        [&](const Connection& connection) { established += connection.tcp_state == TcpState::Established; });
    EXPECT_EQ(established, kCapacity - 1);
}

// A flood of UDP flows that are never answered (spoofed sources) must not lock the table: like
// half-open TCP, an unreplied UDP entry makes room for a new connection of any protocol.
TEST(ConnTable, UnrepliedUdpIsEvictedForNewConnectionsWhenFull) {
    constexpr uint32_t kCapacity = 1'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, 0).status, InsertStatus::Inserted);
    }
    for (uint32_t n = kCapacity; n < 2 * kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, 1000);
        ASSERT_EQ(result.status, InsertStatus::InsertedAfterEviction) << n;
        ASSERT_NE(result.connection, nullptr);
    }
    const InsertResult tcp = insert_flow(*table, make_flow(2 * kCapacity), TcpState::SynSent, 1000);
    EXPECT_EQ(tcp.status, InsertStatus::InsertedAfterEviction);
    EXPECT_EQ(table->size(), kCapacity);
}

// Once a reply has been seen a UDP flow is as established as a TCP one: never evicted before it
// expires, so a full table of them refuses; past the deadline every entry is reclaimable, and
// reclaiming is not an eviction.
TEST(ConnTable, RepliedUdpIsNeverEvictedButExpiredIsReclaimed) {
    constexpr uint32_t kCapacity = 1'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        Connection* connection = insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, 0).connection;
        ASSERT_NE(connection, nullptr);
        table->update(connection, FlowDirection::Reply, 0, 0, kTimeouts);
    }
    for (uint32_t n = kCapacity; n < 2 * kCapacity; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, kTimeouts.udp_ms - 1).status,
                  InsertStatus::Full);
        ASSERT_EQ(insert_flow(*table, make_flow(n), TcpState::SynSent, kTimeouts.udp_ms - 1).status,
                  InsertStatus::Full);
    }
    for (uint32_t n = kCapacity; n < 2 * kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, kTimeouts.udp_ms);
        ASSERT_EQ(result.status, InsertStatus::Inserted) << n;
    }
    EXPECT_EQ(table->size(), kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        ASSERT_EQ(table->lookup(make_flow(n, kProtoUdp).reply).connection, nullptr);
    }
}

// A table holding established TCP, replied UDP and unreplied UDP: a flood of new unreplied UDP
// flows displaces only the unreplied ones.
TEST(ConnTable, UnrepliedUdpFloodCannotEvictEstablishedOrRepliedFlows) {
    constexpr uint32_t kCapacity = 30'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        if (n % 3 == 0) {
            insert_flow(*table, make_flow(n), TcpState::Established, 0);
            continue;
        }
        Connection* connection = insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, 0).connection;
        ASSERT_NE(connection, nullptr);
        if (n % 3 == 1) table->update(connection, FlowDirection::Reply, 0, 0, kTimeouts);
    }
    uint32_t evictions = 0;
    for (uint32_t n = kCapacity; n < 3 * kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(n, kProtoUdp), TcpState::None, 1000);
        ASSERT_TRUE(result.status == InsertStatus::InsertedAfterEviction || result.status == InsertStatus::Full);
        evictions += result.status == InsertStatus::InsertedAfterEviction;
    }
    EXPECT_GT(evictions, kCapacity) << "unreplied entries make room for new ones";
    EXPECT_EQ(table->size(), kCapacity);
    for (uint32_t n = 0; n < kCapacity; n += 3) {
        ASSERT_NE(table->lookup(make_flow(n).reply).connection, nullptr) << "established flow " << n << " was evicted";
        ASSERT_NE(table->lookup(make_flow(n + 1, kProtoUdp).reply).connection, nullptr)
            << "replied UDP flow " << n + 1 << " was evicted";
    }
}

TEST(ConnTable, ExpiredEstablishedEntriesAreReclaimed) {
    constexpr uint32_t kCapacity = 100'000;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) insert_flow(*table, make_flow(n), TcpState::Established, 0);
    const uint32_t later = kTimeouts.tcp_established_ms;
    for (uint32_t n = kCapacity; n < kCapacity + 10'000; ++n) {
        ASSERT_EQ(insert_flow(*table, make_flow(n), TcpState::SynSent, later).status, InsertStatus::Inserted) << n;
    }
    EXPECT_EQ(table->size(), kCapacity);
}

// Keys chosen so that both keys of every flow share one home bucket: the probe window fills
// up long before the table does.
class ConnTableCrowdedBucket : public testing::Test {
protected:
    static constexpr uint32_t kCapacity = 1'000;
    static constexpr uint32_t kTarget = 5;

    void SetUp() override {
        table_ = make_table(kCapacity);
        uint32_t n = 0;
        while (crowded_.size() < 400) {
            Flow flow;
            do flow.original = make_flow(n++).original;
            while (table_->home_bucket(flow.original) != kTarget);
            do flow.reply = make_flow(n++).reply;
            while (table_->home_bucket(flow.reply) != kTarget);
            crowded_.push_back(flow);
        }
    }

    TablePtr table_;
    std::vector<Flow> crowded_;
};

TEST_F(ConnTableCrowdedBucket, FullWhenWindowHoldsOnlyEstablished) {
    uint32_t inserted = 0;
    while (insert_flow(*table_, crowded_[inserted], TcpState::Established, 0).status == InsertStatus::Inserted) {
        ASSERT_LT(++inserted, crowded_.size()) << "the probe window must fill before the table";
    }
    EXPECT_EQ(table_->size(), inserted);
    EXPECT_LT(table_->size(), kCapacity);
    for (uint32_t i = 0; i < inserted; ++i) {
        ASSERT_NE(table_->lookup(crowded_[i].original).connection, nullptr);
        ASSERT_NE(table_->lookup(crowded_[i].reply).connection, nullptr);
    }
    EXPECT_EQ(table_->lookup(crowded_[inserted].original).connection, nullptr) << "failed insert left no key behind";
    EXPECT_EQ(insert_flow(*table_, make_flow(999'999), TcpState::SynSent, 0).status, InsertStatus::Inserted)
        << "other buckets are unaffected";
}

TEST_F(ConnTableCrowdedBucket, HalfOpenInWindowIsEvicted) {
    uint32_t inserted = 0;
    while (insert_flow(*table_, crowded_[inserted], TcpState::SynSent, 0).status == InsertStatus::Inserted) {
        ASSERT_LT(++inserted, crowded_.size()) << "the probe window must fill before the table";
    }
    const uint32_t window_full_size = table_->size();
    EXPECT_LT(window_full_size, kCapacity);
    // With only half-open entries in the window, every further flow goes in by evicting one.
    for (uint32_t i = inserted + 1; i < crowded_.size(); ++i) {
        ASSERT_EQ(insert_flow(*table_, crowded_[i], TcpState::SynSent, 0).status, InsertStatus::InsertedAfterEviction);
        EXPECT_NE(table_->lookup(crowded_[i].original).connection, nullptr);
        EXPECT_NE(table_->lookup(crowded_[i].reply).connection, nullptr);
    }
    EXPECT_LE(table_->size(), window_full_size);
}

TEST(ConnTable, ChurnLeavesNoLeaks) {
    constexpr uint32_t kCapacity = 10'000;
    TablePtr table = make_table(kCapacity);
    std::mt19937 random(7);
    std::vector<uint32_t> live;
    uint32_t next_flow = 0;
    for (int op = 0; op < 200'000; ++op) {
        const bool add = live.empty() || (live.size() < kCapacity && random() % 100 < 55);
        if (add) {
            const InsertResult result = insert_flow(*table, make_flow(next_flow), TcpState::Established, 0);
            ASSERT_EQ(result.status, InsertStatus::Inserted);
            live.push_back(next_flow++);
        } else {
            const size_t victim = random() % live.size();
            const ConnLookupResult found = table->lookup(make_flow(live[victim]).reply);
            ASSERT_NE(found.connection, nullptr);
            table->remove(found.connection);
            live[victim] = live.back();
            live.pop_back();
        }
        ASSERT_EQ(table->size(), live.size());
    }
    for (uint32_t flow : live) table->remove(table->lookup(make_flow(flow).original).connection);
    EXPECT_EQ(table->size(), 0u);
    uint32_t visited = 0;
    table->for_each([&](const Connection&) { ++visited; });
    EXPECT_EQ(visited, 0u);

    // The whole capacity is usable again and nothing stale answers lookups.
    for (uint32_t n = 0; n < next_flow; ++n) ASSERT_EQ(table->lookup(make_flow(n).original).connection, nullptr);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        const InsertResult result = insert_flow(*table, make_flow(next_flow + n), TcpState::Established, 0);
        ASSERT_EQ(result.status, InsertStatus::Inserted);
    }
    EXPECT_EQ(table->size(), kCapacity);
}

// A million connections inserted and found again in both directions (lookup_bulk, random
// order), within the memory target. tests/bench/structures_bench times the same lookups.
TEST(ConnTable, MillionConnections) {
    constexpr uint32_t kCount = 1'000'000;
    constexpr uint32_t kBatch = 32;
    TablePtr table = make_table(kCount);
    EXPECT_LE(table->bytes_per_connection(), 128u);

    std::vector<Flow> flows(kCount);
    for (uint32_t n = 0; n < kCount; ++n) flows[n] = make_flow(n);
    for (uint32_t n = 0; n < kCount; ++n) {
        ASSERT_EQ(insert_flow(*table, flows[n], TcpState::Established, 0).status, InsertStatus::Inserted) << n;
    }
    ASSERT_EQ(table->size(), kCount);

    std::mt19937 random(1);
    std::vector<uint32_t> order(kCount);
    for (uint32_t n = 0; n < kCount; ++n) order[n] = n;
    std::shuffle(order.begin(), order.end(), random);
    std::vector<FlowKey4> keys(kCount);
    std::vector<ConnLookupResult> results(kCount);
    for (const FlowDirection direction : {FlowDirection::Original, FlowDirection::Reply}) {
        for (uint32_t n = 0; n < kCount; ++n) {
            const Flow& flow = flows[order[n]];
            keys[n] = direction == FlowDirection::Original ? flow.original : flow.reply;
        }
        for (uint32_t n = 0; n < kCount; n += kBatch) table->lookup_bulk(&keys[n], kBatch, &results[n]);
        for (uint32_t n = 0; n < kCount; ++n) {
            ASSERT_NE(results[n].connection, nullptr) << n;
            ASSERT_EQ(results[n].direction, direction);
            ASSERT_EQ(results[n].connection->original, flows[order[n]].original);
        }
    }
}

}  // namespace
}  // namespace vipgate

namespace vipgate {
namespace {

TEST(ConnectLatencyBuckets, BucketBoundsAreLog2From64Microseconds) {
    EXPECT_EQ(connect_latency_bucket(0), 0u);
    EXPECT_EQ(connect_latency_bucket(64), 0u);
    EXPECT_EQ(connect_latency_bucket(65), 1u);
    EXPECT_EQ(connect_latency_bucket(128), 1u);
    EXPECT_EQ(connect_latency_bucket(129), 2u);
    EXPECT_EQ(connect_latency_bucket(50'000), 10u);  // (32,768, 65,536]
    EXPECT_EQ(connect_latency_bucket(262'144), 12u);
    EXPECT_EQ(connect_latency_bucket(262'145), 13u);
    EXPECT_EQ(connect_latency_bucket(UINT32_MAX), 13u);
    for (uint32_t bucket = 0; bucket + 1 < kConnectLatencyBuckets; ++bucket) {
        const uint32_t bound = connect_latency_bound_us(bucket);
        EXPECT_EQ(connect_latency_bucket(bound), bucket) << bound;
        EXPECT_EQ(connect_latency_bucket(bound + 1), bucket + 1) << bound;
    }
    EXPECT_EQ(connect_latency_bound_us(kConnectLatencyBuckets - 1), UINT32_MAX);
}

TEST(ConnectLatency, QuantilesInterpolateInsideTheirBucketLikeHistogramQuantile) {
    ConnectLatency latency;
    EXPECT_FALSE(latency.quantile_us(0.5).has_value());
    EndpointHandshakes worker;
    for (int i = 0; i < 100; ++i) worker.record(50'000);  // bucket (32,768, 65,536]
    latency.add(worker);
    EXPECT_EQ(latency.count(), 100u);
    EXPECT_DOUBLE_EQ(*latency.quantile_us(0.5), 32'768 + 32'768 * 0.5);
    EXPECT_DOUBLE_EQ(*latency.quantile_us(0.99), 32'768 + 32'768 * 0.99);
    EndpointHandshakes slow;
    slow.record(10'000'000);  // past the last bound: the overflow bucket
    latency.add(slow);
    EXPECT_DOUBLE_EQ(*latency.quantile_us(1.0), connect_latency_bound_us(kConnectLatencyBuckets - 2));
    EXPECT_EQ(latency.sum_us, 100u * 50'000 + 10'000'000);
    const ConnectLatency later = latency;
    EXPECT_EQ(later.since(latency).count(), 0u);
}

TEST(ConnTable, UnansweredSynsAreCountedWhenTheyExpireOrAreEvicted) {
    TablePtr table = make_table(2);
    std::vector<EndpointCounters> counters(4);
    table->set_unanswered_counters(counters.data(), 4);
    // Flow 0: SYN never answered, expires. Flow 1: answered (SYN-ACK), then expires: not counted.
    InsertResult unanswered = insert_flow(*table, make_flow(0), TcpState::SynSent, 0);
    ASSERT_NE(unanswered.connection, nullptr);
    unanswered.connection->endpoint_slot = 1;
    InsertResult answered = insert_flow(*table, make_flow(1), TcpState::SynSent, 0);
    ASSERT_NE(answered.connection, nullptr);
    answered.connection->endpoint_slot = 2;
    table->update(answered.connection, FlowDirection::Reply, kTcpFlagSyn | kTcpFlagAck, 0, kTimeouts);
    EXPECT_EQ(table->expire(kTimeouts.tcp_syn_ms, 16), 2u);
    EXPECT_EQ(counters[1].syn_unanswered, 1u);
    EXPECT_EQ(counters[2].syn_unanswered, 0u);

    // Eviction of an unexpired SynSent entry to make room counts too; remove() does not.
    InsertResult first = insert_flow(*table, make_flow(2), TcpState::SynSent, 10'000);
    first.connection->endpoint_slot = 3;
    InsertResult second = insert_flow(*table, make_flow(3), TcpState::SynSent, 10'000);
    second.connection->endpoint_slot = 3;
    InsertResult third = insert_flow(*table, make_flow(4), TcpState::SynSent, 10'000);
    EXPECT_EQ(third.status, InsertStatus::InsertedAfterEviction);
    EXPECT_EQ(counters[3].syn_unanswered, 1u);
    table->remove(third.connection);
    EXPECT_EQ(counters[3].syn_unanswered, 1u);
}

}  // namespace
}  // namespace vipgate
