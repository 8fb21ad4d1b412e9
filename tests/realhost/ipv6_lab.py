"""The IPv6 lab the realhost IPv6 tests share (test_ipv6_nd.py, test_ipv6_ra.py), on top of
realhost_harness: vipgate's ports p0 and p1 get IPv6 addresses, its config an IPv6 pod per
backend, the SNAT6 address and an IPv6 ClusterIP (service web6, port 80 to the pods' http);
the client c1 and the backends get IPv6 on eth0 (no router advertisements taken, no duplicate
address detection), c1 a route to the ClusterIPs via p0, and each backend an IPv6-only nginx.
No static IPv6 neighbor anywhere: everyone resolves everyone with Neighbor Discovery.
"""
import os

import realhost_harness as r
from lab import servers, topology

GW_CLIENT6, GW_SERVER6 = "2001:db8:1::1", "2001:db8:2::1"
CLIENT6 = "2001:db8:1::10"
CLUSTER_IPS6 = "2001:db8:100::/64"


def prepare(t, vip6, backends6, p0_options=None):
    """Before vipgate starts: the IPv6 ports (p0 with `p0_options` besides its addresses), the
    pods of `backends6` (backend name: IPv6 address) and the ClusterIP `vip6`."""
    t.gateway.port_options = {
        "p0": {"addresses": [f"{topology.GW_CLIENT_IP}/24", f"{GW_CLIENT6}/64"], **(p0_options or {})},
        "p1": {"addresses": [f"{topology.GW_SERVER_IP}/24", f"{GW_SERVER6}/64"]},
    }
    t.gateway.tables = {
        "snat": {"addresses": [topology.GW_SERVER_IP, GW_SERVER6]},
        "pods": [{"name": name, "pod_ips": [t.lab.backends[name], address], "labels": {"app": "web6"},
                  "ports": [{"name": "http", "protocol": "TCP", "port": servers.HTTP_PORT}]}
                 for name, address in backends6.items()],
    }
    t.services.append({"name": "web6", "cluster_ip": vip6, "selector": {"app": "web6"},
                       "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": "http"}]})


def start(t, backends6):
    """Once vipgate runs: IPv6 on c1 (CLIENT6, the ClusterIPs via GW_CLIENT6) and on each backend
    of `backends6`, each backend with its IPv6 nginx listening."""
    enable_ipv6(t, "c1", CLIENT6, via=GW_CLIENT6)
    for name, address in backends6.items():
        enable_ipv6(t, name, address)
        start_nginx6(t, name)


def enable_ipv6(t, role, address, via=None):
    ns = t.lab.ns
    ns.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
           "net.ipv6.conf.eth0.disable_ipv6=0", "net.ipv6.conf.eth0.accept_ra=0")
    ns.run(role, "ip", "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
    if via:
        ns.run(role, "ip", "-6", "route", "add", CLUSTER_IPS6, "via", via, "dev", "eth0")


def start_nginx6(t, name):
    """A second nginx on the backend, IPv6 only (the lab's own listens on IPv4)."""
    directory = os.path.join(t.gateway.workdir, f"{name}-v6")
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(servers.NGINX_CONF.format(dir=directory, port=f"[::]:{servers.HTTP_PORT} ipv6only=on", name=name))
    t.lab.ns.spawn(name, ["nginx", "-e", os.path.join(directory, "error.log"), "-p", directory, "-c", conf],
                   log_path=os.path.join(directory, "nginx.out"))
    r.wait_for(f"nginx on {name} listening on [::]:{servers.HTTP_PORT}",
               lambda: f"[::]:{servers.HTTP_PORT} " in t.lab.ns.run(name, "ss", "-Hltn6", capture=True), timeout=10)
