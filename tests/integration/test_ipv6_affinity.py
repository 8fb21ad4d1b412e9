#!/usr/bin/python3
"""sessionAffinity ClientIP for IPv6 clients as an operator sees it: the real vipgate on a net_pcap
port (rx_pcap one pass, tx_pcap) serving an IPv6 ClusterIP with ClientIP affinity over four pods,
in full-NAT and in DNAT-only mode.

in.pcap: two clients (2001:db8::10 and ::11) each open CONNECTIONS TCP connections (SYNs from
different source ports) to web6 2001:db8:100::1:80. Then:
  * out.pcap holds every SYN, and each client's SYNs all went to one pod (the 5-tuple hash alone
    would spread them over the four);
  * `vipctl get stats -o json` counts CONNECTIONS - 1 affinity hits per client (the first
    connection's choice is the hash's, the others find it in the worker's IPv6 affinity table);
  * the metric vipgate_affinity_entries counts the two clients' entries;
  * the connection table's fill shows in the IPv6 rows only: vipgate_conntrack_entries{family="ipv6"}
    counts every connection and {family="ipv4"} none (so do the affinity entries), and `vipctl get
    stats` prints both families' rows with the same numbers.
"""
import os
import socket
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

CLIENTS = {"2001:db8::10": "02:00:00:00:06:10", "2001:db8::11": "02:00:00:00:06:11"}
PODS = {f"2001:db8::2{n}": f"02:00:00:00:06:2{n}" for n in range(4)}
VIP6, GATEWAY6, SNAT6 = "2001:db8:100::1", "2001:db8::1", "2001:db8::2"
CONNECTIONS = 12


def config_for(context, mode, in_pcap, out_pcap):
    # The SYNs stay half-open: a long SYN timeout keeps their entries while the test reads them.
    config = h.make_config(context.file_prefix(mode), f"net_pcap0,rx_pcap={in_pcap},tx_pcap={out_pcap}", [],
                           nat_mode=mode, conntrack={"tcp_syn_timeout": 600})
    config["ports"][0]["addresses"] += [f"{GATEWAY6}/64", f"{SNAT6}/64"]
    config["snat"]["addresses"].append(SNAT6)
    config["neighbors"] += [{"address": a, "mac": m} for a, m in {**CLIENTS, **PODS}.items()]
    config["services"] = [{"name": "web6", "cluster_ip": VIP6, "selector": {"app": "web6"},
                           "session_affinity": "ClientIP", "session_affinity_timeout": 600,
                           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": 8080}]}]
    config["pods"] = [{"name": f"web6-{n}", "pod_ips": [address], "labels": {"app": "web6"}}
                      for n, address in enumerate(PODS)]
    return config


def seq_of(client_index, n):
    """The SYN's sequence number names its client even where full-NAT hides the address."""
    return 1000 * (client_index + 1) + n


def write_input(path):
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapWriter
    writer = PcapWriter(path, linktype=1, sync=False)
    for n in range(CONNECTIONS):
        for index, (client, mac) in enumerate(CLIENTS.items()):
            writer.write(Ether(src=mac, dst=h.GATEWAY_MAC) / IPv6(src=client, dst=VIP6) /
                         TCP(sport=41000 + n, dport=80, flags="S", seq=seq_of(index, n)))
    writer.close()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_sum(exposition, name, family=None):
    """The sum of the series of `name` (those with family="<family>" only, when given)."""
    return sum(float(line.split()[-1]) for line in exposition.splitlines()
               if (line.startswith(name + "{") or line.startswith(name + " ")) and
               (family is None or f'family="{family}"' in line))


def check_tables_by_family(mode, vipctl, exposition, total):
    """Every connection (and affinity entry) is in an IPv6 table, none in an IPv4 one, in the
    metrics and in `vipctl get stats` alike."""
    expected = {("conntrack", "ipv6"): total, ("conntrack", "ipv4"): 0,
                ("affinity", "ipv6"): len(CLIENTS), ("affinity", "ipv4"): 0}
    for (table, family), count in expected.items():
        series = metric_sum(exposition, f"vipgate_{table}_entries", family)
        h.check(series == count, f'{mode}: vipgate_{table}_entries{{family="{family}"}} {series}, expected {count}')
        capacity = metric_sum(exposition, f"vipgate_{table}_capacity", family)
        h.check(capacity > 0, f'{mode}: vipgate_{table}_capacity{{family="{family}"}} {capacity}')
    tables = vipctl.json("get", "stats")["tables"]
    for (table, family), count in expected.items():
        h.check(tables[table][family]["entries"] == count,
                f"{mode}: get stats tables.{table}.{family} {tables[table][family]}, expected {count} entries")
    text = vipctl.ok("get", "stats")
    for (table, family), count in expected.items():
        row = [line.split() for line in text.splitlines() if line.split()[:2] == [table, family]]
        h.check(len(row) == 1 and row[0][2] == str(count),
                f"{mode}: `vipctl get stats` row {table} {family}: {row}, expected {count} entries")
    h.log(f"{mode}: tables by family {tables}")


def run_mode(context, vipctl_exe, mode):
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    in_pcap, out_pcap = context.path(f"{mode}-in.pcap"), context.path(f"{mode}-out.pcap")
    write_input(in_pcap)
    path = h.write_config(context.path(f"{mode}.toml"), config_for(context, mode, in_pcap, out_pcap))
    api_socket = context.path(f"{mode}.sock")
    metrics = f"127.0.0.1:{free_port()}"
    daemon = context.daemon(path, name=f"vipgate-{mode}", args=["--api-socket", api_socket,
                                                                "--metrics-address", metrics])
    daemon.wait_running()
    vipctl = h.Vipctl(vipctl_exe, api_socket)
    total = CONNECTIONS * len(CLIENTS)
    deadline = time.monotonic() + 20
    while True:
        counters = vipctl.json("get", "stats")["counters"]
        if counters["forwarded_to_endpoint"] >= total:
            break
        h.check(time.monotonic() < deadline, f"{mode}: {counters['forwarded_to_endpoint']} of {total} SYNs in 20 s")
        time.sleep(0.2)
    hits = counters["affinity_hits"]
    h.log(f"{mode}: new {counters['new_connections']}, affinity hits {hits}, "
          f"table full {counters['affinity_table_full']}")
    h.check(counters["new_connections"] == total, f"{mode}: new_connections {counters['new_connections']}")
    h.check(hits == total - len(CLIENTS), f"{mode}: affinity_hits {hits}, expected {total - len(CLIENTS)}")
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    entries = metric_sum(exposition, "vipgate_affinity_entries")
    h.check(entries == len(CLIENTS), f"{mode}: vipgate_affinity_entries {entries}, expected {len(CLIENTS)}")
    check_tables_by_family(mode, vipctl, exposition, total)
    status, _ = daemon.stop()
    h.check(status == 0, f"{mode}: vipgate exited with status {status}")

    clients = list(CLIENTS)
    pods_of = {client: set() for client in clients}
    syns = 0
    for packet in (Ether(frame) for frame in h.read_pcap(out_pcap)):
        h.check(IPv6 in packet and TCP in packet and packet[IPv6].dst in PODS and packet[TCP].dport == 8080,
                f"{mode}: not a SYN to a pod: {packet.summary()}")
        client = clients[packet[TCP].seq // 1000 - 1]
        expected_source = SNAT6 if mode == "fullnat" else client
        h.check(packet[IPv6].src == expected_source, f"{mode}: source {packet[IPv6].src}, expected {expected_source}")
        pods_of[client].add(packet[IPv6].dst)
        syns += 1
    h.log(f"{mode}: pods per client {pods_of}")
    h.check(syns == total, f"{mode}: {syns} SYNs in out.pcap, expected {total}")
    h.check(all(len(pods) == 1 for pods in pods_of.values()), f"{mode}: a client reached several pods: {pods_of}")


def main(context):
    vipctl_exe = sys.argv[2]
    for mode in ("fullnat", "dnat"):
        run_mode(context, vipctl_exe, mode)


if __name__ == "__main__":
    h.run_test("ipv6_affinity", main)
