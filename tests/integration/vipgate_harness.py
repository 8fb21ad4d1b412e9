"""Shared helpers for vipgate's integration tests.

Every test script is run by meson as `python3 SCRIPT VIPGATE_EXE` and uses `run_test()`:
it checks the environment (root, /dev/net/tun, scapy; exit 77 = skipped when missing), runs
the test body with a `TestContext` that owns every resource (daemons, temporary directory,
DPDK runtime directories, tap interfaces) and releases them whatever happens, and turns a
`TestFailure` into a clear "FAIL: reason" line and exit status 1.

Pieces:
  * toml_dumps / make_config: write vipgate configuration files from Python dicts;
  * Daemon: start vipgate, wait for log lines, signal it, parse its final counters;
  * TapIO: play clients and endpoints on the kernel side of a net_tap port through a raw
    AF_PACKET socket (a reader thread keeps every frame vipgate transmits);
  * checksum_problems: verify IPv4/TCP/UDP/ICMP checksums of a frame with scapy's routines;
  * TcpFlow: one client connection through a VIP, with the expected translations.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SKIP = 77

# Addresses: only 198.18.0.0/15 and locally administered MACs.
GATEWAY_MAC = "02:00:00:00:00:01"
ROUTER_MAC = "02:00:00:00:00:fe"
GATEWAY_IP = "198.18.0.1"        # the port's primary address
SNAT_IP = "198.18.0.2"           # second port address, used as full-NAT source
ROUTER_IP = "198.18.0.254"       # next hop towards the clients in 198.19.0.0/16
CLIENT_NET = "198.19.0.0/16"

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class TestFailure(Exception):
    pass


class TestSkip(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def endpoint_mac(address):
    """Static neighbor MAC used for endpoint 198.18.0.N: 02:00:00:00:01:NN."""
    last = int(address.split(".")[-1])
    return f"02:00:00:00:01:{last:02x}"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Configuration files


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_dumps(document):
    """Top-level dict: dict values become [tables], lists of dicts become [[arrays of tables]]
    (their own nested values are written inline)."""
    lines = []
    for key, value in document.items():
        if not isinstance(value, dict) and not (isinstance(value, list) and value and isinstance(value[0], dict)):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            for k, v in value.items():
                lines.append(f"{k} = {_toml_value(v)}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"\n[[{key}]]")
                for k, v in item.items():
                    lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def eal_args(file_prefix, workers=1, telemetry=False, hugepages=False):
    # On hugepages (which the machine has few of) a smaller pool: 256 MiB.
    args = ["-m", "256" if hugepages else "512", "--no-pci", "--file-prefix", file_prefix]
    if not hugepages:
        args.insert(0, "--no-huge")
    if not telemetry:
        args.append("--no-telemetry")
    if workers == 2:
        # Two CPUs: the control thread on CPU 0, both workers share CPU 1.
        args.append("--lcores=0@0,1@1,2@1")
    elif workers != 1:
        raise ValueError("the tests use one or two workers")
    return args


def make_config(file_prefix, device, services, *, workers=1, nat_mode="fullnat", neighbors=None,
                snat_port_range=None, conntrack=None, dataplane=None, telemetry=False, hugepages=False):
    """A one-port gateway: 198.18.0.1/24 (primary) and 198.18.0.2/24 (SNAT source) with MAC
    02:00:00:00:00:01, clients in 198.19.0.0/16 behind the router 198.18.0.254, and a static
    neighbor entry for the router plus every address in `neighbors` (default: every endpoint of
    `services`)."""
    if neighbors is None:
        neighbors = sorted({e["address"] for s in services for e in s.get("endpoints", [])},
                           key=lambda a: tuple(int(x) for x in a.split(".")))
    config = {
        "eal": {"args": eal_args(file_prefix, workers, telemetry, hugepages)},
        "dataplane": {"worker_lcores": [1] if workers == 1 else [1, 2], "nat_mode": nat_mode,
                      "stats_interval_ms": 1000, **(dataplane or {})},
        "conntrack": {"capacity": 65536, **(conntrack or {})},
        "snat": {"addresses": [SNAT_IP]},
        "ports": [{"name": "p0", "device": device, "mac": GATEWAY_MAC,
                   "addresses": [f"{GATEWAY_IP}/24", f"{SNAT_IP}/24"]}],
        "routes": [{"prefix": CLIENT_NET, "via": ROUTER_IP}],
        "neighbors": [{"address": ROUTER_IP, "mac": ROUTER_MAC}] +
                     [{"address": a, "mac": endpoint_mac(a)} for a in neighbors],
        "services": services,
    }
    if snat_port_range:
        config["snat"]["port_range"] = list(snat_port_range)
    if not services:
        del config["services"]
    return config


def write_config(path, config):
    text = config if isinstance(config, str) else toml_dumps(config)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # atomic: a SIGHUP never sees half a file
    return path


# ---------------------------------------------------------------------------------------------
# The daemon


def parse_final_counters(text):
    """{name: value} from the block after the last "final counters:" line (drop reasons as
    "drop.<reason>")."""
    index = text.rfind("final counters:")
    if index < 0:
        raise TestFailure("vipgate printed no 'final counters:' block")
    counters = {}
    for line in text[index:].splitlines()[1:]:
        match = re.match(r"^\s+([a-z_][a-z0-9_.]*)\s+(\d+)\s*$", line)
        if match:
            counters[match.group(1)] = int(match.group(2))
        elif line.startswith("per-endpoint spread") or line.startswith("[") or not line.startswith(" "):
            break
    return counters


def parse_endpoint_spread(text):
    """{service_name: {"address:port": connections}} from the last per-endpoint table."""
    index = text.rfind("per-endpoint spread:")
    if index < 0:
        return {}
    table = {}
    current = None
    for line in text[index:].splitlines()[1:]:
        service = re.match(r"^  (\S+) \((\S+)\): (\d+) connections$", line)
        endpoint = re.match(r"^    (\d+\.\d+\.\d+\.\d+:\d+)\s+w=\d+\s+\S+\s+(\d+) conns", line)
        if service:
            current = service.group(1)
            table[current] = {}
        elif endpoint and current is not None:
            table[current][endpoint.group(1)] = int(endpoint.group(2))
        elif not line.startswith("    "):
            break
    return table


def _die_with_parent():
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Daemon:
    def __init__(self, context, exe, config_path, name="vipgate", args=()):
        self.context = context
        self.exe = exe
        self.config_path = config_path
        self.log_path = os.path.join(context.tmpdir, f"{name}.log")
        self.args = list(args)
        self.process = None
        self.returncode = None

    def start(self):
        self._log_file = open(self.log_path, "wb")
        command = [self.exe, "--config", self.config_path] + self.args
        log(f"starting {' '.join(command)}")
        # Own session: only the signals the test sends reach vipgate. PR_SET_PDEATHSIG: should
        # this script die without cleaning up (SIGKILL), the kernel kills vipgate too.
        self.process = subprocess.Popen(command, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=_die_with_parent)
        self.context.daemons.append(self)
        return self

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.process is not None and self.process.poll() is None

    def wait_for(self, pattern, timeout=10.0, after=0):
        """Waits for regex `pattern` in the log (from character offset `after`); returns the match.
        Fails early if the daemon exits."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            match = regex.search(text, after)
            if match:
                return match
            if not self.running():
                raise TestFailure(f"vipgate exited (status {self.process.poll()}) before logging "
                                  f"/{pattern}/; log:\n{self.tail(text)}")
            if time.monotonic() > deadline:
                raise TestFailure(f"vipgate did not log /{pattern}/ within {timeout} s; log:\n{self.tail(text)}")
            time.sleep(0.05)

    def log_offset(self):
        return len(self.log_text())

    @staticmethod
    def tail(text, lines=40):
        return "\n".join(text.splitlines()[-lines:])

    def metrics_address(self, timeout=10.0):
        """The "host:port" the metrics endpoint bound: start it on port 0 (--metrics-address
        127.0.0.1:0) and read the port here, so no other process can take it in between."""
        return self.wait_for(r"metrics at http://(\S+?)/metrics", timeout).group(1)

    def wait_running(self, timeout=30.0):
        try:
            return self.wait_for(r"\d+ worker\(s\) running", timeout)
        except TestFailure:
            # A DPDK build without the virtual device's driver (no driver claims the name, so EAL
            # cannot even parse it): the environment, not vipgate.
            missing = re.search(r'EAL: failed to parse device "(net_(?:tap|pcap))', self.log_text())
            if missing and not self.running():
                raise TestSkip(f"this DPDK cannot create {missing.group(1)} ports (driver not built?)")
            raise

    def send_signal(self, number):
        check(self.running(), f"vipgate is not running (status {self.process.poll()}); log:\n"
                              f"{self.tail(self.log_text())}")
        self.process.send_signal(number)

    def wait_exit(self, timeout=20.0):
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"vipgate did not exit within {timeout} s; log:\n{self.tail(self.log_text())}")
        return self.returncode

    def stop(self, timeout=20.0):
        """SIGTERM, wait, return (status, log text)."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        status = self.wait_exit(timeout)
        return status, self.log_text()

    def kill(self, grace=3.0):
        """Stops a daemon that is still running: SIGTERM (so its log ends with the final
        counters), SIGKILL after `grace` seconds."""
        if self.process is not None and self.process.poll() is None and grace > 0:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if getattr(self, "_log_file", None):
            self._log_file.close()
            self._log_file = None

    def final_counters(self):
        return parse_final_counters(self.log_text())


# ---------------------------------------------------------------------------------------------
# vipctl, the operator's client


class Vipctl:
    def __init__(self, exe, socket):
        self.exe, self.socket = exe, socket

    def run(self, *args, stdin=None):
        command = [self.exe, "--socket", self.socket, *args]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=20)
        log(f"$ vipctl {' '.join(args)} -> {result.returncode}\n{result.stdout}{result.stderr}".rstrip())
        return result

    def ok(self, *args, stdin=None):
        result = self.run(*args, stdin=stdin)
        check(result.returncode == 0, f"vipctl {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def json(self, *args):
        return json.loads(self.ok(*args, "-o", "json"))

    def apply(self, context, name, text):
        path = context.path(name)
        with open(path, "w") as f:
            f.write(text)
        return self.run("apply", "-f", path)


def items(document):
    return document["items"] if isinstance(document, dict) else document


# ---------------------------------------------------------------------------------------------
# Test context: owns every resource


class TestContext:
    def __init__(self, name, exe):
        self.name = name
        self.exe = exe
        self.tmpdir = tempfile.mkdtemp(prefix=f"vipgate-{name}-")
        self.daemons = []
        self.taps = []
        self.file_prefixes = []
        self.interfaces = []

    def file_prefix(self, tag=""):
        prefix = f"vgit-{self.name}{tag}-{os.getpid()}"
        self.file_prefixes.append(prefix)
        return prefix

    def interface_name(self, tag=""):
        # Linux names are at most 15 characters.
        name = f"vg{tag}{os.getpid() % 100000}"[:15]
        self.interfaces.append(name)
        return name

    def path(self, name):
        return os.path.join(self.tmpdir, name)

    def daemon(self, config_path, name="vipgate", args=()):
        return Daemon(self, self.exe, config_path, name, args).start()

    def tap(self, iface, timeout=10.0):
        tap = TapIO(iface, timeout)
        self.taps.append(tap)
        return tap

    def cleanup(self, failed):
        for tap in self.taps:
            tap.close()
        for daemon in self.daemons:
            if daemon.running():
                log(f"stopping vipgate pid {daemon.process.pid} (SIGTERM, then SIGKILL)")
            daemon.kill()
            if failed and os.path.exists(daemon.log_path):
                print(f"---- {os.path.basename(daemon.log_path)} (last lines) ----")
                print(Daemon.tail(daemon.log_text(), 60))
        for iface in self.interfaces:
            # The tap PMD's interfaces are not persistent: they vanish with the process. Remove
            # one that is left over anyway.
            if os.path.exists(f"/sys/class/net/{iface}"):
                subprocess.run(["ip", "link", "delete", iface], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        for prefix in self.file_prefixes:
            shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
            # A primary on hugepages leaves its page files for secondaries to map; they go too.
            for page in glob.glob(f"/dev/hugepages/{prefix}map_*"):
                os.unlink(page)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def vm_rss_kib(pid):
    """A process's resident memory (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise TestFailure(f"no VmRSS for pid {pid}")


def free_hugepages_mib():
    """Free 2 MiB hugepages, in MiB (0 when the kernel has none)."""
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read()) * 2
    except OSError:
        return 0


def require_environment(need_tap=False):
    if os.geteuid() != 0:
        raise TestSkip("needs root (DPDK EAL, tap devices, raw sockets)")
    try:
        import scapy.all  # noqa: F401  (the check: scapy is importable)
    except ImportError as error:
        raise TestSkip(f"scapy is not importable by {sys.executable}: {error} (apt install python3-scapy)")
    if need_tap:
        if not os.path.exists("/dev/net/tun"):
            raise TestSkip("no /dev/net/tun: net_tap ports cannot be created here")
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.close()
        except OSError as error:
            raise TestSkip(f"cannot open an AF_PACKET socket: {error}")


def run_test(name, body, need_tap=False):
    """Entry point of every test script: body(context) with all clean-up guaranteed."""
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} VIPGATE_EXECUTABLE")
        sys.exit(2)
    exe = sys.argv[1]
    if not os.access(exe, os.X_OK):
        print(f"FAIL: {exe} is not an executable")
        sys.exit(1)
    try:
        require_environment(need_tap)
    except TestSkip as reason:
        print(f"SKIP: {reason}")
        sys.exit(SKIP)
    def interrupted(number, frame):
        raise TestFailure(f"interrupted by signal {number} (meson timeout?)")
    # meson stops a test that overruns its timeout with SIGTERM: clean up all the same.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    started = time.monotonic()
    context = TestContext(name, exe)
    failed = True
    status = 1
    try:
        body(context)
        failed = False
        status = 0
    except TestSkip as reason:
        print(f"SKIP: {reason}")
        failed = False
        status = SKIP
    except TestFailure as reason:
        print(f"FAIL: {reason}")
    except KeyboardInterrupt:
        print("FAIL: interrupted")
    except Exception:  # a bug in the test or an unexpected condition: still a clear failure
        print("FAIL: unexpected exception")
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        context.cleanup(failed)
    elapsed = time.monotonic() - started
    print(f"{name}: {'PASS' if status == 0 else 'SKIP' if status == SKIP else 'FAIL'} in {elapsed:.1f} s",
          flush=True)
    sys.exit(status)


# ---------------------------------------------------------------------------------------------
# Packets


def checksum_problems(frame):
    """Checks every checksum of an Ethernet/IPv4 frame (bytes or scapy packet) with scapy's
    routines: the IPv4 header, TCP/UDP over the pseudo header, ICMP over the whole message and,
    for ICMP errors, the quoted IPv4 header. Returns a list of problems (empty: all valid)."""
    from scapy.layers.inet import IP, in4_chksum
    from scapy.layers.l2 import Ether
    from scapy.utils import checksum
    data = frame_bytes(frame)
    packet = Ether(data)
    if IP not in packet:
        return []
    l3 = len(data) - len(bytes(packet[IP]))
    ip = packet[IP]
    ihl = ip.ihl * 4
    total = ip.len
    problems = []
    if checksum(data[l3:l3 + ihl]) != 0:
        problems.append(f"IPv4 header checksum {ip.chksum:#06x} is wrong")
    l4 = data[l3 + ihl:l3 + total]
    if ip.frag != 0 or ip.flags.MF:
        return problems
    if ip.proto in (6, 17):
        if ip.proto == 17 and len(l4) >= 8 and l4[6:8] == b"\0\0":
            problems.append("UDP checksum missing (0)")
        elif in4_chksum(ip.proto, ip, l4) != 0:
            name = "TCP" if ip.proto == 6 else "UDP"
            problems.append(f"{name} checksum {int.from_bytes(l4[16:18] if ip.proto == 6 else l4[6:8], 'big'):#06x} "
                            f"is wrong")
    elif ip.proto == 1:
        if checksum(l4) != 0:
            problems.append(f"ICMP checksum {int.from_bytes(l4[2:4], 'big'):#06x} is wrong")
        if len(l4) >= 28 and l4[0] in (3, 11, 12):
            inner_ihl = (l4[8] & 0x0F) * 4
            if checksum(l4[8:8 + inner_ihl]) != 0:
                problems.append("quoted IPv4 header checksum is wrong")
    return problems


def frame_bytes(packet):
    """The bytes a frame was dissected from (scapy may not rebuild them identically, e.g. DNS)."""
    if isinstance(packet, (bytes, bytearray)):
        return bytes(packet)
    original = getattr(packet, "original", None)
    return bytes(original) if original else bytes(packet)


def l4_payload(packet):
    """The TCP/UDP payload as sent (from the raw bytes, without Ethernet padding)."""
    from scapy.layers.inet import IP
    data = frame_bytes(packet)
    l3 = len(data) - len(frame_bytes(packet[IP]))
    ip = data[l3:]
    ihl = (ip[0] & 0x0F) * 4
    total = int.from_bytes(ip[2:4], "big")
    l4 = ip[ihl:total]
    if ip[9] == 6:
        return l4[(l4[12] >> 4) * 4:]
    if ip[9] == 17:
        return l4[8:]
    return l4[8:] if ip[9] == 1 else l4


def read_pcap(path):
    """Every record of a pcap file as bytes, read with scapy (raises on a damaged file)."""
    from scapy.utils import RawPcapReader
    reader = RawPcapReader(path)
    try:
        return [data for data, _ in reader]
    finally:
        reader.close()


def describe(packet):
    try:
        return packet.summary()
    except Exception:
        return repr(packet)


class TapIO:
    """The kernel side of a net_tap port. Frames sent here reach vipgate; every frame vipgate
    transmits is kept (with its arrival time) until a test takes it with expect()."""

    def __init__(self, iface, timeout=10.0):
        from scapy.layers.l2 import Ether
        self._ether = Ether
        self.iface = iface
        deadline = time.monotonic() + timeout
        while not os.path.exists(f"/sys/class/net/{iface}"):
            if time.monotonic() > deadline:
                raise TestFailure(f"tap interface {iface} did not appear")
            time.sleep(0.05)
        # Keep the kernel's own IPv6 packets (router solicitations, MLD, DAD) off the port.
        try:
            with open(f"/proc/sys/net/ipv6/conf/{iface}/disable_ipv6", "w") as f:
                f.write("1")
        except OSError:
            pass  # no IPv6 in this kernel: nothing to silence
        subprocess.run(["ip", "link", "set", iface, "up"], check=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((iface, 0))
        self.sock.settimeout(0.05)
        self.frames = []           # [(time, bytes, scapy packet)] not yet taken
        self.received_total = 0
        self.cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._reader, name=f"tap-{iface}", daemon=True)
        self._thread.start()

    def _reader(self):
        while not self._stop:
            try:
                data, address = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                if self._stop:
                    return
                time.sleep(0.01)
                continue
            if address[2] == PACKET_OUTGOING:
                continue  # what we sent ourselves
            packet = self._ether(data)
            with self.cond:
                self.frames.append((time.monotonic(), data, packet))
                self.received_total += 1
                self.cond.notify_all()

    def send(self, *packets):
        for packet in packets:
            if isinstance(packet, (list, tuple)):
                self.send(*packet)
                continue
            data = bytes(packet)
            for _ in range(100):
                try:
                    self.sock.send(data)
                    break
                except OSError as error:  # ENOBUFS: the tap queue is full, let vipgate catch up
                    if error.errno not in (105, 11):
                        raise
                    time.sleep(0.002)
            else:
                raise TestFailure(f"cannot send on {self.iface}: queue stays full")

    def expect(self, predicate, count=1, timeout=3.0, what="frame", exact=False):
        """Takes `count` frames matching predicate(packet) (in arrival order), waiting up to
        `timeout` s. With exact=True, also waits briefly for and rejects any extra match."""
        deadline = time.monotonic() + timeout
        taken = []
        with self.cond:
            while True:
                keep = []
                for entry in self.frames:
                    if len(taken) < count and _matches(predicate, entry[2]):
                        taken.append(entry[2])
                    else:
                        keep.append(entry)
                self.frames = keep
                if len(taken) >= count:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    others = "\n  ".join(describe(e[2]) for e in self.frames[-10:]) or "(none)"
                    raise TestFailure(f"expected {count} {what}, got {len(taken)} within {timeout} s; "
                                      f"other frames received:\n  {others}")
                self.cond.wait(min(remaining, 0.1))
        if exact:
            time.sleep(0.2)
            extra = self.take_all(predicate)
            check(not extra, f"expected exactly {count} {what}, got {len(extra)} more: "
                             f"{[describe(p) for p in extra[:5]]}")
        return taken

    def expect_one(self, predicate, timeout=3.0, what="frame"):
        return self.expect(predicate, 1, timeout, what)[0]

    def take_all(self, predicate=None):
        with self.cond:
            taken = [e[2] for e in self.frames if predicate is None or _matches(predicate, e[2])]
            self.frames = [e for e in self.frames if not (predicate is None or _matches(predicate, e[2]))]
        return taken

    def expect_none(self, predicate, wait=0.5, what="frame"):
        time.sleep(wait)
        extra = self.take_all(predicate)
        check(not extra, f"expected no {what}, got {len(extra)}: {[describe(p) for p in extra[:5]]}")

    def close(self):
        self._stop = True
        self._thread.join(2)
        try:
            self.sock.close()
        except OSError:
            pass


def _matches(predicate, packet):
    try:
        return bool(predicate(packet))
    except (AttributeError, IndexError, TypeError):
        return False


# The replay scenario several tests share: two ClusterIPs over three endpoints, and 32 clients
# each with a TCP flow (a SYN, then a data segment) and a UDP query, replayed in a loop by a
# net_pcap port (infinite_rx=1) or sent into a tap.
REPLAY_WEB_VIP, REPLAY_DNS_VIP = "198.18.100.10", "198.18.100.53"
REPLAY_ENDPOINTS = ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
REPLAY_FLOWS = 32


def replay_services(endpoints=REPLAY_ENDPOINTS):
    return [
        {"name": "web", "cluster_ip": REPLAY_WEB_VIP, "ports": [{"protocol": "TCP", "port": 80, "target_port": 8080}],
         "endpoints": [{"address": a} for a in endpoints]},
        {"name": "dns", "cluster_ip": REPLAY_DNS_VIP, "ports": [{"protocol": "UDP", "port": 53, "target_port": 5353}],
         "endpoints": [{"address": a} for a in endpoints]},
    ]


def replay_frames():
    """Every flow's frames as its client sends them."""
    from scapy.layers.inet import TCP, UDP
    frames = []
    for i in range(REPLAY_FLOWS):
        client, port = f"198.19.0.{i + 1}", 20000 + i
        frames.append(client_frame(client, REPLAY_WEB_VIP, TCP(sport=port, dport=80, flags="S", seq=i * 1000)))
        frames.append(client_frame(client, REPLAY_WEB_VIP, TCP(sport=port, dport=80, flags="PA", seq=i * 1000 + 1) /
                                   b"data"))
        frames.append(client_frame(client, REPLAY_DNS_VIP, UDP(sport=port, dport=53) / b"query"))
    return frames


def write_replay_pcap(path):
    from scapy.utils import PcapWriter
    writer = PcapWriter(path, linktype=1, sync=False)
    for frame in replay_frames():
        writer.write(bytes(frame))
    writer.close()


def write_empty_pcap(path):
    """A pcap file with the global header only: a net_pcap port that receives nothing."""
    with open(path, "wb") as f:
        f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))


def replay_flow_keys():
    """{(protocol, client "ip:port", vip "ip:port")} of every flow of the scenario."""
    flows = set()
    for i in range(REPLAY_FLOWS):
        client = f"198.19.0.{i + 1}:{20000 + i}"
        flows.add(("TCP", client, f"{REPLAY_WEB_VIP}:80"))
        flows.add(("UDP", client, f"{REPLAY_DNS_VIP}:53"))
    return flows


def client_frame(src_ip, dst_ip, l4, ttl=64):
    """A frame from a client behind the router, addressed to the gateway's MAC."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether
    return Ether(src=ROUTER_MAC, dst=GATEWAY_MAC) / IP(src=src_ip, dst=dst_ip, ttl=ttl, id=0x1234) / l4


def endpoint_frame(src_ip, dst_ip, l4, ttl=64):
    """A frame from endpoint `src_ip` (its static-neighbor MAC) to the gateway."""
    from scapy.layers.inet import IP
    from scapy.layers.l2 import Ether
    return Ether(src=endpoint_mac(src_ip), dst=GATEWAY_MAC) / IP(src=src_ip, dst=dst_ip, ttl=ttl, id=0x4321) / l4


def check_frame(packet, *, what, eth_src=GATEWAY_MAC, eth_dst=None, ip_src=None, ip_dst=None, sport=None,
                dport=None, ttl=None, flags=None, seq=None, ack=None, payload=None):
    """Checks one frame vipgate transmitted; every given field must match, checksums must be valid."""
    from scapy.layers.inet import IP, TCP, UDP
    problems = []

    def compare(name, actual, expected):
        if expected is not None and actual != expected:
            problems.append(f"{name} {actual} (expected {expected})")
    compare("Ethernet source", packet.src, eth_src)
    compare("Ethernet destination", packet.dst, eth_dst)
    if IP not in packet:
        raise TestFailure(f"{what}: not IPv4: {describe(packet)}")
    ip = packet[IP]
    compare("IP source", ip.src, ip_src)
    compare("IP destination", ip.dst, ip_dst)
    compare("TTL", ip.ttl, ttl)
    l4 = packet[TCP] if TCP in packet else packet[UDP] if UDP in packet else None
    if l4 is not None:
        compare("source port", l4.sport, sport)
        compare("destination port", l4.dport, dport)
    if TCP in packet:
        compare("TCP flags", str(packet[TCP].flags), flags)
        compare("seq", packet[TCP].seq, seq)
        compare("ack", packet[TCP].ack, ack)
    if payload is not None:
        actual = l4_payload(packet)
        if actual != payload:
            problems.append(f"payload {actual!r} (expected {payload!r})")
    problems += checksum_problems(packet)
    if problems:
        raise TestFailure(f"{what}: " + "; ".join(problems) + f"\n  frame: {describe(packet)}")


class TcpFlow:
    """One TCP connection of a client through a VIP. Learns the endpoint and (full NAT) the SNAT
    port from the forwarded SYN and checks every translation on the way."""

    def __init__(self, client_ip, client_port, vip, vip_port, isn, endpoint_isn=7000):
        self.client_ip, self.client_port = client_ip, client_port
        self.vip, self.vip_port = vip, vip_port
        self.client_seq = isn          # next sequence number the client sends
        self.endpoint_isn = endpoint_isn
        self.endpoint_seq = endpoint_isn + 1
        self.isn = isn
        self.endpoint_ip = None
        self.endpoint_port = None
        self.nat_ip = None             # source the endpoint sees
        self.nat_port = None

    # frames the test sends
    def syn(self):
        from scapy.layers.inet import TCP
        return client_frame(self.client_ip, self.vip,
                            TCP(sport=self.client_port, dport=self.vip_port, flags="S", seq=self.isn, window=8192))

    def client_segment(self, flags="PA", payload=b""):
        from scapy.layers.inet import TCP
        frame = client_frame(self.client_ip, self.vip,
                             TCP(sport=self.client_port, dport=self.vip_port, flags=flags, seq=self.client_seq,
                                 ack=self.endpoint_seq, window=8192))
        if payload:
            frame = frame / payload
        return frame

    def endpoint_segment(self, flags="PA", payload=b""):
        from scapy.layers.inet import TCP
        frame = endpoint_frame(self.endpoint_ip, self.nat_ip,
                               TCP(sport=self.endpoint_port, dport=self.nat_port, flags=flags, seq=self.endpoint_seq,
                                   ack=self.client_seq, window=8192))
        if payload:
            frame = frame / payload
        return frame

    def synack(self):
        from scapy.layers.inet import TCP
        return endpoint_frame(self.endpoint_ip, self.nat_ip,
                              TCP(sport=self.endpoint_port, dport=self.nat_port, flags="SA", seq=self.endpoint_isn,
                                  ack=self.isn + 1, window=8192))

    # predicates for what vipgate transmits
    def is_forwarded_syn(self, packet):
        from scapy.layers.inet import TCP
        return TCP in packet and packet[TCP].flags == "S" and packet[TCP].seq == self.isn

    def is_to_endpoint(self, packet):
        from scapy.layers.inet import IP, TCP
        return (TCP in packet and packet[IP].dst == self.endpoint_ip and packet[TCP].dport == self.endpoint_port
                and packet[IP].src == self.nat_ip and packet[TCP].sport == self.nat_port)

    def is_to_client(self, packet):
        from scapy.layers.inet import IP, TCP
        return TCP in packet and packet[IP].dst == self.client_ip and packet[TCP].dport == self.client_port

    def learn(self, packet, nat_mode, endpoints, target_port):
        """From the forwarded SYN: check it and remember endpoint and SNAT port."""
        from scapy.layers.inet import IP, TCP
        ip, tcp = packet[IP], packet[TCP]
        check(ip.dst in endpoints, f"flow {self.client_ip}:{self.client_port}: SYN forwarded to {ip.dst}, "
                                   f"not an endpoint of the service ({sorted(endpoints)})")
        if nat_mode == "fullnat":
            expected_src, expected_sport = SNAT_IP, None
        else:
            expected_src, expected_sport = self.client_ip, self.client_port
        check_frame(packet, what=f"forwarded SYN of {self.client_ip}:{self.client_port}",
                    eth_dst=endpoint_mac(ip.dst), ip_src=expected_src, sport=expected_sport, dport=target_port,
                    ttl=63, flags="S", seq=self.isn)
        self.endpoint_ip, self.endpoint_port = ip.dst, tcp.dport
        self.nat_ip, self.nat_port = ip.src, tcp.sport
        self.client_seq = self.isn + 1
        self.endpoint_seq = self.endpoint_isn + 1
        return self

    def check_to_endpoint(self, packet, what, flags=None, payload=None):
        check_frame(packet, what=f"{what} of {self.client_ip}:{self.client_port}", eth_dst=endpoint_mac(self.endpoint_ip),
                    ip_src=self.nat_ip, ip_dst=self.endpoint_ip, sport=self.nat_port, dport=self.endpoint_port,
                    ttl=63, flags=flags, payload=payload)

    def check_to_client(self, packet, what, flags=None, payload=None):
        check_frame(packet, what=f"{what} to {self.client_ip}:{self.client_port}", eth_dst=ROUTER_MAC,
                    ip_src=self.vip, ip_dst=self.client_ip, sport=self.vip_port, dport=self.client_port,
                    ttl=63, flags=flags, payload=payload)
