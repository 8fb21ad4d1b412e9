// ChunkedTable: an array split into fixed-size chunks that consecutive snapshots share.
//
// Design note: a snapshot is immutable, so changing one service used to mean copying every
// service port and endpoint slot into the next snapshot (10k services x 10 endpoints is
// megabytes per update). Here a snapshot holds pointers to chunks; the next snapshot copies the
// pointer array (a few hundred pointers) and copies only the chunks it writes to (copy on
// write: a chunk that any other table still references is cloned before the first write).
// Workers index it through two dependent loads and never touch the reference counts; only the
// control thread copies, writes and releases tables.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace vipgate {

template <typename T>
class ChunkedTable {
public:
    static constexpr uint32_t kChunkBits = 8;
    static constexpr uint32_t kChunkSize = 1u << kChunkBits;

    // Entries [0, capacity()) exist; unwritten ones are value-initialised T.
    uint32_t capacity() const noexcept { return static_cast<uint32_t>(chunks_.size()) << kChunkBits; }
    bool contains(uint32_t index) const noexcept { return index < capacity(); }

    const T& operator[](uint32_t index) const noexcept {
        return chunks_[index >> kChunkBits]->entries[index & (kChunkSize - 1)];
    }

    // Control thread only: a writable entry, growing the table to hold `index` and cloning the
    // chunk first when another table shares it.
    T& mutable_entry(uint32_t index) {
        const uint32_t chunk_index = index >> kChunkBits;
        while (chunk_index >= chunks_.size()) chunks_.push_back(std::make_shared<Chunk>());
        std::shared_ptr<Chunk>& chunk = chunks_[chunk_index];
        if (chunk.use_count() > 1) {
            chunk = std::make_shared<Chunk>(*chunk);
        }
        return chunk->entries[index & (kChunkSize - 1)];
    }

private:
    struct Chunk {
        std::array<T, kChunkSize> entries{};
    };
    std::vector<std::shared_ptr<Chunk>> chunks_;
};

}  // namespace vipgate
