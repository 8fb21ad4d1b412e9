#!/usr/bin/python3
"""Cluster DNS with real resolvers (issue 12): the whole seed-manifest story, name to pod.

vipgate serves a [dns] address and a service CIDR; the seed manifest
(tests/unit/manifests/seed-backend-api.yaml) is applied unchanged with `vipctl apply -f`, with two
pods (b1, b2) it selects and a headless service `db` of three pods (b2, b3, b4) with a named port.
The client c1 runs with a kubelet-style /etc/resolv.conf (/etc/netns/<ns>/resolv.conf, which
`ip netns exec` bind-mounts): `search default.svc.cluster.local svc.cluster.local cluster.local`,
`options ndots:5`, nameserver = the DNS address. Over UDP (dig +notcp) and TCP (dig +tcp):

  * A of the seed service: its ClusterIP (allocated from the CIDR, the one vipctl lists);
  * SRV of the headless service's named port: one target per pod; PTR of the ClusterIP;
  * NXDOMAIN for a missing service and NODATA (AAAA of the IPv4 service), both with the SOA;
  * the Kubernetes dual-stack documentation's two services: A, AAAA and both PTRs (in-addr.arpa,
    ip6.arpa) as `vipctl get services` lists their cluster IPs; `dig +search` of the short name;
  * dns-version TXT;
  * `vipctl get stats` counts exactly the queries and answers of a block of 10 queries;
then `dig +search` and `getent hosts` of the short name, `curl http://my-internal-backend-api/`
reaching a selected pod through the ClusterIP; the headless name answers three addresses, and
two as soon as one pod is applied not ready; a name outside the zone is forwarded to an upstream
(knotd in its own namespace on the server net) and its answer relayed.

`test_dns.py VIPGATE VIPCTL --lab-only` builds only what needs no DNS in vipgate (the lab, the
upstream knotd, the client's resolv.conf) and checks those, then tears them down.
"""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import servers, topology  # noqa: E402

ROOT = r.ROOT
SEED_MANIFEST = os.path.join(ROOT, "tests", "unit", "manifests", "seed-backend-api.yaml")
VIPCTL = sys.argv[2] if len(sys.argv) > 2 else ""
LAB_ONLY = "--lab-only" in sys.argv[3:]
DNS_VIP = "198.18.100.250"
SERVICE_CIDR = "198.18.128.0/20"
SERVICE_CIDR6 = "2001:db8:128::/112"
DUAL_STACK_MANIFESTS = [os.path.join(ROOT, "tests", "unit", "manifests", name)
                        for name in ("dual-stack-preferred-svc.yaml", "dual-stack-preferred-ipfamilies-svc.yaml")]
UPSTREAM_IP = "198.18.2.53"            # on the server net, reached through vipgate's NAT
UPSTREAM_ZONE, UPSTREAM_NAME, UPSTREAM_ANSWER = "example.test", "www.example.test", "198.18.77.7"
SEED = "my-internal-backend-api"
FQDN = f"{SEED}.default.svc.cluster.local"
SEED_PODS = {"api-1": "b1", "api-2": "b2"}
DB_PODS = {"db-0": "b3", "db-1": "b4", "db-2": "b5"}
RESOLV_CONF = ("search default.svc.cluster.local svc.cluster.local cluster.local\n"
               f"nameserver {DNS_VIP}\noptions ndots:5\n")
REQUIRED = ["dig", "getent", "knotd"]

KNOT_CONF = """server:
    listen: {address}@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: {dir}
database:
    storage: {dir}
log:
  - target: stderr
    any: warning
zone:
  - domain: {zone}
    file: {dir}/{zone}.zone
    journal-content: none
    zonefile-sync: -1
"""
UPSTREAM_ZONE_FILE = f"""$ORIGIN {UPSTREAM_ZONE}.
$TTL 30
@ SOA ns.{UPSTREAM_ZONE}. hostmaster.{UPSTREAM_ZONE}. 1 7200 1800 86400 30
@ NS ns.{UPSTREAM_ZONE}.
ns A {UPSTREAM_IP}
www A {UPSTREAM_ANSWER}
"""


def pod(name, backend_address, labels, ready=True, ports=(("http", servers.HTTP_PORT),)):
    label_lines = "".join(f"    {key}: {value}\n" for key, value in labels.items())
    port_lines = "".join(f"        - name: {port_name}\n          containerPort: {number}\n"
                         for port_name, number in ports)
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n{label_lines}"
            f"spec:\n  containers:\n    - name: main\n      image: nginx\n      ports:\n{port_lines}"
            f"status:\n  podIP: {backend_address}\n  conditions:\n    - type: Ready\n"
            f"      status: \"{'True' if ready else 'False'}\"\n")


HEADLESS = """apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector:
    app: db
  ports:
    - name: http
      protocol: TCP
      port: 8080
      targetPort: http
"""


# ---- dig's output ------------------------------------------------------------------------------

class Answer:
    """What dig printed: status, flags, and the records of each section as (name, type, data)."""

    def __init__(self, text):
        self.text = text
        status = re.search(r"status: (\w+)", text)
        self.status = status.group(1) if status else "NO ANSWER"
        self.sections = {}
        current = None
        for line in text.splitlines():
            header = re.match(r";; (\w+) SECTION:", line)
            if header:
                current = self.sections.setdefault(header.group(1), [])
            elif not line.strip() or line.startswith(";"):
                current = None
            elif current is not None:
                fields = line.split()
                current.append((fields[0].rstrip(".").lower(), fields[3], " ".join(fields[4:])))

    def records(self, section, record_type):
        return [data for _, kind, data in self.sections.get(section, []) if kind == record_type]

    def __str__(self):
        return f"status {self.status}, answer {self.sections.get('ANSWER', [])}, " \
               f"authority {self.sections.get('AUTHORITY', [])}"


def dig(t, *arguments, client="c1"):
    out = t.lab.ns.run(client, "dig", "+time=2", "+tries=1", *arguments, check=False, capture=True, timeout=20)
    return Answer(out)


def ask(t, transport, name, record_type="A"):
    return dig(t, transport, f"@{DNS_VIP}", name, record_type)


# ---- the parts that need no DNS in vipgate -------------------------------------------------------

def start_upstream(lab, workdir):
    """knotd, authoritative for example.test, on the server net (as a cluster's upstream resolver)."""
    lab.add_server_host("upstream", UPSTREAM_IP)
    directory = os.path.join(workdir, "knot")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{UPSTREAM_ZONE}.zone"), "w") as f:
        f.write(UPSTREAM_ZONE_FILE)
    conf = os.path.join(directory, "knot.conf")
    with open(conf, "w") as f:
        f.write(KNOT_CONF.format(address=UPSTREAM_IP, dir=directory, zone=UPSTREAM_ZONE))
    knot = lab.ns.spawn("upstream", ["knotd", "-c", conf], log_path=os.path.join(directory, "knot.log"))
    deadline = time.monotonic() + 10
    while True:
        out = lab.ns.run("upstream", "dig", "+short", "+time=1", "+tries=1", f"@{UPSTREAM_IP}", UPSTREAM_NAME,
                         check=False, capture=True)
        if out.strip() == UPSTREAM_ANSWER:
            return knot
        r.check(knot.poll() is None and time.monotonic() < deadline,
                f"the upstream knotd did not answer {UPSTREAM_NAME}: see {directory}/knot.log")
        time.sleep(0.1)


class ResolvConf:
    """/etc/netns/<namespace>/resolv.conf: `ip netns exec` bind-mounts it over /etc/resolv.conf."""

    def __init__(self, lab, role):
        self.directory = os.path.join("/etc/netns", lab.ns.name(role))
        os.makedirs(self.directory, exist_ok=True)
        with open(os.path.join(self.directory, "resolv.conf"), "w") as f:
            f.write(RESOLV_CONF)

    def close(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def check_resolv_conf(lab):
    seen = lab.ns.run("c1", "cat", "/etc/resolv.conf", capture=True)
    r.check(seen == RESOLV_CONF, f"c1 sees another /etc/resolv.conf:\n{seen}")


# ---- the checks ---------------------------------------------------------------------------------

class Vipctl:
    def __init__(self, socket_path):
        self.socket_path = socket_path

    def __call__(self, *arguments):
        result = subprocess.run([VIPCTL, "--socket", self.socket_path, *arguments], capture_output=True, text=True,
                                timeout=30)
        r.check(result.returncode == 0, f"vipctl {' '.join(arguments)}: exit {result.returncode}: "
                                        f"{result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def apply(self, workdir, name, text):
        path = os.path.join(workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return self("apply", "-f", path)


def reverse_name(address):
    return ipaddress.ip_address(address).reverse_pointer


def records_for_both_transports(t, cluster_ip):
    for transport in ["+notcp", "+tcp"]:
        a = ask(t, transport, FQDN)
        r.check(a.status == "NOERROR" and a.records("ANSWER", "A") == [cluster_ip], f"{transport} A {FQDN}: {a}")
        upper = ask(t, transport, FQDN.upper())
        r.check(upper.records("ANSWER", "A") == [cluster_ip], f"{transport} A in capitals: {upper}")

        srv = ask(t, transport, "_http._tcp.db.default.svc.cluster.local", "SRV")
        targets = sorted(data.split()[3].rstrip(".") for data in srv.records("ANSWER", "SRV"))
        ports = {data.split()[2] for data in srv.records("ANSWER", "SRV")}
        r.check(srv.status == "NOERROR" and len(targets) == 3 and ports == {str(servers.HTTP_PORT)},
                f"{transport} SRV of the headless service's named port: {srv}")
        r.check(all(target.endswith(".db.default.svc.cluster.local") for target in targets),
                f"{transport} SRV targets: {targets}")

        ptr = ask(t, transport, reverse_name(cluster_ip), "PTR")
        r.check(ptr.records("ANSWER", "PTR") == [FQDN + "."], f"{transport} PTR of {cluster_ip}: {ptr}")

        nx = ask(t, transport, "no-such-service.default.svc.cluster.local")
        r.check(nx.status == "NXDOMAIN" and not nx.sections.get("ANSWER") and nx.records("AUTHORITY", "SOA"),
                f"{transport} a missing service: {nx}, expected NXDOMAIN with the SOA")
        nodata = ask(t, transport, FQDN, "AAAA")
        r.check(nodata.status == "NOERROR" and not nodata.sections.get("ANSWER") and
                nodata.records("AUTHORITY", "SOA"), f"{transport} AAAA of {FQDN}: {nodata}, expected NODATA + SOA")
        for apex in ["cluster.local", "svc.cluster.local", "default.svc.cluster.local"]:
            empty = ask(t, transport, apex)
            r.check(empty.status == "NOERROR" and not empty.records("ANSWER", "A"), f"{transport} {apex}: {empty}")

        version = ask(t, transport, "dns-version.cluster.local", "TXT")
        r.check(version.records("ANSWER", "TXT") == ['"1.1.0"'], f"{transport} dns-version TXT: {version}")
        r.log(f"{transport}: A, SRV (3 targets), PTR, NXDOMAIN + SOA, NODATA + SOA, dns-version")


def dual_stack(t, vipctl):
    """The Kubernetes dual-stack documentation's services: A and AAAA of each, both PTRs (in-addr.arpa
    and ip6.arpa), over both transports; the cluster IPs are the ones `vipctl get services` shows."""
    for manifest in DUAL_STACK_MANIFESTS:
        vipctl("apply", "-f", manifest)
    document = json.loads(vipctl("get", "services", "-o", "json"))
    services = {s["name"]: s for s in (document["items"] if isinstance(document, dict) else document)}
    ipv6_of = {}
    for name in ("my-service", "my-service-v6-first"):
        fqdn = f"{name}.default.svc.cluster.local"
        addresses = services[name]["cluster_ips"]
        v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
        v6 = [a for a in addresses if ipaddress.ip_address(a).version == 6]
        r.check(len(v4) == 1 and len(v6) == 1 and ipaddress.ip_address(v6[0]) in ipaddress.ip_network(SERVICE_CIDR6),
                f"{name}: cluster IPs {addresses}, expected one per family")
        for transport in ["+notcp", "+tcp"]:
            aaaa = ask(t, transport, fqdn, "AAAA")
            r.check(aaaa.status == "NOERROR" and aaaa.records("ANSWER", "AAAA") == v6, f"{transport} AAAA {fqdn}: {aaaa}")
            a = ask(t, transport, fqdn)
            r.check(a.records("ANSWER", "A") == v4, f"{transport} A {fqdn}: {a}")
            for address in v4 + v6:
                ptr = ask(t, transport, reverse_name(address), "PTR")
                r.check(ptr.records("ANSWER", "PTR") == [fqdn + "."], f"{transport} PTR of {address}: {ptr}")
        ipv6_of[name] = v6[0]
        r.log(f"{name}: A {v4[0]}, AAAA {v6[0]}, both PTRs, over UDP and TCP")
    # getaddrinfo asks for AAAA only on a host with a global IPv6 address (AI_ADDRCONFIG): dig does.
    search = dig(t, "+search", "my-service", "AAAA")
    r.check(search.records("ANSWER", "AAAA") == [ipv6_of["my-service"]], f"dig +search my-service AAAA: {search}")


def short_names(t, cluster_ip):
    search = dig(t, "+search", SEED)
    r.check(search.records("ANSWER", "A") == [cluster_ip], f"dig +search {SEED}: {search}")
    hosts = t.lab.ns.run("c1", "getent", "hosts", SEED, check=False, capture=True).split()
    r.check(hosts[:1] == [cluster_ip], f"getent hosts {SEED}: {hosts}, expected {cluster_ip}")
    reached = set()
    for _ in range(6):
        out = t.lab.ns.run("c1", "curl", "-sS", "-m", "5", f"http://{SEED}/", check=False, capture=True)
        reached.add(out.split()[0] if out.strip() else "nothing")
    r.check(reached <= set(SEED_PODS.values()) and reached, f"curl http://{SEED}/ reached {reached}, expected "
                                                            f"the selected pods {sorted(SEED_PODS.values())}")
    r.log(f"dig +search, getent hosts: {cluster_ip}; curl http://{SEED}/ reached {sorted(reached)}")


def headless(t, vipctl, workdir):
    def addresses():
        return sorted(ask(t, "+notcp", "db.default.svc.cluster.local").records("ANSWER", "A"))
    everyone = sorted(t.lab.backends[b] for b in DB_PODS.values())
    r.check(addresses() == everyone, f"headless db: {addresses()}, expected {everyone}")
    vipctl.apply(workdir, "db-2-not-ready.yaml", pod("db-2", t.lab.backends[DB_PODS["db-2"]], {"app": "db"},
                                                     ready=False))
    ready = sorted(t.lab.backends[DB_PODS[p]] for p in ["db-0", "db-1"])
    deadline = time.monotonic() + 2
    while addresses() != ready:
        r.check(time.monotonic() < deadline, f"db-2 not ready, headless db still answers {addresses()}")
        time.sleep(0.05)
    r.log(f"headless db: 3 addresses, then {ready} once db-2 is not ready")


def dns_counters(vipctl):
    stats = vipctl("get", "stats", "-o", "json")
    return {k: v for k, v in json.loads(stats)["counters"].items() if k.startswith("dns_")}


def counted_answers(t, vipctl, cluster_ip):
    """What an operator reads: `vipctl get stats` counts exactly the queries this block sends."""
    hits, misses, over_tcp = 5, 3, 2
    before = dns_counters(vipctl)
    for _ in range(hits):
        r.check(ask(t, "+notcp", FQDN).records("ANSWER", "A") == [cluster_ip], f"A {FQDN} over UDP")
    for i in range(misses):
        r.check(ask(t, "+notcp", f"missing-{i}.default.svc.cluster.local").status == "NXDOMAIN",
                f"missing-{i} over UDP: expected NXDOMAIN")
    for _ in range(over_tcp):
        r.check(ask(t, "+tcp", FQDN).records("ANSWER", "A") == [cluster_ip], f"A {FQDN} over TCP")
    expected = {"dns_queries_udp": hits + misses, "dns_queries_tcp": over_tcp,
                "dns_noerror": hits + over_tcp, "dns_nxdomain": misses, "dns_refused": 0, "dns_formerr": 0}
    deadline = time.monotonic() + 3
    while True:
        after = dns_counters(vipctl)
        seen = {name: after.get(name, 0) - before.get(name, 0) for name in expected}
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    r.check(seen == expected, f"vipctl get stats counted {seen} for the queries sent, expected {expected}")
    r.log(f"vipctl get stats: {seen}")


def upstream(t):
    answer = ask(t, "+notcp", UPSTREAM_NAME)
    r.check(answer.records("ANSWER", "A") == [UPSTREAM_ANSWER], f"+notcp {UPSTREAM_NAME} through the "
                                                                f"upstream: {answer}")
    # The TCP responder is stateless and answers from the zone only: a name outside it is
    # REFUSED over TCP (README, "Cluster DNS": what is not done yet).
    answer = ask(t, "+tcp", UPSTREAM_NAME)
    r.check(answer.status == "REFUSED", f"+tcp {UPSTREAM_NAME}: expected REFUSED, got {answer}")
    r.log(f"{UPSTREAM_NAME}: forwarded to the upstream {UPSTREAM_IP} over UDP, answer relayed; REFUSED over TCP")


def main():
    if not VIPCTL or not os.access(VIPCTL, os.X_OK):
        print(f"usage: {sys.argv[0]} VIPGATE VIPCTL [--lab-only]")
        sys.exit(2)
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    if missing and os.geteuid() == 0:
        print(f"SKIP: missing programs: {', '.join(missing)} (tools/setup.sh installs them)")
        sys.exit(r.SKIP)
    if LAB_ONLY:
        lab_only()
    workdir = tempfile.mkdtemp(prefix="vipgate-realhost-dns-")
    socket_path = os.path.join(workdir, "api.sock")
    vipctl = Vipctl(socket_path)
    extras = {}

    def prepare(t):
        t.services = []
        t.gateway.cluster = {"service_cidr": [SERVICE_CIDR, SERVICE_CIDR6], "client_ranges": [topology.CLIENT_NET]}
        t.gateway.tables = {"dns": {"addresses": [DNS_VIP], "zone": "cluster.local", "ttl": 5,
                                    "upstreams": [UPSTREAM_IP], "rate_limit": 0}}
        t.gateway.arguments = ["--api-socket", socket_path, "--metrics-address", ""]
        extras["knot"] = start_upstream(t.lab, workdir)
        extras["resolv"] = ResolvConf(t.lab, "c1")

    def body(t):
        check_resolv_conf(t.lab)
        labels = {"app": "my-fancy-app", "tier": "backend"}
        pods = "---\n".join([pod(n, t.lab.backends[b], labels) for n, b in SEED_PODS.items()] +
                            [pod(n, t.lab.backends[b], {"app": "db"}) for n, b in DB_PODS.items()])
        vipctl.apply(workdir, "pods.yaml", pods)
        vipctl("apply", "-f", SEED_MANIFEST)
        vipctl.apply(workdir, "headless.yaml", HEADLESS)
        cluster_ip = ask(t, "+notcp", FQDN).records("ANSWER", "A")
        r.check(len(cluster_ip) == 1 and ipaddress.ip_address(cluster_ip[0]) in
                ipaddress.ip_network(SERVICE_CIDR), f"A {FQDN}: {cluster_ip}, expected one address in "
                                                    f"{SERVICE_CIDR}")
        cluster_ip = cluster_ip[0]
        r.check(cluster_ip in vipctl("get", "services"), f"vipctl get services does not list {cluster_ip}")
        r.log(f"seed manifest applied unchanged: {FQDN} -> {cluster_ip}")
        records_for_both_transports(t, cluster_ip)
        short_names(t, cluster_ip)
        headless(t, vipctl, workdir)
        dual_stack(t, vipctl)
        counted_answers(t, vipctl, cluster_ip)
        upstream(t)

    try:
        r.run_test("dns", body, backends=5, prepare=prepare)
    finally:
        if "resolv" in extras:
            extras["resolv"].close()
        shutil.rmtree(workdir, ignore_errors=True)


def lab_only():
    """The lab, the upstream knotd and the client's resolv.conf, without vipgate."""
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="vipgate-realhost-dns-lab-")
    status = 1
    lab = topology.Lab(backends=5, clients=1)
    resolv = None
    try:
        lab.up()
        start_upstream(lab, workdir)
        out = lab.ns.run("b1", "dig", "+short", "+tcp", f"@{UPSTREAM_IP}", UPSTREAM_NAME, capture=True)
        r.check(out.strip() == UPSTREAM_ANSWER, f"a backend asking the upstream over TCP: {out!r}")
        resolv = ResolvConf(lab, "c1")
        check_resolv_conf(lab)
        r.log("lab up; the upstream knotd answers over UDP and TCP; c1 sees the kubelet-style resolv.conf")
        status = 0
    except r.TestFailure as failure:
        print(f"FAIL: {failure}")
    finally:
        if resolv:
            resolv.close()
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"dns (lab only): {'PASS' if status == 0 else 'FAIL'} in {time.monotonic() - started:.1f} s")
    sys.exit(status)


main()
