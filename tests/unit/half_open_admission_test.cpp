// Admission into a full connection table (dataplane/half_open_admission.h): the oldest
// unanswered entry makes room, answered entries leave the FIFO, a fresh head is protected for
// half_open_min_idle_ms. Time is the caller's millisecond argument: an injected clock.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include <rte_byteorder.h>
#include <rte_memory.h>

#include "dataplane/conn_table.h"
#include "dataplane/half_open_admission.h"

namespace vipgate {
namespace {

constexpr uint32_t kSeed = 0x0ddba11;
constexpr ConnTimeouts kTimeouts{.tcp_syn_ms = 5'000,
                                 .tcp_established_ms = 3'600'000,
                                 .tcp_closing_ms = 60'000,
                                 .tcp_closed_ms = 10'000,
                                 .udp_ms = 30'000,
                                 .icmp_ms = 10'000,
                                 .udp_unreplied_ms = 20'000,
                                 .half_open_min_idle_ms = 0};

constexpr ConnTimeouts with_min_idle(uint32_t min_idle_ms) {
    ConnTimeouts timeouts = kTimeouts;
    timeouts.half_open_min_idle_ms = min_idle_ms;
    return timeouts;
}

struct TableDeleter {
    void operator()(ConnTable* table) const { ConnTable::destroy(table); }
};
using TablePtr = std::unique_ptr<ConnTable, TableDeleter>;

TablePtr make_table(uint32_t capacity) {
    TablePtr table(ConnTable::create(capacity, kSeed, SOCKET_ID_ANY));
    EXPECT_NE(table, nullptr);
    return table;
}

struct Flow {
    FlowKey4 original;
    FlowKey4 reply;
};

// Flow n: client 198.18.x.y:port -> VIP 198.18.100.10:80, endpoint 198.18.1.(1..16):8080.
Flow make_flow(uint32_t n, uint8_t protocol = kProtoTcp) {
    const uint32_t client = 0xC6120000u + 0x200 + n / 50'000;
    const auto port = static_cast<uint16_t>(10'000 + n % 50'000);
    const uint32_t endpoint = 0xC6120101u + n % 16;
    auto key = [protocol](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
        FlowKey4 k;
        k.src_addr = rte_cpu_to_be_32(src);
        k.dst_addr = rte_cpu_to_be_32(dst);
        k.src_port = rte_cpu_to_be_16(sport);
        k.dst_port = rte_cpu_to_be_16(dport);
        k.protocol = protocol;
        return k;
    };
    return {key(client, port, 0xC612640Au, 80), key(endpoint, 8080, client, port)};
}

InsertResult open(ConnTable& table, uint32_t n, uint32_t now_ms, const ConnTimeouts& timeouts = kTimeouts,
                  uint8_t protocol = kProtoTcp) {
    const Flow flow = make_flow(n, protocol);
    return table.insert(flow.original, flow.reply, protocol == kProtoTcp ? TcpState::SynSent : TcpState::None, now_ms,
                        timeouts);
}

bool tracked(ConnTable& table, uint32_t n, uint8_t protocol = kProtoTcp) {
    return table.lookup(make_flow(n, protocol).original).connection != nullptr;
}

// The client's SYN-ACK arrives and it ACKs: the flow is Established.
void complete_handshake(ConnTable& table, uint32_t n, uint32_t now_ms) {
    Connection* connection = table.lookup(make_flow(n).original).connection;
    ASSERT_NE(connection, nullptr);
    table.update(connection, FlowDirection::Reply, kTcpFlagSyn | kTcpFlagAck, now_ms, kTimeouts);
    table.update(connection, FlowDirection::Original, kTcpFlagAck, now_ms, kTimeouts);
    ASSERT_EQ(connection->tcp_state, TcpState::Established);
}

uint32_t count_unanswered(const ConnTable& table) {
    uint32_t count = 0;
    table.for_each([&](const Connection& connection) { count += is_unanswered(connection); });
    return count;
}

TEST(HalfOpenAdmission, OldestUnansweredEntryIsEvictedFirst) {
    constexpr uint32_t kCapacity = 1'024;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_EQ(open(*table, n, n).status, InsertStatus::Inserted);
    EXPECT_EQ(table->unanswered(), kCapacity);
    for (uint32_t n = kCapacity; n < kCapacity + 100; ++n) {
        ASSERT_EQ(open(*table, n, 2'000).status, InsertStatus::InsertedAfterEviction);
        const uint32_t oldest_left = n - kCapacity + 1;
        ASSERT_FALSE(tracked(*table, oldest_left - 1)) << "flow " << oldest_left - 1 << " should be gone";
        ASSERT_TRUE(tracked(*table, oldest_left)) << "flow " << oldest_left << " is the next oldest";
    }
    EXPECT_EQ(table->size(), kCapacity);
}

// A real client's handshake completes within a round trip: its entry leaves the FIFO and a
// flood that cycles the table many times over never touches it.
TEST(HalfOpenAdmission, CompletedHandshakesSurviveAFloodOfNewSyns) {
    constexpr uint32_t kCapacity = 2'048;
    TablePtr table = make_table(kCapacity);
    uint32_t next = 0;
    uint32_t now = 0;
    std::vector<uint32_t> legitimate;
    for (int round = 0; round < 20 * static_cast<int>(kCapacity); ++round) {
        const uint32_t flow = next++;
        const InsertResult result = open(*table, flow, now);
        ASSERT_NE(result.connection, nullptr);
        if (flow % 97 == 0) legitimate.push_back(flow);
        // Each legitimate handshake completes 200 SYNs later, well within the FIFO's window.
        if (flow >= 200 && (flow - 200) % 97 == 0) complete_handshake(*table, flow - 200, now);
        if (round % 64 == 0) ++now;
    }
    for (uint32_t flow : legitimate) {
        if (flow + 200 >= next) continue;  // not completed yet
        const ConnLookupResult found = table->lookup(make_flow(flow).reply);
        ASSERT_NE(found.connection, nullptr) << "legitimate flow " << flow << " was evicted";
        ASSERT_EQ(found.connection->tcp_state, TcpState::Established);
    }
    EXPECT_EQ(table->unanswered(), count_unanswered(*table));
}

TEST(HalfOpenAdmission, AnsweredUdpLeavesTheFifo) {
    TablePtr table = make_table(1'024);
    ASSERT_EQ(open(*table, 0, 0, kTimeouts, kProtoUdp).status, InsertStatus::Inserted);
    ASSERT_EQ(open(*table, 1, 0, kTimeouts, kProtoUdp).status, InsertStatus::Inserted);
    EXPECT_EQ(table->unanswered(), 2u);
    Connection* answered = table->lookup(make_flow(0, kProtoUdp).reply).connection;
    table->update(answered, FlowDirection::Reply, 0, 10, kTimeouts);
    EXPECT_EQ(table->unanswered(), 1u);
    table->update(answered, FlowDirection::Original, 0, 20, kTimeouts);
    EXPECT_EQ(table->unanswered(), 1u) << "a later client packet does not make it unanswered again";
}

// A SYN reusing a closed connection's port makes the entry half-open again: it rejoins the
// FIFO at the young end.
TEST(HalfOpenAdmission, PortReuseRejoinsTheFifoAsTheYoungest) {
    constexpr uint32_t kCapacity = 1'024;
    TablePtr table = make_table(kCapacity);
    ASSERT_EQ(open(*table, 0, 0).status, InsertStatus::Inserted);
    complete_handshake(*table, 0, 0);
    for (uint32_t n = 1; n < kCapacity; ++n) ASSERT_EQ(open(*table, n, 1).status, InsertStatus::Inserted);
    Connection* reused = table->lookup(make_flow(0).original).connection;
    table->update(reused, FlowDirection::Original, kTcpFlagFin | kTcpFlagAck, 2, kTimeouts);
    EXPECT_EQ(table->unanswered(), kCapacity - 1);
    table->update(reused, FlowDirection::Original, kTcpFlagSyn, 3, kTimeouts);
    ASSERT_EQ(reused->tcp_state, TcpState::SynSent);
    EXPECT_EQ(table->unanswered(), kCapacity);
    for (uint32_t n = kCapacity; n < 2 * kCapacity - 1; ++n) {
        ASSERT_EQ(open(*table, n, 4).status, InsertStatus::InsertedAfterEviction);
    }
    EXPECT_TRUE(tracked(*table, 0)) << "rejoined after flows 1..1023, so evicted after them";
    ASSERT_EQ(open(*table, 2 * kCapacity, 4).status, InsertStatus::InsertedAfterEviction);
    EXPECT_FALSE(tracked(*table, 0));
}

TEST(HalfOpenAdmission, FreshHeadIsProtectedUntilItHasBeenIdleLongEnough) {
    constexpr uint32_t kCapacity = 1'024;
    constexpr ConnTimeouts kProtected = with_min_idle(10);
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n)
        ASSERT_EQ(open(*table, n, 1'000, kProtected).status, InsertStatus::Inserted);
    const InsertResult refused = open(*table, kCapacity, 1'009, kProtected);
    EXPECT_EQ(refused.status, InsertStatus::HalfOpenProtected);
    EXPECT_EQ(refused.connection, nullptr);
    EXPECT_TRUE(tracked(*table, 0));
    EXPECT_FALSE(tracked(*table, kCapacity));
    EXPECT_EQ(open(*table, kCapacity, 1'010, kProtected).status, InsertStatus::InsertedAfterEviction);
    EXPECT_FALSE(tracked(*table, 0));
    // The same instant without protection: the head is always evictable.
    EXPECT_EQ(open(*table, kCapacity + 1, 1'000, kTimeouts).status, InsertStatus::InsertedAfterEviction);
}

// Idle time, not age: a retransmitted SYN or the endpoint's SYN-ACK restarts it.
TEST(HalfOpenAdmission, ActivityRestartsTheIdleTime) {
    constexpr ConnTimeouts kProtected = with_min_idle(10);
    TablePtr table = make_table(1'024);
    ASSERT_EQ(open(*table, 0, 1'000, kProtected).status, InsertStatus::Inserted);
    Connection* connection = table->lookup(make_flow(0).original).connection;
    EXPECT_EQ(idle_ms(*connection, 1'000, kProtected), 0u);
    EXPECT_EQ(idle_ms(*connection, 1'007, kProtected), 7u);
    EXPECT_FALSE(may_evict_unanswered(*connection, 1'009, kProtected));
    EXPECT_TRUE(may_evict_unanswered(*connection, 1'010, kProtected));
    table->update(connection, FlowDirection::Reply, kTcpFlagSyn | kTcpFlagAck, 1'008, kProtected);
    EXPECT_EQ(idle_ms(*connection, 1'012, kProtected), 4u);
    EXPECT_FALSE(may_evict_unanswered(*connection, 1'012, kProtected));
    // Across the 32-bit wrap of the millisecond clock.
    ASSERT_EQ(open(*table, 1, UINT32_MAX - 3, kProtected).status, InsertStatus::Inserted);
    Connection* wrapped = table->lookup(make_flow(1).original).connection;
    EXPECT_EQ(idle_ms(*wrapped, 6, kProtected), 10u);
}

TEST(HalfOpenAdmission, ExpiredHeadIsReclaimedEvenWhenProtectionIsLong) {
    constexpr uint32_t kCapacity = 1'024;
    constexpr ConnTimeouts kProtected = with_min_idle(60'000);
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_EQ(open(*table, n, 0, kProtected).status, InsertStatus::Inserted);
    EXPECT_EQ(open(*table, kCapacity, kTimeouts.tcp_syn_ms - 1, kProtected).status, InsertStatus::HalfOpenProtected);
    EXPECT_EQ(open(*table, kCapacity, kTimeouts.tcp_syn_ms, kProtected).status, InsertStatus::Inserted)
        << "an expired entry is reclaimed, not evicted";
}

TEST(HalfOpenAdmission, EstablishedEntriesAreNeverEvictedAndFullIsReported) {
    constexpr uint32_t kCapacity = 1'024;
    TablePtr table = make_table(kCapacity);
    for (uint32_t n = 0; n < kCapacity; ++n) {
        ASSERT_EQ(open(*table, n, 0).status, InsertStatus::Inserted);
        complete_handshake(*table, n, 0);
    }
    EXPECT_EQ(table->unanswered(), 0u);
    EXPECT_EQ(open(*table, kCapacity, 1).status, InsertStatus::Full);
    for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_TRUE(tracked(*table, n));
}

// The FIFO's bookkeeping against the entries' own states, through random inserts, answers,
// closes, port reuses, removals, expiry and evictions.
TEST(HalfOpenAdmission, FifoCountMatchesTheEntriesUnderChurn) {
    constexpr uint32_t kCapacity = 2'000;
    TablePtr table = make_table(kCapacity);
    std::mt19937 random(15);
    uint32_t next = 0;
    uint32_t now = 0;
    for (int op = 0; op < 100'000; ++op) {
        now += random() % 3;
        const uint32_t choice = random() % 100;
        const uint8_t protocol = random() % 4 == 0 ? kProtoUdp : kProtoTcp;
        if (choice < 50 || next == 0) {
            open(*table, next++, now, kTimeouts, protocol);
            continue;
        }
        const uint32_t flow = random() % next;
        Connection* connection = table->lookup(make_flow(flow, protocol).original).connection;
        if (connection == nullptr) continue;
        if (choice < 70) {
            table->update(connection, FlowDirection::Reply, kTcpFlagSyn | kTcpFlagAck, now, kTimeouts);
        } else if (choice < 80) {
            table->update(connection, FlowDirection::Original, kTcpFlagAck, now, kTimeouts);
        } else if (choice < 88) {
            table->update(connection, FlowDirection::Original, kTcpFlagFin | kTcpFlagAck, now, kTimeouts);
        } else if (choice < 94) {
            table->update(connection, FlowDirection::Original, kTcpFlagSyn, now, kTimeouts);
        } else {
            table->remove(connection);
        }
        if (op % 1'000 == 0) table->expire(now, 500);
        ASSERT_EQ(table->unanswered(), count_unanswered(*table)) << "op " << op;
    }
    EXPECT_EQ(table->unanswered(), count_unanswered(*table));
}

}  // namespace
}  // namespace vipgate
