"""The ECMP lab: a client, a BGP router with ECMP, two vipgate gateways announcing their VIPs
with BIRD, and nginx backends, each in a network namespace of its own.

    c1 198.18.10.10 ---- c0 [rt] f0 198.18.20.1 ----[sw: br-f]---- gw1 p0 198.18.20.11 (vg-p0)
                    198.18.10.1  b0 198.18.30.1                +-- gw2 p0 198.18.20.12 (vg-p0)
                                   |
                              [sw: br-b]---- gw1 p1 198.18.30.11, gw2 p1 198.18.30.12
                                   +-------- b1 198.18.30.21, b2 198.18.30.22

Forward path: the router (`rt`, BIRD) learns each VIP only by BGP from the gateways and installs
it in its main table as one route with both gateways as next hops (`merge paths`), hashed on
the 5-tuple (fib_multipath_hash_policy=1). A gateway's BIRD peers with rt over vipgate's kernel
exception path (the tap vg-p0 carries p0's address) and exports the routes vipgate keeps in
kernel table 100 (`[announce]`), with BFD (100 ms x 5) so a dead gateway is noticed in 0.5 s.

Return path (DNAT-only, where backends answer the client's own address): backends route via rt
(198.18.30.1), and rt sends what arrives on b0 through table 200 (`ip rule iif b0`), which holds
only the client net, learned by BGP from the gateways with ECMP too (each gateway's BIRD
announces 198.18.10.0/24 with itself as next hop). Why through the router and BGP: a backend's
own static route to a gateway would keep pointing at a dead one, while a BGP route goes with
the gateway's session, so replies always reach a live gateway. Replies may come back through
the other gateway than the request (the hash sees other ports): vipgate translates an untracked
DNAT reply statelessly, and picks up mid-stream TCP on the same Maglev endpoint, so any gateway
with the same hash_seed and services serves any packet of a flow.
Full-NAT: each gateway's SNAT address is its own p1 address; replies go straight to it.

IPv6 beside it: the client net 2001:db8:10::/64, the front 2001:db8:20::/64 (rt ::1, gateways ::11
and ::12), the back 2001:db8:30::/64 (SNAT6 ::11 and ::12, backends ::21 and ::22), and the
IPv6 ClusterIP VIP6 served by nginx on the backends' IPv6 addresses. Each gateway's BIRD has a
second BGP session (BFD too), over IPv6 between its front address and rt's, which also runs through
vipgate's kernel exception path (vg-p0 carries p0's IPv6 address) and exports the /128 routes
vipgate keeps in the IPv6 half of kernel table 100; next hop self: the gateway's front IPv6
address, which rt reaches on the link (vipgate answers rt's solicitations for it). Why a session
of its own rather than IPv6 unicast over the IPv4 session: an IPv4 session has no IPv6 address
of the gateway to give as the next hop. IPv6 is served full-NAT only here: a DNAT-only reply
path for IPv6 would need the backside table of IPv6 too.
"""
import os
import signal
import sys
import time

from . import netns, servers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from vipgate_harness import toml_dumps  # noqa: E402

CLIENT_NET, CLIENT, RT_CLIENT = "198.18.10.0/24", "198.18.10.10", "198.18.10.1"
FRONT_PREFIX, RT_FRONT = 24, "198.18.20.1"
RT_BACK = "198.18.30.1"
VIP, VIP_PORT = "198.18.100.10", 80
CLIENT_NET6, CLIENT6, RT_CLIENT6, RT_FRONT6 = "2001:db8:10::/64", "2001:db8:10::10", "2001:db8:10::1", "2001:db8:20::1"
VIP6 = "2001:db8:100::10"
GATEWAYS6 = {"gw1": ("2001:db8:20::11", "2001:db8:30::11"), "gw2": ("2001:db8:20::12", "2001:db8:30::12")}
BACKENDS6 = {"b1": "2001:db8:30::21", "b2": "2001:db8:30::22"}
ROUTER_AS, ANNOUNCE_TABLE, BACKSIDE_TABLE = 65000, 100, 200
BFD = "min rx interval 100 ms; min tx interval 100 ms; multiplier 5;"
GATEWAYS = {"gw1": ("198.18.20.11", "198.18.30.11", 65011), "gw2": ("198.18.20.12", "198.18.30.12", 65012)}
BACKENDS = {"b1": "198.18.30.21", "b2": "198.18.30.22"}
METRICS = "127.0.0.1:9469"  # each gateway's, inside its own namespace
STREAM_PORT, STREAM_TARGET_PORT = 81, 8081
# A streaming server on each backend: its name, then 1 KB every 10 ms for as long as the
# client stays (the client only reads; its ACKs are all that flows towards the gateways).
STREAMER = f"""
import socket, sys, threading, time
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", {STREAM_TARGET_PORT}))
listener.listen(64)
def serve(connection):
    try:
        connection.sendall(sys.argv[1].encode() + b"\\n")
        while True:
            connection.sendall(b"x" * 1024)
            time.sleep(0.01)
    except OSError:
        connection.close()
while True:
    threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
"""

ROUTER_BIRD = """
log "{log}" all;
router id {router};
ipv4 table backside;
protocol device {{ scan time 10; }}
protocol bfd {{ interface "f0" {{ {bfd} }}; }}
template bgp gateway_peer {{
    local {router} as {router_as};
    hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;
    bfd on;
    ipv4 {{ import all; export none; }};
}}
{peers}
template bgp gateway_peer6 {{
    local {router6} as {router_as};
    hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;
    bfd on;
    ipv6 {{ import all; export none; }};
}}
{peers6}
protocol kernel vips6 {{
    merge paths on;
    ipv6 {{ import none; export filter {{ if net ~ [2001:db8:100::/64+] then accept; reject; }}; }};
}}
# VIPs into the main table: one ECMP route over every gateway that announces it.
protocol kernel vips {{
    merge paths on;
    ipv4 {{ import none; export filter {{ if net ~ [198.18.100.0/24+] then accept; reject; }}; }};
}}
# The client net, learned from the gateways, into the table the backends' replies use.
protocol pipe backside_routes {{
    table master4; peer table backside;
    import none;
    export filter {{ if net = {client_net} then accept; reject; }};
}}
protocol kernel backside_kernel {{
    merge paths on;
    kernel table {backside_table};
    ipv4 {{ table backside; import none; export all; }};
}}
"""

GATEWAY_BIRD = """
log "{log}" all;
router id {address};
ipv4 table vips;
ipv6 table vips6;
protocol device {{ scan time 10; }}
protocol kernel announced6 {{
    learn; scan time 1;
    kernel table {announce_table};
    ipv6 {{ table vips6; import all; export none; }};
}}
protocol bgp uplink6 {{
    local {address6} as {local_as};
    neighbor {router6} as {router_as};
    hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;
    bfd on;
    ipv6 {{ table vips6; import none; export all; next hop self; }};
}}
# What vipgate announces: its /32 routes in kernel table {announce_table}, through vg-p0.
protocol kernel announced {{
    learn; scan time 1;
    kernel table {announce_table};
    ipv4 {{ table vips; import all; export none; }};
}}
# The return path for the backends' replies (DNAT-only): the client net, via this gateway.
protocol static client_return {{
    ipv4 {{ table vips; }};
    route {client_net} via {router};
}}
protocol bfd {{ interface "vg-p0" {{ {bfd} }}; }}
protocol bgp uplink {{
    local {address} as {local_as};
    neighbor {router} as {router_as};
    hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;
    bfd on;
    ipv4 {{ table vips; import none; export all; next hop self; }};
}}
"""


class Bird:
    def __init__(self, lab, role, text):
        self.lab, self.role = lab, role
        directory = os.path.join(lab.workdir, role)
        os.makedirs(directory, exist_ok=True)
        self.config = os.path.join(directory, "bird.conf")
        self.socket = os.path.join(directory, "bird.ctl")
        self.log = os.path.join(directory, "bird.log")
        with open(self.config, "w") as f:
            f.write(text.replace("{log}", self.log))
        self.process = None

    def start(self):
        self.process = self.lab.ns.spawn(self.role, ["bird", "-f", "-c", self.config, "-s", self.socket,
                                                     "-P", self.socket + ".pid"],
                                         log_path=self.log + ".out")

    def show(self, *command):
        return self.lab.ns.run(self.role, "birdc", "-s", self.socket, *command, capture=True, check=False)


class Gateway:
    def __init__(self, lab, name, exe, nat_mode):
        self.lab, self.name, self.exe, self.nat_mode = lab, name, exe, nat_mode
        self.front, self.back, self.asn = GATEWAYS[name]
        directory = os.path.join(lab.workdir, name)
        os.makedirs(directory, exist_ok=True)
        self.config_path = os.path.join(directory, "vipgate.toml")
        self.api_socket = os.path.join(directory, "api.sock")
        self.log_path = os.path.join(directory, "vipgate.log")
        self.process = None
        self.starts = 0
        self.bird = Bird(lab, name, GATEWAY_BIRD.format(
            address=self.front, router=RT_FRONT, router_as=ROUTER_AS, local_as=self.asn, bfd=BFD,
            address6=GATEWAYS6[name][0], router6=RT_FRONT6,
            announce_table=ANNOUNCE_TABLE, client_net=CLIENT_NET, log="{log}"))

    def config(self):
        prefix = f"{self.lab.ns.base}-{self.name}-{self.starts}"
        return {
            "eal": {"args": ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry",
                             "--file-prefix", prefix, "--lcores=0@0,1@1"]},
            "dataplane": {"worker_lcores": [1], "nat_mode": self.nat_mode, "stats_interval_ms": 1000,
                          "idle": "adaptive", "mbufs_per_port": 4095, "hash_seed": 1234},
            "conntrack": {"capacity": 16384},
            "snat": {"addresses": [self.back, GATEWAYS6[self.name][1]]},
            "announce": {"enabled": True, "table": ANNOUNCE_TABLE, "port": "p0"},
            "ports": [
                {"name": "p0", "device": "net_af_packet0,iface=p0,qpairs=1",
                 "addresses": [f"{self.front}/24", f"{GATEWAYS6[self.name][0]}/64"], "kernel_interface": "vg-p0"},
                {"name": "p1", "device": "net_af_packet1,iface=p1,qpairs=1",
                 "addresses": [f"{self.back}/24", f"{GATEWAYS6[self.name][1]}/64"]},
            ],
            "routes": [{"prefix": CLIENT_NET, "via": RT_FRONT}, {"prefix": CLIENT_NET6, "via": RT_FRONT6}],
            "services": [{"name": "web", "cluster_ip": VIP,
                          "ports": [{"name": "http", "protocol": "TCP", "port": VIP_PORT,
                                     "target_port": servers.HTTP_PORT},
                                    {"name": "stream", "protocol": "TCP", "port": STREAM_PORT,
                                     "target_port": STREAM_TARGET_PORT}],
                          "endpoints": [{"address": address} for address in BACKENDS.values()]},
                         {"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                          "ports": [{"name": "http", "protocol": "TCP", "port": VIP_PORT, "target_port": "http"}]}],
            "pods": [{"name": name, "pod_ips": [address], "labels": {"app": "web6"},
                      "ports": [{"name": "http", "protocol": "TCP", "port": servers.HTTP_PORT}]}
                     for name, address in BACKENDS6.items()],
        }

    def start(self):
        """vipgate, then (once vg-p0 exists) BIRD; returns when vipgate's workers run."""
        self.starts += 1
        with open(self.config_path, "w") as f:
            f.write(toml_dumps(self.config()))
        self.process = self.lab.ns.spawn(self.name, [self.exe, "--config", self.config_path, "--api-socket",
                                                     self.api_socket, "--metrics-address", METRICS],
                                         log_path=self.log_path + f".{self.starts}")
        deadline = time.monotonic() + 60
        while "worker(s) running" not in self.log_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: vipgate did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)
        if self.bird.process is None or self.bird.process.poll() is not None:
            self.bird.start()

    def log_text(self):
        try:
            with open(self.log_path + f".{self.starts}", "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def metric(self, name):
        """The value of an unlabelled series on the gateway's /metrics."""
        text = self.lab.ns.run(self.name, "curl", "-s", "-m", "5", f"http://{METRICS}/metrics", capture=True)
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise RuntimeError(f"{self.name}: no {name} in /metrics")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        """SIGTERM; returns the log."""
        if self.process:
            netns.terminate(self.process, name=f"{self.name}: vipgate")
        return self.log_text()


class EcmpLab:
    def __init__(self, workdir, vipgate, nat_mode):
        self.workdir = workdir
        self.ns = netns.Namespaces()
        self.backends = dict(BACKENDS)  # servers.start() reads it
        self.gateways = {name: Gateway(self, name, vipgate, nat_mode) for name in GATEWAYS}
        self.router = Bird(self, "rt", ROUTER_BIRD.format(
            router=RT_FRONT, router_as=ROUTER_AS, bfd=BFD, client_net=CLIENT_NET, backside_table=BACKSIDE_TABLE,
            router6=RT_FRONT6,
            log="{log}", peers="\n".join(f"protocol bgp {name} from gateway_peer {{ neighbor {front} as {asn}; }}"
                                         for name, (front, _, asn) in GATEWAYS.items()),
            peers6="\n".join(f"protocol bgp {name}_v6 from gateway_peer6 {{ neighbor {GATEWAYS6[name][0]} as {asn}; }}"
                              for name, (_, _, asn) in GATEWAYS.items())))

    def _link(self, role, iface, bridge):
        """veth role:iface <-> sw:<role>-<bridge>, enslaved to `bridge`; offloads off (AF_PACKET)."""
        port = f"{role}-{bridge[-1]}"
        self.ns.veth(role, iface, "sw", port)
        self.ns.run("sw", "ip", "link", "set", port, "master", bridge, "up")
        for r, i in [("sw", port), (role, iface)]:
            self.ns.run(r, "ethtool", "-K", i, "tx", "off", "rx", "off", "gro", "off", check=False)
        self.ns.run(role, "ip", "link", "set", iface, "up")

    def _ipv6_on(self, role, iface, address):
        """IPv6 on one interface of a namespace whose IPv6 is off elsewhere (the gateways' p0 and
        p1 keep it off: with AF_PACKET their kernel would see vipgate's wire traffic)."""
        self.ns.run(role, "sysctl", "-qw", f"net.ipv6.conf.{iface}.disable_ipv6=0", f"net.ipv6.conf.{iface}.accept_ra=0")
        self.ns.run(role, "ip", "-6", "addr", "add", address, "dev", iface, "nodad")

    def up(self):
        netns.clean_stale()
        ns = self.ns
        for role in ["sw", "rt", "c1", *GATEWAYS, *BACKENDS]:
            ns.add(role)
            ns.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        for bridge in ["br-f", "br-b"]:
            ns.run("sw", "ip", "link", "add", bridge, "type", "bridge", "forward_delay", 0)
            ns.run("sw", "ip", "link", "set", bridge, "up")
        ns.veth("c1", "eth0", "rt", "c0")
        for role, iface in [("c1", "eth0"), ("rt", "c0")]:
            ns.run(role, "ethtool", "-K", iface, "tx", "off", "rx", "off", "gro", "off", check=False)
            ns.run(role, "ip", "link", "set", iface, "up")
        ns.run("c1", "ip", "addr", "add", f"{CLIENT}/24", "dev", "eth0")
        ns.run("c1", "ip", "route", "add", "default", "via", RT_CLIENT)
        ns.run("rt", "ip", "addr", "add", f"{RT_CLIENT}/24", "dev", "c0")
        self._link("rt", "f0", "br-f")
        self._link("rt", "b0", "br-b")
        ns.run("rt", "ip", "addr", "add", f"{RT_FRONT}/{FRONT_PREFIX}", "dev", "f0")
        ns.run("rt", "ip", "addr", "add", f"{RT_BACK}/24", "dev", "b0")
        ns.run("rt", "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1",
               "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
               "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.b0.send_redirects=0",
               "net.ipv4.conf.f0.send_redirects=0")
        ns.run("rt", "ip", "rule", "add", "iif", "b0", "lookup", BACKSIDE_TABLE, "priority", 100)
        self._ipv6_on("c1", "eth0", f"{CLIENT6}/64")
        ns.run("c1", "ip", "-6", "route", "add", "default", "via", RT_CLIENT6)
        self._ipv6_on("rt", "c0", f"{RT_CLIENT6}/64")
        self._ipv6_on("rt", "f0", f"{RT_FRONT6}/64")
        ns.run("rt", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv6.fib_multipath_hash_policy=1")
        for name in GATEWAYS:
            self._link(name, "p0", "br-f")
            self._link(name, "p1", "br-b")
            # AF_PACKET: the gateway's kernel sees p0's frames too; vg-p0's address is local to
            # it, so without these it would answer BGP and ARP arriving on p0 itself.
            ns.run(name, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.p0.rp_filter=1",
                   "net.ipv4.conf.p0.arp_ignore=8", "net.ipv4.conf.p1.arp_ignore=8")
        for name, address in BACKENDS.items():
            self._link(name, "eth0", "br-b")
            ns.run(name, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
            ns.run(name, "ip", "route", "add", "default", "via", RT_BACK)
            self._ipv6_on(name, "eth0", f"{BACKENDS6[name]}/64")
            ns.spawn(name, ["/usr/bin/python3", "-c", STREAMER, name])
        self.router.start()

    def close(self):
        """Stops everything, whatever fails on the way: the namespaces go last, always."""
        try:
            for gateway in self.gateways.values():
                try:
                    gateway.stop()
                except Exception as error:  # noqa: BLE001 (cleanup goes on)
                    print(f"{gateway.name}: stop failed: {error}", flush=True)
        finally:
            self.ns.close()

    def routes(self, table="main"):
        """rt's next hops for the VIP (main) or the client net (backside): gateway addresses."""
        text = self.ns.run("rt", "ip", "-o", "route", "show", "table", table, capture=True, check=False)
        wanted = VIP if table == "main" else CLIENT_NET
        line = next((line for line in text.splitlines() if line.startswith(wanted + " ")), "")
        return sorted(name for name, (front, _, _) in GATEWAYS.items() if f"via {front} " in line + " ")

    def routes6(self):
        """rt's next hops for VIP6 (learned over the IPv6 sessions): gateway names."""
        text = self.ns.run("rt", "ip", "-o", "-6", "route", "show", capture=True, check=False)
        line = next((line for line in text.splitlines() if line.startswith(VIP6 + " ")), "")
        return sorted(name for name, (front, _) in GATEWAYS6.items() if f"via {front} " in line + " ")
