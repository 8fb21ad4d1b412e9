// vipgate's DPDK telemetry commands, beside DPDK's own (/ethdev/stats, /eal/...), so that
// `dpdk-telemetry.py -f <file prefix>` shows the gateway's state next to the ports':
//
//   /vipgate/stats      every counter summed over the workers, drops by reason, the generation
//   /vipgate/services   per service port: VIP, protocol, connections, packets, bytes, keyed
//                       "namespace/name_port" (telemetry keys allow [A-Za-z0-9_/] only);
//                       parameter: a "namespace/name" prefix to select services
//   /vipgate/workers    per worker: its counters and its connection table's fill
//
// Design note: the numbers come from the control API's own `get stats` answer and the same
// worker counters, so vipctl, the telemetry socket and the log never disagree. Telemetry's
// callbacks run on DPDK's telemetry thread, take no context and cannot be unregistered, so they
// reach the daemon through a pointer that is set while it runs; the mutex around it makes
// withdraw_telemetry_commands() wait for a callback in progress before the daemon tears down.
#pragma once

#include "control/api_handlers.h"

namespace vipgate {

// Registers the commands (once per process) and answers them from `backend` until withdrawn.
// Returns false when DPDK refused to register them (telemetry disabled, say): the daemon goes on.
bool publish_telemetry_commands(ApiBackend& backend);

// From now on the commands answer with an error. Idempotent.
void withdraw_telemetry_commands();

}  // namespace vipgate
