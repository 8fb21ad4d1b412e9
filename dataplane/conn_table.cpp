// The IPv4 connection table: ConnIndex instantiated with the 64-byte Connection (conn_table.h).
#include "dataplane/conn_table.h"

#include "dataplane/conn_index_impl.h"

namespace vipgate {

template class ConnIndex<ConnTable, Connection, FlowKey4>;

InsertResult ConnTable::insert(const FlowKey4& original, const FlowKey4& reply, TcpState state, uint32_t now_ms,
                               const ConnTimeouts& timeouts) noexcept {
    return insert_entry(original, reply, state, now_ms, timeouts, [&](Connection& connection) {
        connection.original = original;
        connection.reply = reply;
    });
}

}  // namespace vipgate
