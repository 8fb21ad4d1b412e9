// The IPv6 connection table: ConnIndex instantiated with the 96-byte Connection6 (conn_table6.h).
#include "dataplane/conn_table6.h"

#include "dataplane/conn_index_impl.h"

namespace vipgate {

template class ConnIndex<ConnTable6, Connection6, FlowKey6>;

FlowKey6 ConnTable6::make_reply_key(const FlowKey6& original, const ReplySide6& reply) const noexcept {
    FlowKey6 key;
    std::memcpy(key.src_addr, reply.endpoint_addr, sizeof(key.src_addr));
    std::memcpy(key.dst_addr,
                reply.snat_slot == Connection6::kDnatOnly ? original.src_addr : snat_addresses_[reply.snat_slot],
                sizeof(key.dst_addr));
    key.src_port = reply.endpoint_port;
    key.dst_port = reply.dst_port;
    key.protocol = original.protocol;
    return key;
}

FlowKey6 ConnTable6::reply_key(const Connection6& connection) const noexcept {
    ReplySide6 reply;
    std::memcpy(reply.endpoint_addr, connection.endpoint_addr, sizeof(reply.endpoint_addr));
    reply.endpoint_port = connection.endpoint_port;
    reply.dst_port = connection.reply_dst_port;
    reply.snat_slot = connection.snat_slot;
    return make_reply_key(connection.original, reply);
}

InsertResult6 ConnTable6::insert(const FlowKey6& original, const ReplySide6& reply, TcpState state, uint32_t now_ms,
                                 const ConnTimeouts& timeouts) noexcept {
    return insert_entry(
        original, make_reply_key(original, reply), state, now_ms, timeouts, [&](Connection6& connection) {
            connection.original = original;
            std::memcpy(connection.endpoint_addr, reply.endpoint_addr, sizeof(connection.endpoint_addr));
            connection.endpoint_port = reply.endpoint_port;
            connection.reply_dst_port = reply.dst_port;
            connection.snat_slot = reply.snat_slot;
        });
}

}  // namespace vipgate
