#include "pktgen/generator_lcore.h"

#include <algorithm>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "pktgen/backend_responder.h"

namespace vipgen {

GeneratorLcore::GeneratorLcore(const LcoreSetup& setup, RunControl& control)
    : setup_(setup),
      control_(control),
      pattern_(setup.pattern),
      statistics_(setup.endpoint_count),
      scratch_(setup.endpoint_count),
      current_(&statistics_),
      pacer_(0, setup.tsc_hz, kBurst),
      ns_per_tick_(1e9 / static_cast<double>(setup.tsc_hz)) {}

void GeneratorLcore::run() noexcept {
    uint64_t seen_epoch = 0;
    Command command;
    for (;;) {
        if (control_.poll(seen_epoch, command)) {
            if (command.phase == Phase::Exit) {
                control_.acknowledge(setup_.index, seen_epoch);
                break;
            }
            apply(command);
            control_.acknowledge(setup_.index, seen_epoch);
        }
        receive();
        const uint64_t now = rte_rdtsc();
        if (command_.phase == Phase::Run) {
            generate(now);
        } else if (command_.phase == Phase::Open) {
            open_flows(now);
        }
        transmit();
    }
    rte_pktmbuf_free_bulk(answers_.mbufs.data(), answers_.count);
    rte_pktmbuf_free_bulk(clients_.mbufs.data(), clients_.count);
    answers_.count = clients_.count = 0;
}

void GeneratorLcore::apply(const Command& command) noexcept {
    command_ = command;
    current_ = command.counting ? &statistics_ : &scratch_;
    if (command.reset_statistics) statistics_.reset();
    pacer_ = RatePacer(command.rate_pps, setup_.tsc_hz, kBurst);
    // Below line rate, send in batches of about kBatchInterval's worth of packets: a port's
    // per-burst cost (a doorbell, for memif possibly a syscall) must not be paid per packet.
    min_batch_ = command.rate_pps <= 0
                     ? 1
                     : static_cast<uint32_t>(std::clamp(command.rate_pps * kBatchIntervalSeconds, 1.0, double{kBurst}));
    if (command.phase == Phase::Open) {
        open_cursor_ = setup_.index;
        open_done_.store(!pattern_.opens_flows(), std::memory_order_release);
    }
}

void GeneratorLcore::receive() noexcept {
    rte_mbuf* burst[kBurst];
    const uint16_t received = rte_eth_rx_burst(setup_.port_id, setup_.queue, burst, kBurst);
    for (uint16_t i = 0; i < std::min<uint16_t>(received, kPrefetchAhead); ++i) {
        rte_prefetch0(rte_pktmbuf_mtod(burst[i], void*));
    }
    for (uint16_t i = 0; i < received; ++i) {
        if (i + kPrefetchAhead < received) rte_prefetch0(rte_pktmbuf_mtod(burst[i + kPrefetchAhead], void*));
        handle(burst[i]);
    }
    rte_pktmbuf_free_bulk(finished_.data(), finished_count_);
    finished_count_ = 0;
}

void GeneratorLcore::handle(rte_mbuf* m) noexcept {
    LcoreCounters& counters = current_->counters;
    const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    ReceivedPacket packet;
    Verdict verdict;
    const FrameType type = parse_frame(frame, rte_pktmbuf_data_len(m), packet, verdict);
    if (type == FrameType::Arp) {
        if (answers_.room() > 0 && make_arp_answer(m, *setup_.impersonated_hosts, setup_.our_mac)) {
            bump(counters.arp_answers);
            answers_.push(m, 0);
        } else {
            finished_[finished_count_++] = m;
        }
        return;
    }
    Signature signature{};
    if (verdict == Verdict::Ok && setup_.dns != nullptr) {
        uint32_t tx_tsc = 0;
        verdict = type == FrameType::Ipv4 ? setup_.dns->check_answer(packet, tx_tsc) : Verdict::Unexpected;
        if (verdict == Verdict::Ok) {
            bump(counters.returned_packets);
            bump(counters.returned_bytes, rte_pktmbuf_pkt_len(m));
            if (tx_tsc != 0) {
                const uint32_t ticks = static_cast<uint32_t>(rte_rdtsc()) - tx_tsc;
                current_->latency.record(static_cast<uint64_t>(ticks * ns_per_tick_));
            }
        }
    } else if (verdict == Verdict::Ok) {  // IPv4 or IPv6 (anything else is not Ok)
        if (setup_.checker->is_client_bound(packet)) {
            verdict = setup_.checker->check_returned(packet, signature);
            if (verdict == Verdict::Ok) {
                bump(counters.returned_packets);
                bump(counters.returned_bytes, rte_pktmbuf_pkt_len(m));
                const uint64_t now = rte_rdtsc();
                const uint32_t ticks = static_cast<uint32_t>(now) - signature.tx_tsc;
                current_->latency.record(static_cast<uint64_t>(ticks * ns_per_tick_));
                // While opening flows, the client completes each handshake at once (the ACK to
                // the SYN-ACK), as a TCP stack would: the gateway sees the flow Established
                // within a round trip, however long opening millions of flows takes.
                // The ACK goes out with the answers (ahead of new SYNs): a handshake left
                // half-open would expire and the flow be reset when the measurement starts.
                // Idle too: the phase turns Idle once the last SYN is sent, before its SYN-ACK.
                const bool opening = command_.phase == Phase::Open || command_.phase == Phase::Idle;
                if (opening && signature.kind == PacketKind::Open && answers_.room() > 0) {
                    setup_.factory->build(m, signature.flow_id, PacketKind::Data, static_cast<uint8_t>(setup_.index),
                                          static_cast<uint32_t>(now), 0);
                    answers_.push(m, 0);
                    return;
                }
                if (setup_.pattern.pattern == Pattern::Flood && tally_flood_reply(m, signature, now)) return;
            }
        } else {
            uint32_t endpoint = 0;
            verdict = setup_.checker->check_forwarded(packet, signature, endpoint);
            if (verdict == Verdict::Ok) {
                bump(counters.forwarded_packets);
                ++current_->endpoint_packets[endpoint];
                if (setup_.answer_backends && !command_.silent_backends) {
                    if (answers_.room() > 0) {
                        make_backend_reply(m, packet, setup_.our_mac);
                        answers_.push(m, 0);
                        return;
                    }
                    bump(counters.replies_dropped);
                }
            }
        }
    }
    if (verdict != Verdict::Ok) bump(counters.verdicts[static_cast<size_t>(verdict)]);
    finished_[finished_count_++] = m;
}

// Flood pattern: counts a checked reply by its flow's class; a legitimate connection's SYN-ACK
// (or a late one of an established flow's opening) is answered at once with the client's ACK
// carrying data (in `m`, queued with the answers), as its TCP stack would. True when `m` was
// consumed.
bool GeneratorLcore::tally_flood_reply(rte_mbuf* m, const Signature& signature, uint64_t now) noexcept {
    LcoreCounters& counters = current_->counters;
    switch (flow_class(signature.flow_id, setup_.pattern.flows)) {
    case FlowClass::Established:
        if (signature.kind != PacketKind::Open) {
            bump(counters.established_returned);
            return false;
        }
        break;
    case FlowClass::Spoofed:
        bump(counters.spoofed_answered);
        return false;
    case FlowClass::Legitimate:
        if (signature.kind != PacketKind::Open) {
            bump(counters.legit_completed);
            return false;
        }
        bump(counters.legit_answered);
        break;
    }
    if (answers_.room() == 0) return false;
    setup_.factory->build(m, signature.flow_id, PacketKind::Data, static_cast<uint8_t>(setup_.index),
                          static_cast<uint32_t>(now), 0);
    answers_.push(m, 0);
    return true;
}

void GeneratorLcore::generate(uint64_t now) noexcept {
    const uint32_t wanted = std::min({pacer_.allowance(now), clients_.room(), uint32_t{kBurst}});
    if (wanted < min_batch_) return;
    rte_mbuf** mbufs = clients_.mbufs.data() + clients_.count;
    if (rte_pktmbuf_alloc_bulk(setup_.pool, mbufs, wanted) != 0) {
        bump(current_->counters.alloc_failures);
        return;
    }
    const uint32_t tsc = static_cast<uint32_t>(now);
    const uint32_t sizes = setup_.factory->size_sequence_length();
    if (setup_.dns != nullptr) {
        // A zero TSC means "no sample" to the query table: queries sent at that tick go untimed.
        for (uint32_t i = 0; i < wanted; ++i) {
            clients_.bytes[clients_.count + i] = setup_.dns->build_query(mbufs[i], pattern_.next().flow_id, tsc);
        }
        clients_.count += wanted;
        pacer_.consume(wanted);
        return;
    }
    std::array<uint32_t, 3> by_class{};  // flood pattern: packets per FlowClass
    const bool flood = setup_.pattern.pattern == Pattern::Flood;
    for (uint32_t i = 0; i < wanted; ++i) {
        const NextPacket next = pattern_.next();
        clients_.bytes[clients_.count + i] = setup_.factory->build(mbufs[i], next.flow_id, next.kind,
                                                                   static_cast<uint8_t>(setup_.index), tsc, size_slot_);
        if (++size_slot_ == sizes) size_slot_ = 0;
        if (flood) ++by_class[static_cast<size_t>(flow_class(next.flow_id, setup_.pattern.flows))];
    }
    if (flood) {
        LcoreCounters& counters = current_->counters;
        bump(counters.established_sent, by_class[static_cast<size_t>(FlowClass::Established)]);
        bump(counters.spoofed_sent, by_class[static_cast<size_t>(FlowClass::Spoofed)]);
        bump(counters.legit_sent, by_class[static_cast<size_t>(FlowClass::Legitimate)]);
    }
    clients_.count += wanted;
    pacer_.consume(wanted);
}

void GeneratorLcore::open_flows(uint64_t now) noexcept {
    if (open_done_.load(std::memory_order_relaxed)) return;
    const uint32_t wanted = std::min({pacer_.allowance(now), clients_.room(), uint32_t{kBurst}});
    if (wanted < min_batch_) return;
    const uint32_t flows = setup_.pattern.flows;
    const uint32_t stride = setup_.pattern.lcore_count;
    uint32_t built = 0;
    const uint32_t tsc = static_cast<uint32_t>(now);
    while (built < wanted && open_cursor_ < flows) {
        const uint32_t flow = open_cursor_;
        open_cursor_ += stride;
        if (command_.retry_only && setup_.memory->replied(flow)) continue;
        rte_mbuf* m = rte_pktmbuf_alloc(setup_.pool);
        if (m == nullptr) {
            open_cursor_ -= stride;
            bump(current_->counters.alloc_failures);
            break;
        }
        clients_.push(m, setup_.factory->build(m, flow, PacketKind::Open, static_cast<uint8_t>(setup_.index), tsc, 0));
        ++built;
    }
    pacer_.consume(built);
    // Release: pairs with open_pass_done()'s acquire (the main lcore then waits for replies).
    if (open_cursor_ >= flows) open_done_.store(true, std::memory_order_release);
}

std::pair<uint32_t, uint64_t> GeneratorLcore::TxQueue::send(uint16_t port, uint16_t queue) noexcept {
    if (count == 0) return {0, 0};
    const uint16_t sent = rte_eth_tx_burst(port, queue, mbufs.data(), static_cast<uint16_t>(count));
    uint64_t sent_bytes = 0;
    for (uint16_t i = 0; i < sent; ++i) sent_bytes += bytes[i];
    count -= sent;
    std::copy(mbufs.begin() + sent, mbufs.begin() + sent + count, mbufs.begin());
    std::copy(bytes.begin() + sent, bytes.begin() + sent + count, bytes.begin());
    return {sent, sent_bytes};
}

void GeneratorLcore::transmit() noexcept {
    LcoreCounters& counters = current_->counters;
    const uint32_t replies = answers_.send(setup_.port_id, setup_.queue).first;
    if (replies != 0) bump(counters.replies_sent, replies);
    if (answers_.count != 0) return;  // the port is full: client packets wait
    const auto [packets, bytes] = clients_.send(setup_.port_id, setup_.queue);
    if (packets != 0) {
        bump(counters.tx_packets, packets);
        bump(counters.tx_bytes, bytes);
    }
}

}  // namespace vipgen
