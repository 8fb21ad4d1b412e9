#!/usr/bin/python3
"""The [dns] settings as an operator changes them: file, `vipctl apply`, `vipctl dump`, SIGHUP.

The real daemon (a net_pcap port, the control API on a socket) starts with a [dns] table and
then:
  * `vipctl dump` writes the [dns] table back, and `get stats` lists the hidden upstream service
    port ("dns/upstream:53") while `get services` does not;
  * `vipctl apply -f` of a TOML document holding a [dns] table, a headless service and its three
    pods is applied whole ("dns/settings configured"), and the dump shows the new settings;
  * an apply whose [dns] is invalid (a DNS address that is the gateway's own, or a service's
    cluster IP) is refused whole: a good service in the same document is not created, and the
    dump is unchanged byte for byte;
  * a service asking for the DNS address is refused;
  * SIGHUP with a file whose [dns] differs is applied live (no restart needed).
End-to-end answers (dig against the DNS address) are checked by the DNS dataplane's tests.
"""
import os
import signal
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

HEADLESS = """\
[dns]
addresses = ["198.18.128.54"]
ttl = 30
upstreams = ["198.18.0.53", "198.18.0.54:5353"]

[[services]]
name = "db"
cluster_ip = "None"
selector = { app = "db" }
ports = [{ name = "pg", port = 5432 }]
""" + "".join(f"""
[[pods]]
name = "db-{i}"
address = "198.18.0.{20 + i}"
labels = {{ app = "db" }}
hostname = "db-{i}"
subdomain = "db"
""" for i in range(3))

GOOD_SERVICE = """
[[services]]
name = "web"
ports = [{ port = 80 }]
"""


def main(context):
    vipctl = h.Vipctl(sys.argv[2], context.path("api.sock"))
    in_pcap = context.path("in.pcap")
    h.write_empty_pcap(in_pcap)
    device = f"net_pcap0,rx_pcap={in_pcap},tx_pcap={context.path('out.pcap')}"
    config = h.make_config(context.file_prefix("dns"), device, [])
    config["cluster"] = {"service_cidr": "198.18.128.0/20"}
    config["dns"] = {"addresses": ["198.18.128.53"], "upstreams": ["198.18.0.53"]}
    path = h.write_config(context.path("vipgate.toml"), config)
    daemon = context.daemon(path, args=["--api-socket", vipctl.socket])
    daemon.wait_running()
    daemon.wait_for(r"control API listening")

    dump = vipctl.ok("dump")
    h.check('[dns]\naddresses = ["198.18.128.53"]\nzone = "cluster.local"\nttl = 5\n'
            'upstreams = ["198.18.0.53:53"]' in dump, f"dump lacks the [dns] table:\n{dump}")
    stats = vipctl.json("get", "stats")
    upstream = [s for s in stats["services"] if s["service"] == "dns/upstream:53"]
    h.check(len(upstream) == 1 and upstream[0]["vip"] == "198.18.128.53:53" and upstream[0]["protocol"] == "UDP",
            f"the upstream service port is not in the stats: {stats['services']}")
    h.check(h.items(vipctl.json("get", "services")) == [], "the upstream port is listed as a user service")

    result = vipctl.apply(context, "headless.toml", HEADLESS)
    h.check(result.returncode == 0, f"apply of [dns] and a headless service failed: {result.stderr}")
    h.check("dns/settings configured" in result.stdout and "service/db created" in result.stdout,
            f"unexpected apply output: {result.stdout}")
    dump = vipctl.ok("dump")
    h.check('addresses = ["198.18.128.54"]' in dump and "ttl = 30" in dump and '"198.18.0.54:5353"' in dump,
            f"dump does not show the applied [dns]:\n{dump}")
    services = h.items(vipctl.json("get", "services"))
    h.check(len(services) == 1 and services[0]["cluster_ip"] == "None" and services[0]["endpoints_ready"] == 3,
            f"the headless service and its three pods: {services}")
    result = vipctl.apply(context, "again.toml", HEADLESS)
    h.check(result.returncode == 0 and "dns/settings unchanged" in result.stdout, f"re-apply: {result.stdout}")

    for name, dns, message in [
        ("own.toml", '[dns]\naddresses = ["198.18.0.1"]\n', "198.18.0.1 is one of the gateway's own addresses"),
        ("taken.toml", '[dns]\naddresses = ["198.18.128.54", "198.18.128.10"]\n',
         "198.18.128.10 is the cluster IP of service default/taken"),
        ("zone.toml", '[dns]\nzone = "bad..zone"\n', "is not a DNS name"),
    ]:
        if name == "taken.toml":
            taken = vipctl.apply(context, "taken-service.toml",
                                 '[[services]]\nname = "taken"\ncluster_ip = "198.18.128.10"\nports = [{ port = 80 }]\n')
            h.check(taken.returncode == 0, f"setting up a service failed: {taken.stderr}")
        before = vipctl.ok("dump")
        result = vipctl.apply(context, name, dns + GOOD_SERVICE)
        h.check(result.returncode == 1 and message in result.stderr,
                f"{name}: expected a refusal with '{message}': {result.stdout}{result.stderr}")
        h.check(vipctl.ok("dump") == before, f"{name}: the running state changed after a refused apply")

    result = vipctl.apply(context, "steal.toml",
                          '[[services]]\nname = "steal"\ncluster_ip = "198.18.128.54"\nports = [{ port = 80 }]\n')
    h.check(result.returncode == 1 and "is a DNS address" in result.stderr,
            f"a service took the DNS address: {result.stdout}{result.stderr}")

    config["dns"] = {"addresses": ["198.18.128.55"], "ttl": 60}
    h.write_config(path, config)
    offset = daemon.log_offset()
    daemon.send_signal(signal.SIGHUP)
    daemon.wait_for(r"generation \d+ built", timeout=10, after=offset)
    dump = vipctl.ok("dump")
    h.check('addresses = ["198.18.128.55"]' in dump and "ttl = 60" in dump and "upstreams = []" in dump,
            f"the reloaded [dns] is not running:\n{dump}")
    stats = vipctl.json("get", "stats")
    h.check(not [s for s in stats["services"] if s["service"] == "dns/upstream:53"],
            "no upstreams, yet the upstream service port is still installed")

    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")


if __name__ == "__main__":
    h.run_test("dns_config", main)
