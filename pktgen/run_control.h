// How the main lcore steers the generator lcores: one command at a time, acknowledged.
//
// Design note: the lcores must never take a lock or make a syscall, yet the main lcore has to
// switch them between phases (open flows, run at a rate, drain, stop) and read their
// histograms without racing. The main lcore writes the command, then bumps an epoch with a
// release store; each lcore polls the epoch once per loop (acquire), applies the command and
// acknowledges the epoch (release). The main lcore waits for every acknowledgement before it
// writes the next command or reads what the lcores stopped writing, so the plain command
// struct and the frozen statistics are never accessed concurrently.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace vipgen {

inline constexpr uint32_t kMaxGeneratorLcores = 32;

enum class Phase : uint32_t {
    Idle,  // receive, check and answer; send nothing
    Open,  // send the opening packet of every owned flow that has no reply yet, then idle
    Run,   // send the pattern at the command's rate
    Exit,
};

struct Command {
    Phase phase = Phase::Idle;
    double rate_pps = 0;   // per lcore; 0 = unlimited
    bool counting = true;  // false: statistics go to a scratch copy (the trial's are frozen)
    bool reset_statistics = false;
    bool retry_only = false;       // Open: only flows without a reply
    bool silent_backends = false;  // Run: the emulated endpoints check but do not answer
};

class RunControl {
public:
    explicit RunControl(uint32_t lcores) noexcept : lcores_(lcores) {}

    // Main lcore: publishes `command` and returns once every lcore has applied it.
    void post(const Command& command) noexcept {
        command_ = command;
        // Release: the command is written before any lcore can see the new epoch.
        const uint64_t epoch = epoch_.fetch_add(1, std::memory_order_release) + 1;
        for (uint32_t i = 0; i < lcores_; ++i) {
            // Acquire: everything the lcore wrote before acknowledging is visible afterwards.
            while (acks_[i].load(std::memory_order_acquire) != epoch) {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        }
    }

    // Generator lcore: returns true (and the command) when a new one was posted.
    bool poll(uint64_t& seen_epoch, Command& out) const noexcept {
        // Acquire: pairs with post()'s release, so command_ is complete.
        const uint64_t epoch = epoch_.load(std::memory_order_acquire);
        if (epoch == seen_epoch) return false;
        seen_epoch = epoch;
        out = command_;
        return true;
    }
    void acknowledge(uint32_t lcore, uint64_t epoch) noexcept {
        // Release: the lcore's statistics and state are published with the acknowledgement.
        acks_[lcore].store(epoch, std::memory_order_release);
    }

private:
    uint32_t lcores_;
    alignas(64) std::atomic<uint64_t> epoch_{0};
    Command command_;
    alignas(64) std::array<std::atomic<uint64_t>, kMaxGeneratorLcores> acks_{};
};

}  // namespace vipgen
