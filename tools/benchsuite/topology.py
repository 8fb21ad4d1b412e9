"""The benchmark topology: CPUs, addresses, scales of the scenarios, the suite's settings and the
vipgate configuration file that describes it all (vipgen reads the same file)."""
import dataclasses
import json
import math
import os

from .formatting import human, round_up

GEN_CPU = 0          # vipgen: main lcore and worker lcore
DUT_CPU = 1          # testpmd / vipgate: main (control) lcore and the forwarding lcore

# Addresses only from 198.18.0.0/15, locally administered MACs.
GATEWAY_MAC = "02:00:00:00:00:01"
GATEWAY_ADDRESS = "198.18.0.1/17"
ROUTER = "198.18.0.254"
CLIENT_NET = "198.19.0.0/16"
VIP_BASE = (198 << 24) | (18 << 16) | (128 << 8)       # 198.18.128.0/17
ENDPOINT_POOL = 2000                                    # 198.18.1.1 .. 198.18.8.250
SERVICE_PORT, TARGET_PORT = 80, 8080


def ipv4(value):
    return ".".join(str((value >> shift) & 255) for shift in (24, 16, 8, 0))


def endpoint_address(index):
    """Endpoint pool address `index` (mod 2000): 198.18.1.1 .. 198.18.8.250."""
    index %= ENDPOINT_POOL
    return f"198.18.{1 + index // 250}.{1 + index % 250}"


def vip_address(service):
    return ipv4(VIP_BASE + 1 + service)


@dataclasses.dataclass
class Scale:
    """One established-flow scenario: VIPs x endpoints, concurrent flows; `table` overrides the
    connection table's capacity (1.25 x the flows by default). Its fields are the JSON's
    settings.scales entries."""
    key: str
    vips: int
    endpoints: int
    flows: int
    table: int = None

    @property
    def capacity(self):
        return self.table or max(1024, int(math.ceil(self.flows * 1.25)))

    @property
    def label(self):
        return f"{human(self.vips)} VIP{'s' if self.vips > 1 else ''} / {human(self.flows)} flows"

    def gen_memory_mb(self):
        return round_up(1024 + self.flows * 256 / 2**20, 256)

    def dut_memory_mb(self, capacity=None):
        capacity = self.capacity if capacity is None else capacity
        # ~86 bytes a conntrack slot, Maglev tables (kept twice across a reload), pools; only what
        # is touched becomes resident under --no-huge, so a generous figure costs nothing.
        need = 768 + capacity * 128 / 2**20 + self.vips * 1601 * 8 * 3 / 2**20
        return round_up(need, 512)


class Settings:
    """Scales, trial lengths and search parameters of a full or a --quick run."""

    def __init__(self, args):
        self.quick = args.quick
        if args.quick:
            self.scales = {"small": Scale("small", 1, 4, 1000), "mid": Scale("mid", 100, 10, 100_000),
                           "large": Scale("large", 1000, 10, 1_000_000)}
            self.trial_s, self.search_trial_s, self.latency_s, self.storm_s = 2, 1, 2, 5
            self.precision = 0.05
        else:
            self.scales = {"small": Scale("small", 1, 4, 1000), "mid": Scale("mid", 1000, 10, 1_000_000),
                           "large": Scale("large", 10_000, 10, 10_000_000)}
            self.trial_s, self.search_trial_s, self.latency_s, self.storm_s = 10, 4, 8, 20
            self.precision = 0.02
        if args.duration:
            self.trial_s = args.duration
        self.skip_large = args.skip_10m
        self.repeats = 1 if args.quick else max(1, args.repeats)
        self.search_repeats = 1 if args.quick else 2
        self.pdr_loss = 0.5
        self.storm_rate_hz = 10.0
        self.warmup_rate = args.warmup_rate      # vipgate runs (each warm-up packet opens a flow)
        # The soak runs only when asked for (--soak-minutes, or --only soak: 30 minutes).
        soak_minutes = getattr(args, "soak_minutes", None)
        self.soak_s = (soak_minutes if soak_minutes else 30) * 60
        self.soak_wanted = bool(soak_minutes)
        self.forwarder_warmup_rate = 5_000_000   # testpmd runs
        self.seed = 1

    def to_json(self):
        return {"trial_s": self.trial_s, "search_trial_s": self.search_trial_s, "repeats": self.repeats,
                "search_repeats": self.search_repeats, "latency_s": self.latency_s, "storm_s": self.storm_s,
                "precision": self.precision, "pdr_loss_percent": self.pdr_loss, "soak_s": self.soak_s,
                "scales": {k: dataclasses.asdict(v) for k, v in self.scales.items()},
                "skip_10m": self.skip_large}

    def load_json(self, document):
        """Takes the values a results file recorded (its "settings"), for --render."""
        for key, value in document.items():
            if key == "scales":
                self.scales = {k: Scale(v["key"], v["vips"], v["endpoints"], v["flows"], v.get("table"))
                               for k, v in value.items()}
            elif key == "skip_10m":
                self.skip_large = value
            elif key == "pdr_loss_percent":
                self.pdr_loss = value
            else:
                setattr(self, key, value)


def toml_str(value):
    return json.dumps(value)


class VipgateConfig:
    """The benchmark topology (see the header of docs/benchmarks.md) as vipgate TOML.

    Service s: cluster_ip 198.18.128.(s+1) (continuing into the /17), TCP 80 -> 8080, endpoints
    pool[(s*E + j) mod 2000] for j < E; so for 1k x 10 each address backs 5 services, like a
    pod backing several services. `extra` adds pool[(s*E + E) mod 2000] to service s (the
    storm's 11th endpoint): the first endpoint of the next service, so its address is known."""

    def __init__(self, scale, prefix, socket_path, capacity=None, memory_mb=None, affinity_timeout_s=None):
        self.scale = scale
        self.affinity_timeout_s = affinity_timeout_s   # the soak: ClientIP session affinity on every service
        self.prefix = prefix
        self.socket_path = socket_path
        self.capacity = scale.capacity if capacity is None else capacity
        self.memory_mb = scale.dut_memory_mb(self.capacity) if memory_mb is None else memory_mb
        self.eal_args = ["--no-huge", "-m", str(self.memory_mb), "--no-pci", "--no-shconf", "--no-telemetry",
                         "--file-prefix", prefix, "--lcores", f"0@{DUT_CPU},1@{DUT_CPU}"]
        self._service_text = [self.service_text(s, False) for s in range(scale.vips)]

    def set_affinity_timeout(self, seconds):
        """The soak's affinity timeout once it knows its budget; returns every service's text."""
        self.affinity_timeout_s = seconds
        self._service_text = [self.service_text(s, False) for s in range(self.scale.vips)]
        return "".join(self._service_text)

    def head_text(self):
        lines = [
            "# generated by tools/bench_suite.py",
            "[eal]",
            "args = [" + ", ".join(toml_str(a) for a in self.eal_args) + "]",
            "",
            "[dataplane]",
            "worker_lcores = [1]",
            'nat_mode = "fullnat"',
            "stats_interval_ms = 500",
            "",
            "[conntrack]",
            f"capacity = {self.capacity}",
            "",
            "[[ports]]",
            'name = "p0"',
            f"device = {toml_str(f'net_memif0,role=server,socket={self.socket_path}')}",
            f"mac = {toml_str(GATEWAY_MAC)}",
            f"addresses = [{toml_str(GATEWAY_ADDRESS)}]",
            "",
            "[[routes]]",
            f"prefix = {toml_str(CLIENT_NET)}",
            f"via = {toml_str(ROUTER)}",
            "",
        ]
        return "\n".join(lines) + "\n"

    def endpoints(self, service, extra):
        count = self.scale.endpoints + (1 if extra else 0)
        return [endpoint_address(service * self.scale.endpoints + j) for j in range(count)]

    def service_text(self, service, extra):
        endpoints = ", ".join("{ address = %s }" % toml_str(a) for a in self.endpoints(service, extra))
        affinity = (f"session_affinity = \"ClientIP\"\nsession_affinity_timeout = {self.affinity_timeout_s}\n"
                    if self.affinity_timeout_s else "")
        return (f"[[services]]\nname = \"svc-{service:05d}\"\ncluster_ip = \"{vip_address(service)}\"\n{affinity}"
                f"ports = [{{ name = \"http\", protocol = \"TCP\", port = {SERVICE_PORT}, "
                f"target_port = {TARGET_PORT} }}]\nendpoints = [{endpoints}]\n\n")

    def text(self, extra_service=None, union=False):
        """The file: every service with its endpoints; `extra_service` (an index) or every
        service (`union`) with the 11th endpoint as well."""
        parts = [self.head_text()]
        if union:
            parts.extend(self.service_text(s, True) for s in range(self.scale.vips))
        else:
            parts.extend(self._service_text)
            if extra_service is not None:
                parts[1 + extra_service] = self.service_text(extra_service, True)
        return "".join(parts)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # a SIGHUP never sees half a file
    return path
