"""The Linux kernel as the lab's gateway, programmed the way kube-proxy programs a node.

Same namespaces, same p0/p1 as vipgate, but the kernel owns 198.18.1.1/198.18.2.1 and forwards.
Every ClusterIP connection is masqueraded (marked, then MASQUERADE in postrouting), which is what
vipgate's full-NAT does, so the backends need no route back. Two rule sets:

  nftables  kube-proxy's nftables mode: `services` vmap on daddr . l4proto . dport -> one chain
            per service port that marks for masquerade and picks `numgen random mod N` -> one
            chain per endpoint doing `dnat to`; `masquerading` in postrouting on mark 0x4000.
  iptables  kube-proxy's iptables mode: KUBE-SERVICES -> KUBE-SVC-* (KUBE-MARK-MASQ, then
            `statistic --mode random --probability 1/(N-i)` per endpoint) -> KUBE-SEP-* (DNAT);
            KUBE-POSTROUTING masquerades marked packets. Loaded with iptables-restore (whatever
            backend Debian's `iptables` is: iptables-nft with xt matches, see `iptables -V`).

Only the load-balancing path is reproduced (kube-proxy's reject rules for services without
endpoints, health checks and NodePorts are not). The gateway's packet processing goes to CPU 1
with RPS on p0/p1, the CPU vipgate's worker gets.
"""
import subprocess

MASQ_MARK = "0x4000"
GATEWAY_CPU_MASK = "2"   # CPU 1


def _service_ports(services):
    for service in services:
        if not service.get("endpoints"):
            continue
        for port in service["ports"]:
            target = port.get("target_port", port["port"])
            endpoints = [(e["address"], e.get("port", target)) for e in service["endpoints"]
                         if e.get("ready", True) and e.get("weight", 1) > 0]
            yield service, port, endpoints


def nftables_ruleset(services):
    lines = [
        "table ip kube-proxy {",
        f"  chain mark-for-masquerade {{ meta mark set meta mark or {MASQ_MARK}; }}",
        "  chain masquerading {",
        f"    meta mark & {MASQ_MARK} == 0 return",
        f"    meta mark set meta mark xor {MASQ_MARK}",
        "    masquerade fully-random",
        "  }",
        "  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }",
        "  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; jump masquerading; }",
    ]
    elements, chains = [], []
    for service, port, endpoints in _service_ports(services):
        proto = port.get("protocol", "TCP").lower()
        chain = f"service-{service['name']}-{proto}-{port['port']}"
        elements.append(f"{service['cluster_ip']} . {proto} . {port['port']} : goto {chain}")
        targets = []
        for index, (address, target) in enumerate(endpoints):
            endpoint_chain = f"endpoint-{service['name']}-{proto}-{port['port']}-{address}-{target}"
            targets.append(f"{index} : goto {endpoint_chain}")
            chains += [f"  chain {endpoint_chain} {{",
                       f"    ip saddr {address} jump mark-for-masquerade",
                       f"    meta l4proto {proto} dnat to {address}:{target}",
                       "  }"]
        chains += [f"  chain {chain} {{",
                   f"    ip daddr {service['cluster_ip']} {proto} dport {port['port']} jump mark-for-masquerade",
                   f"    numgen random mod {len(endpoints)} vmap {{ {', '.join(targets)} }}",
                   "  }"]
    lines += ["  map service-ips {", "    type ipv4_addr . inet_proto . inet_service : verdict",
              f"    elements = {{ {', '.join(elements)} }}", "  }",
              "  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }"]
    return "\n".join(lines + chains + ["}"]) + "\n"


def iptables_ruleset(services):
    chains = ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    rules = [
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
        "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
    ]
    for service, port, endpoints in _service_ports(services):
        proto = port.get("protocol", "TCP").lower()
        svc = f"KUBE-SVC-{service['name'].upper()}-{proto.upper()}{port['port']}"[:28]
        match = f"-d {service['cluster_ip']}/32 -p {proto} -m {proto} --dport {port['port']}"
        chains.append(svc)
        rules += [f"-A KUBE-SERVICES {match} -j {svc}", f"-A {svc} {match} -j KUBE-MARK-MASQ"]
        for index, (address, target) in enumerate(endpoints):
            sep = f"{svc.replace('KUBE-SVC-', 'KUBE-SEP-')}-{index}"[:28]
            chains.append(sep)
            remaining = len(endpoints) - index
            pick = "" if remaining == 1 else f"-m statistic --mode random --probability {1 / remaining:.11f} "
            rules += [f"-A {svc} {pick}-j {sep}",
                      f"-A {sep} -s {address}/32 -j KUBE-MARK-MASQ",
                      f"-A {sep} -p {proto} -m {proto} -j DNAT --to-destination {address}:{target}"]
    return "\n".join(["*nat"] + [f":{c} - [0:0]" for c in chains] + rules + ["COMMIT"]) + "\n"


class KernelGateway:
    MODES = {"nftables": (nftables_ruleset, ["nft", "-f", "-"]),
             "iptables": (iptables_ruleset, ["iptables-restore", "--noflush"])}

    def __init__(self, lab, mode):
        self.lab, self.mode = lab, mode

    def start(self, services):
        build, loader = self.MODES[self.mode]
        self.lab.route_clients_back(False)
        self.lab.gateway_addresses(True)
        for port in ["p0", "p1"]:
            self.lab.ns.run("gw", "sh", "-c", f"echo {GATEWAY_CPU_MASK} > /sys/class/net/{port}/queues/rx-0/rps_cpus")
        result = subprocess.run(["ip", "netns", "exec", self.lab.ns.name("gw"), *loader],
                                      input=build(services), text=True, capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"{self.mode} rules rejected: {result.stderr.strip()}")
        return self

    def stop(self):
        self.lab.ns.run("gw", "nft", "flush", "ruleset", check=False)
        self.lab.gateway_addresses(False)
        self.lab.neighbors_flush()
