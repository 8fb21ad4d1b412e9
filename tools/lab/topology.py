"""The lab's topology: real Linux hosts in network namespaces around one gateway namespace.

    client net 198.18.1.0/24                          server net 198.18.2.0/24
    c1 198.18.1.10 --+                              +-- b1 198.18.2.11
                     |  [sw: br-c]   [gw]   [sw: br-s]  +-- b2 198.18.2.12  ...
                     +----- gw0 ==== p0 |  | p1 ==== gw1 -----+
                              198.18.1.1   198.18.2.1

* `sw` is a switch: two Linux bridges, no addresses. `gw` holds the gateway's two ports p0/p1.
  With vipgate, p0/p1 have no kernel addresses: vipgate binds them (AF_XDP or AF_PACKET), owns
  198.18.1.1 and 198.18.2.1 and answers/sends ARP itself. With a kernel gateway, p0/p1 get those
  addresses and the kernel forwards (nftables/iptables rules in `gw`).
* Clients route everything via 198.18.1.1; ClusterIPs are in 198.18.100.0/24. Backends have only
  their subnet unless DNAT-only mode needs the client net routed back via 198.18.2.1.
* Every veth has one queue each way and TX checksum offload off on both ends: a frame handed to
  AF_XDP/AF_PACKET carries what is on the wire, so an offloaded (partial) checksum would reach the
  backends' kernels unfixed and be dropped there.
"""
from . import netns

CLIENT_NET, GW_CLIENT_IP = "198.18.1.0/24", "198.18.1.1"
SERVER_NET, GW_SERVER_IP = "198.18.2.0/24", "198.18.2.1"
VIP_NET = "198.18.100.0/24"


def client_ip(index):
    return f"198.18.1.{10 + index}"


def backend_ip(index):
    return f"198.18.2.{11 + index}"


class Lab:
    def __init__(self, backends=4, clients=1, tag=""):
        """clients: a count (c1, c2, ... at 198.18.1.10, .11, ...) or a list of addresses in the
        client net, one per client c1, c2, ... in that order."""
        self.ns = netns.Namespaces(tag)
        addresses = [client_ip(i) for i in range(clients)] if isinstance(clients, int) else list(clients)
        self.clients = {f"c{i + 1}": address for i, address in enumerate(addresses)}
        self.backends = {f"b{i + 1}": backend_ip(i) for i in range(backends)}

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.ns.close()

    def _plain(self, role):
        ns = self.ns
        ns.add(role)
        ns.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")

    def _offloads_off(self, role, iface):
        self.ns.run(role, "ethtool", "-K", iface, "tx", "off", "rx", "off", "gro", "off", check=False)

    def _link(self, role, iface, switch_port, bridge):
        """veth role:iface <-> sw:switch_port, the latter enslaved to `bridge`."""
        ns = self.ns
        ns.veth(role, iface, "sw", switch_port)
        ns.run("sw", "ip", "link", "set", switch_port, "master", bridge, "up")
        self._offloads_off("sw", switch_port)
        self._offloads_off(role, iface)
        ns.run(role, "ip", "link", "set", iface, "up")

    def up(self):
        netns.clean_stale()
        ns = self.ns
        for role in ["sw", "gw", *self.clients, *self.backends]:
            self._plain(role)
        for bridge in ["br-c", "br-s"]:
            ns.run("sw", "ip", "link", "add", bridge, "type", "bridge", "forward_delay", 0)
            ns.run("sw", "ip", "link", "set", bridge, "up")
        self._link("gw", "p0", "gw0", "br-c")
        self._link("gw", "p1", "gw1", "br-s")
        for name, address in self.clients.items():
            self._link(name, "eth0", name, "br-c")
            ns.run(name, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
            ns.run(name, "ip", "route", "add", "default", "via", GW_CLIENT_IP)
        for name, address in self.backends.items():
            self._link(name, "eth0", name, "br-s")
            ns.run(name, "ip", "addr", "add", f"{address}/24", "dev", "eth0")

    def add_server_host(self, name, address):
        """One more host on the server net (e.g. an upstream DNS server), like a backend but not one."""
        self._plain(name)
        self._link(name, "eth0", name, "br-s")
        self.ns.run(name, "ip", "addr", "add", f"{address}/24", "dev", "eth0")

    def route_clients_back(self, enabled):
        """DNAT-only: backends answer the client's own address, so they route the client net via
        the gateway. Full-NAT needs no route (replies go to the gateway's SNAT address)."""
        for name in self.backends:
            self.ns.run(name, "ip", "route", "replace" if enabled else "del", CLIENT_NET, "via", GW_SERVER_IP,
                        check=enabled)

    def gateway_addresses(self, enabled):
        """Kernel gateway: p0/p1 get the gateway addresses and forwarding is on."""
        for port, address in [("p0", GW_CLIENT_IP), ("p1", GW_SERVER_IP)]:
            self.ns.run("gw", "ip", "addr", "flush" if not enabled else "add",
                        *([f"{address}/24", "dev", port] if enabled else ["dev", port]))
        self.ns.run("gw", "sysctl", "-qw", f"net.ipv4.ip_forward={1 if enabled else 0}")

    def neighbors_flush(self):
        for role in [*self.clients, *self.backends]:
            self.ns.run(role, "ip", "neigh", "flush", "dev", "eth0", check=False)

    def read_counter(self, role, iface, counter):
        return int(self.ns.run(role, "cat", f"/sys/class/net/{iface}/statistics/{counter}", capture=True))
