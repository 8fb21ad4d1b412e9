#!/usr/bin/python3
"""`vipgate --check --config FILE`: offline validation.

  * valid files (one written by the harness, the repository's config/default.toml, and the
    embedded default without --config) exit 0 and print a one-line summary;
  * files with several errors (decoding errors and cross-field validation errors) exit
    non-zero and print every error as FILE:LINE:COLUMN: FIELD: message, then "N error(s)";
  * a TOML syntax error and a missing file are reported the same way.
--check starts no EAL, so this test needs neither root nor devices, but runs like the others.
"""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vipgate_harness as h  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (line, column, field) of each error, as the files below are laid out.
DECODE_ERRORS = [(6, 12, "dataplane.nat_mode"), (7, 1, "dataplane.bogus_key"), (10, 12, "conntrack.capacity"),
                 (19, 11, "neighbors[0].address"), (25, 19, "services[0].ports[0].port"),
                 (26, 50, "services[0].endpoints[0].weight")]
DECODE_FILE = """\
[eal]
args = ["--no-huge"]

[dataplane]
worker_lcores = [1]
nat_mode = "fullnut"
bogus_key = 3

[conntrack]
capacity = 10

[[ports]]
name = "p0"
device = "net_pcap0,rx_pcap=/dev/null"
mac = "02:00:00:00:00:01"
addresses = ["198.18.0.1/24"]

[[neighbors]]
address = "198.18.0.300"
mac = "02:00:00:00:00:fe"

[[services]]
name = "web"
cluster_ip = "198.18.100.10"
ports = [{ port = 70000 }]
endpoints = [{ address = "198.18.0.11", weight = -1 }]
"""

VALIDATE_ERRORS = [(2, 21, "dataplane.worker_lcores[1]"), (5, 14, "snat.addresses[0]"), (14, 7, "routes[0].via"),
                   (22, 8, "services[1].name")]
VALIDATE_FILE = """\
[dataplane]
worker_lcores = [1, 1]

[snat]
addresses = ["198.18.5.5"]

[[ports]]
name = "p0"
device = "net_pcap0,rx_pcap=/dev/null"
addresses = ["198.18.0.1/24"]

[[routes]]
prefix = "198.19.0.0/16"
via = "198.18.9.254"

[[services]]
name = "web"
cluster_ip = "198.18.100.10"
ports = [{ port = 80 }]

[[services]]
name = "web"
cluster_ip = "198.18.100.11"
ports = [{ port = 80 }]
"""


def run_check(exe, path=None):
    command = [exe, "--check"] + (["--config", path] if path else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout + result.stderr


def check_errors(exe, path, expected):
    status, output = run_check(exe, path)
    h.check(status != 0, f"--check exited 0 for {os.path.basename(path)}:\n{output}")
    lines = output.splitlines()
    for line, column, field in expected:
        prefix = f"{path}:{line}:{column}: {field}: "
        matching = [text for text in lines if text.startswith(prefix)]
        h.check(len(matching) == 1, f"{os.path.basename(path)}: expected one error starting with "
                                    f"'{prefix}', output:\n{output}")
        h.check(len(matching[0]) > len(prefix) + 10, f"error without an explanation: {matching[0]}")
    errors = [text for text in lines if re.match(re.escape(path) + r":\d+:\d+: ", text)]
    h.check(len(errors) == len(expected), f"{os.path.basename(path)}: {len(errors)} errors printed, expected "
                                          f"{len(expected)}:\n{output}")
    h.check(f"{path}: {len(expected)} error(s)" in output, f"no '{len(expected)} error(s)' summary:\n{output}")
    h.log(f"{os.path.basename(path)}: exit {status}, {len(expected)} errors reported with file:line:column")


def main(context):
    exe = context.exe
    # Valid files
    valid = h.write_config(context.path("valid.toml"), h.make_config(
        context.file_prefix(), "net_pcap0,rx_pcap=/dev/null",
        [{"name": "web", "cluster_ip": "198.18.100.10", "ports": [{"port": 80, "target_port": 8080}],
          "endpoints": [{"address": "198.18.0.11"}, {"address": "198.18.0.12"}]},
         {"name": "dns", "cluster_ip": "198.18.100.53", "ports": [{"protocol": "UDP", "port": 53}]}]))
    status, output = run_check(exe, valid)
    h.check(status == 0, f"--check of a valid file exited {status}:\n{output}")
    h.check(re.search(r"OK \(2 services, 2 service ports, 1 ports, 1 workers\)", output),
            f"unexpected summary for a valid file:\n{output}")
    # --check FILE is the same as --check --config FILE.
    result = subprocess.run([exe, "--check", valid], capture_output=True, text=True, timeout=30)
    h.check(result.returncode == 0 and "OK (2 services" in result.stdout,
            f"--check FILE of a valid file exited {result.returncode}:\n{result.stdout}{result.stderr}")
    default = os.path.join(SOURCE_ROOT, "config", "default.toml")
    if os.path.exists(default):
        status, output = run_check(exe, default)
        h.check(status == 0, f"--check of config/default.toml exited {status}:\n{output}")
    status, output = run_check(exe)
    h.check(status == 0 and "<embedded default>: OK" in output,
            f"--check of the embedded default exited {status}:\n{output}")

    # Several errors in one file: all reported with file:line:column.
    decode = h.write_config(context.path("decode-errors.toml"), DECODE_FILE)
    check_errors(exe, decode, DECODE_ERRORS)
    result = subprocess.run([exe, "--check", decode], capture_output=True, text=True, timeout=30)
    h.check(result.returncode != 0 and f"{decode}: {len(DECODE_ERRORS)} error(s)" in result.stderr + result.stdout,
            f"--check FILE of an invalid file exited {result.returncode}:\n{result.stdout}{result.stderr}")
    validate = h.write_config(context.path("validate-errors.toml"), VALIDATE_FILE)
    check_errors(exe, validate, VALIDATE_ERRORS)

    # A TOML syntax error: position of the error.
    syntax = h.write_config(context.path("syntax.toml"), "[dataplane]\nworker_lcores = [1\n\n[[ports]]\n")
    status, output = run_check(exe, syntax)
    h.check(status != 0, f"--check exited 0 for a syntax error:\n{output}")
    h.check(re.search(re.escape(syntax) + r":[234]:\d+: TOML syntax error", output),
            f"the syntax error is not reported with file:line:column:\n{output}")

    # A missing file.
    missing = context.path("does-not-exist.toml")
    status, output = run_check(exe, missing)
    h.check(status != 0 and f"{missing}: cannot open" in output, f"missing file: exit {status}:\n{output}")

    # The daemon itself refuses to start on an invalid file, printing the same errors.
    result = subprocess.run([exe, "--config", decode, "--duration", "1"], capture_output=True, text=True, timeout=30)
    output = result.stdout + result.stderr
    h.check(result.returncode != 0, f"vipgate started with an invalid config file:\n{output}")
    h.check(all(f"{decode}:{line}:{column}: {field}: " in output for line, column, field in DECODE_ERRORS) and
            "did not start" in output, f"vipgate did not list every error before refusing to start:\n{output}")


if __name__ == "__main__":
    h.run_test("check", main)
