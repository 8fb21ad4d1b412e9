"""The ECMP lab (issue 14): two vipgate gateways announce their VIP by BGP (BIRD) to a router
that spreads flows over them by ECMP; tools/lab/ecmp.py draws it and explains the return path.

  python3 test_bgp_ecmp.py VIPGATE VIPCTL dnat|fullnat

Counted outcomes, each read from the routers' tables, the clients and `vipctl` on each gateway:
  1. the router learns the VIP from both gateways only (ECMP over both), and the client net for
     the backends' replies likewise; `vipctl get announcements` shows the /32;
  2. 200 new connections spread over both gateways (new_connections of each `get stats`);
  3. a service whose endpoints are all not ready is withdrawn by that gateway, and comes back;
  4. (dnat) drain-gateway with 20 keep-alive connections (a request every 100 ms on each) and
     4 streaming downloads: the route goes, new connections avoid the gateway, none breaks;
     undrain brings it back;
  5. SIGKILL of a gateway with the 24 connections running: broken connections are counted
     (dnat: goal 0; fullnat: those through the dead gateway break, the test reports how many),
     and the time until every new connection succeeds again (a new one every 50 ms);
  6. (dnat) the killed gateway restarts and rejoins: flows rehash onto it, none breaks;
  7. SIGTERM of the other: it withdraws its route itself before it exits.
IPv6 (tools/lab/ecmp.py): the IPv6 ClusterIP is announced as a /128 over a second BGP session of
each gateway, over IPv6 through vipgate's kernel exception path; rt learns it from both (1),
it stays while the IPv4 service's endpoints are not ready (3), and (fullnat) curl -6 from the
client reaches it through rt's ECMP route.
Everything (namespaces, vipgate, BIRD, nginx) is torn down pass or fail.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realhost_harness as r  # noqa: E402
from lab import ecmp, servers  # noqa: E402  (realhost_harness put tools/ on the path)

STREAM_CLIENT = os.path.join(r.ROOT, "tools", "lab", "stream_client.py")
STREAMS, STREAM_INTERVAL_MS, PROBE_INTERVAL_MS, DOWNLOADS = 20, 100, 20, 4
ROUTE_TIMEOUT = 60  # BGP sessions, on a 2-core machine shared with other work


class Vipctl:
    def __init__(self, exe, gateway):
        self.exe, self.gateway = exe, gateway

    def __call__(self, *args, check=True):
        result = subprocess.run([self.exe, "--socket", self.gateway.api_socket, "-o", "json", *args],
                                capture_output=True, text=True, timeout=30)
        r.check(result.returncode == 0 or not check,
                f"{self.gateway.name}: vipctl {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def counter(self, name):
        return self("get", "stats")["counters"][name]

    def carrying(self, ports):
        """How many of the client's connections (by source port) this gateway's table holds."""
        clients = {f"{ecmp.CLIENT}:{port}" for port in ports}
        return sum(1 for item in self("get", "conntrack")["items"] if item["client"] in clients)


class Clients:
    """A stream_client.py process: started, then stopped with its JSON results."""

    def __init__(self, lab, *args):
        self.process = lab.ns.spawn("c1", ["/usr/bin/python3", STREAM_CLIENT, *args], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
        line = self.process.stdout.readline()
        r.check(line, f"{args[0]} client did not start")
        first = json.loads(line)
        self.started, self.ports = first["started"], first["ports"]

    def stop(self):
        self.process.stdin.write(b"stop\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        r.check(line, "the client ended without results")
        self.process.wait(30)
        return json.loads(line)


def wait_routes6(lab, wanted, timeout=ROUTE_TIMEOUT):
    """Waits until rt's route to VIP6 goes via exactly `wanted`; returns seconds."""
    started = time.monotonic()
    while lab.routes6() != sorted(wanted):
        if time.monotonic() - started > timeout:
            raise r.TestFailure(f"rt's route to {ecmp.VIP6} goes via {lab.routes6()}, not {sorted(wanted)}, after "
                                f"{timeout} s:\n{lab.router.show('show', 'protocols')}")
        time.sleep(0.02)
    return time.monotonic() - started


def wait_routes(lab, wanted, table="main", timeout=ROUTE_TIMEOUT):
    """Waits until rt's route (VIP or client net) goes via exactly `wanted`; returns seconds."""
    started = time.monotonic()
    while lab.routes(table) != sorted(wanted):
        if time.monotonic() - started > timeout:
            raise r.TestFailure(f"rt's {table} route goes via {lab.routes(table)}, not {sorted(wanted)}, after "
                                f"{timeout} s:\n{lab.router.show('show', 'protocols')}")
        time.sleep(0.02)
    return time.monotonic() - started


def broken(results):
    return [result for result in results if "error" in result]


def summary(results):
    bad = broken(results)
    requests = sum(result["requests"] for result in results)
    longest = max(result["max_ms"] for result in results)
    return (f"{len(results)} keep-alive connections, {requests} requests, {len(bad)} broken"
            + (f" ({', '.join(sorted({b['error'] for b in bad}))})" if bad else "")
            + f", longest request {longest:.0f} ms")


def download_summary(results):
    bad = broken(results)
    return (f"{len(results)} streaming connections, {sum(d['bytes'] for d in results) / 1e6:.1f} MB read, "
            f"{len(bad)} broken" + (f" ({', '.join(sorted({b['error'] for b in bad}))})" if bad else "")
            + f", longest wait for data {max(d['max_gap_ms'] for d in results):.0f} ms")


class Running:
    """The long-lived clients of a phase: keep-alive requests and streaming downloads."""

    def __init__(self, lab):
        self.streams = Clients(lab, "streams", ecmp.VIP, ecmp.VIP_PORT, STREAMS, STREAM_INTERVAL_MS)
        self.downloads = Clients(lab, "downloads", ecmp.VIP, ecmp.STREAM_PORT, DOWNLOADS)
        self.ports = self.streams.ports + self.downloads.ports
        self.count = STREAMS + DOWNLOADS

    def stop(self):
        """Returns (every result, a summary line)."""
        streams, downloads = self.streams.stop(), self.downloads.stop()
        return streams + downloads, f"{summary(streams)}; {download_summary(downloads)}"


def new_connections(lab, count):
    out = lab.ns.run("c1", "/usr/bin/python3", os.path.join(r.ROOT, "tools", "lab", "client.py"), "connections",
                     ecmp.VIP, ecmp.VIP_PORT, count, capture=True, timeout=120)
    answers = out.splitlines()
    failed = [a for a in answers if a.startswith("error")]
    r.check(not failed, f"{len(failed)} of {count} new connections failed: {sorted(set(failed))}")
    return answers


def phase_routes(lab, vipctl):
    took = wait_routes(lab, ["gw1", "gw2"])
    wait_routes(lab, ["gw1", "gw2"], table=str(ecmp.BACKSIDE_TABLE))
    r.log(f"rt: {ecmp.VIP} and {ecmp.CLIENT_NET} (table {ecmp.BACKSIDE_TABLE}) via both gateways by BGP "
          f"({took:.1f} s after the gateways started)")
    took6 = wait_routes6(lab, ["gw1", "gw2"])
    r.log(f"rt: {ecmp.VIP6}/128 via both gateways by BGP over IPv6 through their kernel paths "
          f"({took6:.1f} s later)")
    for name, ctl in vipctl.items():
        announcements = ctl("get", "announcements")
        r.check(announcements["routes"] == [f"{ecmp.VIP}/32", f"{ecmp.VIP6}/128"]
                and announcements["announced_vips"] == 2, f"{name}: get announcements: {announcements}")
        kernel = lab.ns.run(name, "ip", "route", "show", "table", ecmp.ANNOUNCE_TABLE, capture=True)
        r.check(f"{ecmp.VIP} dev vg-p0" in kernel, f"{name}: table {ecmp.ANNOUNCE_TABLE}: {kernel!r}")
        kernel6 = lab.ns.run(name, "ip", "-6", "route", "show", "table", ecmp.ANNOUNCE_TABLE, capture=True)
        r.check(f"{ecmp.VIP6} dev vg-p0" in kernel6, f"{name}: IPv6 table {ecmp.ANNOUNCE_TABLE}: {kernel6!r}")
        gateway = lab.gateways[name]
        shown = (gateway.metric("vipgate_announced_vips"), gateway.metric("vipgate_gateway_drained"))
        r.check(shown == (2, 0), f"{name}: vipgate_announced_vips, vipgate_gateway_drained = {shown}")
    r.log(f"each gateway: {ecmp.VIP}/32 and {ecmp.VIP6}/128 in kernel table {ecmp.ANNOUNCE_TABLE} via vg-p0 "
          "(get announcements; metrics vipgate_announced_vips 2, vipgate_gateway_drained 0)")


def start_nginx6(lab, workdir, name):
    """A second nginx on the backend, IPv6 only (the lab's own listens on IPv4)."""
    directory = os.path.join(workdir, f"{name}-v6")
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(servers.NGINX_CONF.format(dir=directory, port=f"[::]:{servers.HTTP_PORT} ipv6only=on", name=name))
    lab.ns.spawn(name, ["nginx", "-e", os.path.join(directory, "error.log"), "-p", directory, "-c", conf],
                 log_path=os.path.join(directory, "nginx.out"))
    deadline = time.monotonic() + 10
    while f"[::]:{servers.HTTP_PORT} " not in lab.ns.run(name, "ss", "-Hltn6", capture=True):
        r.check(time.monotonic() < deadline, f"nginx on {name} does not listen on [::]:{servers.HTTP_PORT}")
        time.sleep(0.05)


def phase_ipv6_client(lab, vipctl, workdir):
    """(fullnat) curl -6 through rt's ECMP route to VIP6: both gateways serve it."""
    for name in ecmp.BACKENDS6:
        start_nginx6(lab, workdir, name)
    before = {name: ctl.counter("new_connections") for name, ctl in vipctl.items()}
    answers = []
    for _ in range(40):
        out = lab.ns.run("c1", "curl", "-6", "-g", "-s", "-m", "5", f"http://[{ecmp.VIP6}]/", check=False,
                         capture=True)
        answers.append(out.strip())
    spread = {name: ctl.counter("new_connections") - before[name] for name, ctl in vipctl.items()}
    reached = r.spread(a for a in answers if a)
    r.log(f"40 x curl -6 http://[{ecmp.VIP6}]/ from the client: backends {dict(sorted(reached.items()))}, "
          f"new_connections per gateway {spread}")
    r.check(sum(reached.values()) == 40, f"curl -6 through rt to {ecmp.VIP6} failed: {answers}")
    r.check(all(count > 0 for count in spread.values()), f"not spread over both gateways: {spread}")


def phase_spread(lab, vipctl):
    before = {name: ctl.counter("new_connections") for name, ctl in vipctl.items()}
    answers = new_connections(lab, 200)
    spread = {name: ctl.counter("new_connections") - before[name] for name, ctl in vipctl.items()}
    r.log(f"200 new connections: {spread} (new_connections per gateway), backends {dict(r.spread(answers))}")
    r.check(all(count >= 40 for count in spread.values()), f"connections not spread over both gateways: {spread}")
    r.check(sum(spread.values()) >= 200, f"only {sum(spread.values())} of 200 connections counted")


def phase_service_change(lab, vipctl, workdir):
    path = os.path.join(workdir, "web.toml")

    def apply(ready):
        service = dict(lab.gateways["gw1"].config()["services"][0])
        service["endpoints"] = [{"address": a, "ready": ready} for a in ecmp.BACKENDS.values()]
        with open(path, "w") as f:
            f.write(ecmp.toml_dumps({"services": [service]}))
        vipctl["gw1"]("apply", "-f", path)

    apply(False)
    took = wait_routes(lab, ["gw2"])
    routes = vipctl["gw1"]("get", "announcements")["routes"]
    r.check(routes == [f"{ecmp.VIP6}/128"], f"gw1 announces {routes}: the VIP with no ready endpoint, or not VIP6")
    r.check(lab.routes6() == ["gw1", "gw2"], f"rt's route to {ecmp.VIP6} changed too: via {lab.routes6()}")
    r.log(f"gw1: every endpoint not ready: its route withdrawn, rt via gw2 only after {took:.2f} s "
          f"({ecmp.VIP6}/128, still served, stays)")
    new_connections(lab, 20)
    apply(True)
    took = wait_routes(lab, ["gw1", "gw2"])
    r.log(f"gw1: endpoints ready again: rt via both after {took:.2f} s")


def phase_drain(lab, vipctl):
    running = Running(lab)
    time.sleep(3)
    through = vipctl["gw1"].carrying(running.ports)
    drained = vipctl["gw1"]("drain-gateway", "--deadline", "30")
    r.check(drained["drained"] is True, f"drain-gateway: {drained}")
    took = wait_routes(lab, ["gw2"])
    took6 = wait_routes6(lab, ["gw2"])
    before = vipctl["gw1"].counter("new_connections")
    new_connections(lab, 50)
    after = vipctl["gw1"].counter("new_connections")
    time.sleep(3)
    state = vipctl["gw1"]("get", "announcements")
    shown = (lab.gateways["gw1"].metric("vipgate_announced_vips"), lab.gateways["gw1"].metric("vipgate_gateway_drained"))
    results, text = running.stop()
    r.log(f"drain-gateway gw1 ({through} of the {running.count} connections through it): route gone from rt in "
          f"{took:.2f} s ({ecmp.VIP6}/128 {took6:.2f} s); 50 new connections, {after - before} to gw1; get announcements: drained, "
          f"{state['drain']['open_connections']} connections open, deadline passed: "
          f"{state['drain']['deadline_passed']}; {text}")
    r.check(state["routes"] == [] and state["drained"], f"gw1 drained still announces: {state}")
    r.check(shown == (0, 1), f"drained gw1: vipgate_announced_vips, vipgate_gateway_drained = {shown}")
    r.check(after == before, f"{after - before} new connections reached the drained gateway")
    r.check(not broken(results), f"draining broke connections: {broken(results)}")
    vipctl["gw1"]("undrain-gateway")
    took = wait_routes(lab, ["gw1", "gw2"])
    wait_routes6(lab, ["gw1", "gw2"])
    r.log(f"undrain-gateway gw1: rt via both again after {took:.2f} s")


def phase_kill(lab, vipctl, nat_mode):
    running = Running(lab)
    time.sleep(3)
    through = vipctl["gw1"].carrying(running.ports)
    probe = Clients(lab, "probe", ecmp.VIP, ecmp.VIP_PORT, PROBE_INTERVAL_MS)
    time.sleep(2)
    not_syn = vipctl["gw2"]("get", "stats")["drops"]["not_syn"]
    killed_at = time.monotonic()
    lab.gateways["gw1"].kill()
    withdrawn = wait_routes(lab, ["gw2"])
    wait_routes(lab, ["gw2"], table=str(ecmp.BACKSIDE_TABLE))
    withdrawn6 = time.monotonic() - killed_at
    withdrawn6 += wait_routes6(lab, ["gw2"])
    time.sleep(max(0.0, 6 - withdrawn6))
    results, text = running.stop()
    attempts = probe.stop()
    gone = lab.ns.run("gw1", "ip", "link", "show", "dev", "vg-p0", check=False)
    r.check(gone != 0, "vg-p0 outlived the SIGKILLed vipgate")
    # Convergence: from the kill to the start of the first attempt from which on every new
    # connection succeeded at once (an attempt sent to the dead gateway waits for SYN retries).
    late = [start for start, ms, error in attempts if start >= killed_at - 1 and (error or ms > 200)]
    converged = (max(late) - killed_at) if late else 0.0
    failed = sum(1 for _, _, error in attempts if error)
    after_kill = [a for a in attempts if a[0] >= killed_at]
    r.log(f"SIGKILL gw1 ({nat_mode}, {through} of the {running.count} connections through it): vg-p0 gone, rt withdrew "
          f"its route in {withdrawn:.2f} s ({ecmp.VIP6}/128: {withdrawn6:.2f} s); new connections: {len(after_kill)} attempts after the kill, "
          f"{len(late)} slow (> 200 ms) or failed ({failed} failed), every one started from {converged:.2f} s "
          f"after the kill on succeeded at once; {text}")
    if nat_mode == "dnat":
        r.check(not broken(results), f"the failover broke connections: {broken(results)}")
    else:
        not_syn = vipctl["gw2"]("get", "stats")["drops"]["not_syn"] - not_syn
        r.log(f"full-NAT: {len(broken(results))} connections broke ({', '.join(sorted({b['error'] for b in broken(results)}))}"
              f"): those through gw1 carry its SNAT address {ecmp.GATEWAYS['gw1'][1]}; gw2 has no entry for them "
              f"and refused their packets (drops.not_syn +{not_syn}: a RST each)")
        r.check(not_syn >= len(broken(results)), f"gw2 refused {not_syn} mid-stream packets, fewer than the broken")
        r.check(len(broken(results)) <= through, f"{len(broken(results))} connections broke, more than the {through} "
                "through the dead gateway")
    r.check(converged < 15, f"new connections failed for {converged:.1f} s after the kill")
    return results


def phase_rejoin(lab, vipctl):
    running = Running(lab)
    time.sleep(2)
    started = time.monotonic()
    lab.gateways["gw1"].start()
    took = wait_routes(lab, ["gw1", "gw2"])
    joined = time.monotonic() - started
    wait_routes6(lab, ["gw1", "gw2"])
    time.sleep(4)
    picked = vipctl["gw1"].carrying(running.ports)
    results, text = running.stop()
    r.log(f"gw1 restarted: rt via both {joined:.1f} s after the start ({took:.1f} s of it waiting for BGP), "
          f"gw1's table holds {picked} of the {running.count} running connections (picked up mid-stream); {text}")
    r.check(not broken(results), f"the rejoin broke connections: {broken(results)}")


def phase_clean_stop(lab, remaining):
    """SIGTERM: vipgate withdraws its routes itself (and its BIRD tells rt) before the tap goes."""
    gateway = lab.gateways["gw2"]
    started = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    took = wait_routes(lab, remaining)
    wait_routes6(lab, remaining)
    log = gateway.stop()
    stopped = time.monotonic() - started
    r.check("announce: withdrew 2 route(s) at exit" in log, "gw2's log does not say it withdrew its routes at exit")
    r.log(f"SIGTERM gw2: it withdrew its route at exit, rt via {remaining or 'nobody'} {took:.2f} s after the "
          f"signal (vipgate exited after {stopped:.2f} s)")


def main():
    if len(sys.argv) < 4 or sys.argv[3] not in ("dnat", "fullnat"):
        print(f"usage: {sys.argv[0]} VIPGATE VIPCTL dnat|fullnat")
        sys.exit(2)
    vipgate, vipctl_exe, nat_mode = sys.argv[1:4]
    reason = r.missing_requirements() or (None if shutil.which("bird") and shutil.which("birdc") else
                                          "missing programs: bird, birdc (tools/setup.sh installs bird2)")
    if reason:
        print(f"SKIP: {reason}")
        sys.exit(r.SKIP)

    def interrupted(number, frame):
        raise r.TestFailure(f"interrupted by signal {number} (meson timeout?)")
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix=f"vipgate-realhost-bgp-{nat_mode}-")
    lab = ecmp.EcmpLab(workdir, vipgate, nat_mode)
    status = 1
    try:
        lab.up()
        servers.start(lab, workdir, cpu=0)
        for gateway in lab.gateways.values():
            gateway.start()
        vipctl = {name: Vipctl(vipctl_exe, gateway) for name, gateway in lab.gateways.items()}
        r.log(f"two gateways up ({nat_mode}, af_packet, idle adaptive), BIRD on each and on rt")
        phase_routes(lab, vipctl)
        phase_spread(lab, vipctl)
        if nat_mode == "fullnat":
            phase_ipv6_client(lab, vipctl, workdir)
        phase_service_change(lab, vipctl, workdir)
        if nat_mode == "dnat":
            phase_drain(lab, vipctl)
        phase_kill(lab, vipctl, nat_mode)
        if nat_mode == "dnat":
            phase_rejoin(lab, vipctl)
        phase_clean_stop(lab, ["gw1"] if nat_mode == "dnat" else [])
        status = 0
    except r.TestFailure as failure:
        print(f"FAIL: {failure}")
    except Exception:
        print("FAIL: unexpected exception")
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if status != 0:
            for name, gateway in lab.gateways.items():
                print(f"---- {name} vipgate log (last lines) ----\n" + "\n".join(gateway.log_text().splitlines()[-30:]))
            print("---- rt: birdc show protocols ----\n" + lab.router.show("show", "protocols"))
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bgp_ecmp_{nat_mode}: {'PASS' if status == 0 else 'FAIL'} in {time.monotonic() - started:.1f} s", flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
