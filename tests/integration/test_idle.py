#!/usr/bin/python3
"""Adaptive idle mode ([dataplane] idle = "adaptive") over a net_tap port, one worker.

An operator who turns on adaptive polling expects an idle gateway to leave its core free and
a busy one to answer everything. The test:
  * lets vipgate sit idle and reads its CPU time from /proc: far below the one core that busy
    polling takes (the bound is loose on purpose: it tells sleeping from spinning, not a
    benchmark; tools/bench.sh measures the numbers);
  * then sends pings to the VIP and a UDP exchange through it, spaced so the worker falls
    asleep between them: every one is answered or forwarded;
  * reads idle_sleeps with `vipctl get stats`: it grows while the gateway idles;
  * reloads the config with idle = "poll" (SIGHUP): idle_sleeps stops growing while the poll
    loop keeps turning (the mode is reloadable), and pings are still answered.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

VIP = "198.18.100.10"
ENDPOINT = "198.18.0.11"
SERVICES = [{"name": "echo", "cluster_ip": VIP,
             "ports": [{"name": "u", "protocol": "UDP", "port": 53, "target_port": 5353}],
             "endpoints": [{"address": ENDPOINT}]}]
IDLE_WINDOW_S = 3.0
# Sleeping worker and control thread: a few percent of a core. Spinning: about one core.
MAX_IDLE_CORES = 0.5


def cpu_cores_used(pid, seconds):
    """Cores the process used over `seconds` (utime + stime from /proc/PID/stat)."""
    def ticks():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    start_ticks, start = ticks(), time.monotonic()
    time.sleep(seconds)
    used = (ticks() - start_ticks) / os.sysconf("SC_CLK_TCK")
    return used / (time.monotonic() - start)


def pings_with_pauses(tap, count, pause):
    from scapy.layers.inet import ICMP
    for seq in range(count):
        tap.send(h.client_frame("198.19.1.3", VIP, ICMP(type=8, id=0x51, seq=seq) / b"idle-ping"))
        tap.expect_one(lambda p, s=seq: ICMP in p and p[ICMP].type == 0 and p[ICMP].seq == s,
                       what=f"echo reply {seq}")
        time.sleep(pause)


def udp_through_vip(tap):
    from scapy.layers.inet import IP, UDP
    tap.send(h.client_frame("198.19.1.2", VIP, UDP(sport=5555, dport=53) / b"after-a-nap"))
    request = tap.expect_one(lambda p: UDP in p and p[UDP].dport == 5353, what="forwarded UDP request")
    h.check(request[IP].dst == ENDPOINT, f"forwarded to {request[IP].dst}")


def counters(vipctl):
    return vipctl.json("get", "stats")["counters"]


def main(context):
    vipctl_exe = sys.argv[2]
    iface = context.interface_name("idle")
    config = h.make_config(context.file_prefix("idle"), f"net_tap0,iface={iface}", SERVICES,
                           dataplane={"idle": "adaptive", "idle_max_sleep_us": 200})
    path = h.write_config(context.path("idle.toml"), config)
    api_socket = context.path("api.sock")
    daemon = context.daemon(path, name="vipgate-idle", args=["--api-socket", api_socket])
    daemon.wait_running()
    vipctl = h.Vipctl(vipctl_exe, api_socket)
    tap = context.tap(iface)

    idle_cores = cpu_cores_used(daemon.process.pid, IDLE_WINDOW_S)
    h.log(f"adaptive, idle: vipgate used {idle_cores:.3f} cores")
    h.check(idle_cores < MAX_IDLE_CORES, f"idle vipgate in adaptive mode used {idle_cores:.2f} cores")

    pings_with_pauses(tap, 10, 0.05)
    udp_through_vip(tap)

    before = counters(vipctl)
    time.sleep(0.5)
    after = counters(vipctl)
    h.check(after["idle_sleeps"] > before["idle_sleeps"], "idle_sleeps did not grow while the gateway idled")

    config["dataplane"]["idle"] = "poll"
    h.write_config(path, config)
    offset = daemon.log_offset()
    daemon.send_signal(1)
    daemon.wait_for(r"update applied: generation \d+ in use", after=offset)
    before = counters(vipctl)
    time.sleep(0.5)
    after = counters(vipctl)
    h.log(f"poll: {after['loops'] - before['loops']} poll loops and "
          f"{after['idle_sleeps'] - before['idle_sleeps']} sleeps in 0.5 s")
    h.check(after["idle_sleeps"] == before["idle_sleeps"], "the worker still sleeps after the reload to idle = \"poll\"")
    h.check(after["loops"] > before["loops"], "the poll loop stopped")
    pings_with_pauses(tap, 3, 0.0)

    status, text = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")
    final = h.parse_final_counters(text)
    h.log(f"idle_sleeps {final.get('idle_sleeps', 0)}, idle_sleep_us {final.get('idle_sleep_us', 0)}")
    h.check(final.get("drop.tx_queue_full", 0) == 0, "frames lost at TX")


if __name__ == "__main__":
    h.run_test("idle", main, need_tap=True)
