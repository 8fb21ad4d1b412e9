#!/usr/bin/python3
"""Hostile documents sent with `vipctl apply -f` are refused and the daemon stays up.

The real daemon (a net_pcap port, the control API on a socket) is sent, as an operator would
with `vipctl apply -f`:
  * a List whose items are the List itself (`&a {..., items: [*a]}`): an alias cycle;
  * "billion laughs": nested anchors each listing the previous one ten times, nine levels, as
    List items (10^9 pods) and as label maps over a 1 KiB value (gigabytes of labels);
  * flow sequences 100,000 deep;
  * a TOML document whose dotted key has 100,000 parts.
Each apply must exit 1 promptly with the error, the daemon must stay alive, keep answering
`vipctl get services`, keep its memory (VmRSS) and still apply a legitimate manifest.
"""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

PROMPT_S = 5.0            # a refusal reads the document once: milliseconds, with a wide margin
RSS_SLACK_KIB = 64 * 1024

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: 198.18.128.10
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
"""


def ten(anchor):
    return "[" + ", ".join([f"*{anchor}"] * 10) + "]"


def laughing_items():
    lines = ["apiVersion: v1", "kind: List", "items:",
             "- &l0 {apiVersion: v1, kind: Pod, metadata: {name: p, labels: {app: web}}}"]
    lines += [f"- &l{n} {{apiVersion: v1, kind: List, items: {ten(f'l{n - 1}')}}}" for n in range(1, 10)]
    return "\n".join(lines) + "\n"


def laughing_labels():
    lines = ["apiVersion: v1", "kind: Pod", "metadata:", "  name: p", "  annotations:",
             f'    v0: &v0 "{"x" * 1024}"']
    for n in range(1, 10):
        entries = ", ".join(f"k{k}: *v{n - 1}" for k in range(10))
        lines.append(f"    v{n}: &v{n} {{{entries}}}")
    lines.append("  labels: *v9")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "cycle.yaml": ("&a {apiVersion: v1, kind: List, items: [*a]}\n",
                   ":1:41: alias cycle: *a refers to the node anchored &a at 1:1"),
    "laughs-items.yaml": (laughing_items(), "aliases expand this document to more than 4194304 nodes"),
    "laughs-labels.yaml": (laughing_labels(), "aliases expand this document to more than 64 MiB of text"),
    "deep.yaml": ("[" * 100_000 + "]" * 100_000 + "\n", ":1:65: nesting deeper than 64 levels"),
    "dotted.toml": ("a" + ".a" * 100_000 + " = 1\n", ":1:33: a dotted key of more than 16 parts"),
}


def vipctl(exe, socket, *args):
    started = time.monotonic()
    try:
        result = subprocess.run([exe, "--socket", socket, *args], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise h.TestFailure(f"vipctl {' '.join(args)} did not finish within 60 s")
    elapsed = time.monotonic() - started
    h.log(f"$ vipctl {' '.join(args)} -> {result.returncode} in {elapsed:.3f} s\n"
          f"{result.stdout}{result.stderr[:600]}".rstrip())
    return result, elapsed


def main(context):
    vipctl_exe = sys.argv[2]
    in_pcap = context.path("in.pcap")
    h.write_empty_pcap(in_pcap)
    device = f"net_pcap0,rx_pcap={in_pcap},tx_pcap={context.path('out.pcap')}"
    config = h.make_config(context.file_prefix("yb"), device, [])
    config["cluster"] = {"service_cidr": "198.18.128.0/20"}
    path = h.write_config(context.path("vipgate.toml"), config)
    socket = context.path("api.sock")
    daemon = context.daemon(path, args=["--api-socket", socket])
    daemon.wait_running()
    daemon.wait_for(r"control API listening")
    pid = daemon.process.pid

    def still_serving(after):
        h.check(daemon.running(), f"vipgate died after {after}; log:\n{daemon.tail(daemon.log_text())}")
        result, _ = vipctl(vipctl_exe, socket, "get", "services")
        h.check(result.returncode == 0, f"vipctl get services failed after {after}: {result.stderr}")

    still_serving("start-up")
    rss_before = h.vm_rss_kib(pid)
    for name, (text, message) in HOSTILE.items():
        document = context.path(name)
        with open(document, "w") as f:
            f.write(text)
        result, elapsed = vipctl(vipctl_exe, socket, "apply", "-f", document)
        h.check(result.returncode == 1, f"{name}: expected exit status 1, got {result.returncode}: {result.stderr}")
        h.check(message in result.stderr, f"{name}: expected '{message}' in: {result.stderr}")
        h.check(elapsed < PROMPT_S, f"{name}: refused after {elapsed:.1f} s (limit {PROMPT_S} s)")
        still_serving(name)
        rss = h.vm_rss_kib(pid)
        h.check(rss - rss_before < RSS_SLACK_KIB,
                f"{name}: vipgate's VmRSS grew from {rss_before} KiB to {rss} KiB")
        h.log(f"{name}: refused in {elapsed * 1000:.0f} ms, VmRSS {rss_before} -> {rss} KiB")

    with open(context.path("web.yaml"), "w") as f:
        f.write(SERVICE)
    result, _ = vipctl(vipctl_exe, socket, "apply", "-f", context.path("web.yaml"))
    h.check(result.returncode == 0 and "service/web created" in result.stdout,
            f"a legitimate apply after the refusals failed: {result.stdout}{result.stderr}")
    listed, _ = vipctl(vipctl_exe, socket, "get", "services")
    h.check("198.18.128.10" in listed.stdout, f"web not listed: {listed.stdout}")

    status, _ = daemon.stop()
    h.check(status == 0, f"vipgate exited with status {status}")


if __name__ == "__main__":
    h.run_test("yaml_bounds", main)
