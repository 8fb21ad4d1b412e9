// The gateway the pipeline fuzz target drives: two ports, two workers, a handful of services
// that reach every branch of the pipeline (several endpoints with weights, sessionAffinity
// ClientIP, a service without endpoints, a drained one, endpoints whose neighbor is unresolved
// or that have no route, two VIPs sharing an endpoint, TCP, UDP and SCTP), built from TOML by
// the daemon's own loader and SnapshotBuilder, for both NAT modes.
//
// Each mode has two snapshots: `initial`, and `reloaded`, which a second builder made by
// building the initial configuration and then one where web lost an endpoint and sticky gained
// one, exactly as a reload does, so connections opened under `initial` meet endpoints that are
// gone. (One builder cannot serve both: its lookup hashes follow its latest build.)
//
// Topology, all addresses in 198.18.0.0/15 (the frames of tests/fuzz/corpus/pipeline use them):
//   port 0 "clients"   02:00:00:00:00:02  198.18.200.1/24, router 198.18.200.254 (resolved)
//                                          route 198.18.0.0/24 via .254, 198.18.1.0/24 via .253 (unresolved)
//   port 1 "endpoints" 02:00:00:00:00:03  198.19.0.1/24 and SNAT 198.19.0.2/24, VLAN 100
//   client ranges 198.18.0.0/16
//   web        198.18.100.1  TCP 80->8080, UDP 53->5353, SCTP 9->9   198.19.0.20, .21 (weight 2), .22
//   empty      198.18.100.2  TCP 80, UDP 53                          no endpoints
//   drained    198.18.100.3  TCP 80, UDP 53                          .24 weight 0, .25 not ready
//   sticky     198.18.100.4  TCP 443->8443, UDP 53->5353 (ClientIP)  .21, .22
//   unresolved 198.18.100.6  TCP 80->8080                            198.19.0.30 (no ARP entry)
//   unroutable 198.18.100.7  TCP 80->8080                            198.19.200.9 (no route)
//   alias      198.18.100.8  TCP 80->8080                            .20 (as web: reply tuples clash in DNAT)
//   peers      headless      UDP 7946 (DNS only: A/SRV/PTR by hostname peer-a, dashed 198-19-0-41)
//   ext        ExternalName  www.example.org (DNS only: a CNAME)
//   DNS        198.18.100.53 zone cluster.local, every snapshot's `dns` built by build_dns_zone from the
//              same services; `initial`: upstream 198.19.0.20 (out-of-zone names forwarded over
//              UDP), 4 responses/s per client with every 2nd limited one slipped; `reloaded`: no
//              upstreams, no rate limit
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "control/snapshot_builder.h"
#include "dataplane/neighbor_table.h"
#include "dataplane/snapshot.h"

namespace vipgate::fuzz {

inline constexpr uint16_t kWorkers = 2;
inline constexpr uint16_t kPorts = 2;

struct ModeSnapshots {
    std::unique_ptr<SnapshotBuilder> initial_builder;
    std::unique_ptr<SnapshotBuilder> reload_builder;
    std::unique_ptr<Snapshot> initial;
    std::unique_ptr<Snapshot> reloaded;
};

struct Topology {
    ModeSnapshots full_nat;
    ModeSnapshots dnat_only;
    NeighborTable neighbors;  // the configuration's static entries
};

// Builds everything; throws std::runtime_error when the configuration is refused.
std::unique_ptr<Topology> build_topology();

// The TOML text of the topology (`reloaded`: the configuration after the reload).
std::string topology_config(NatMode mode, bool reloaded);

}  // namespace vipgate::fuzz
