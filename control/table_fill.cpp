// Table fill by family. See table_fill.h.
#include "control/table_fill.h"

#include "dataplane/worker_context.h"

namespace vipgate {
namespace {

template <class Table>
TableFill fill_of(const Table* table) noexcept {
    return table == nullptr ? TableFill{} : TableFill{table->size(), table->capacity()};
}

}  // namespace

FamilyFill connection_table_fill(const WorkerContext& worker) noexcept {
    return {fill_of(worker.connections), fill_of(worker.connections6)};
}

FamilyFill affinity_table_fill(const WorkerContext& worker) noexcept {
    return {fill_of(worker.affinity), fill_of(worker.affinity6)};
}

void add_fill(FamilyFill& sum, const FamilyFill& fill) noexcept {
    for (size_t family = 0; family < sum.size(); ++family) {
        sum[family].entries += fill[family].entries;
        sum[family].capacity += fill[family].capacity;
    }
}

}  // namespace vipgate
