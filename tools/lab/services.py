"""The ClusterIP services the lab serves, in vipgate's config shape ([[services]] tables).

The kernel gateways (kernel_gateway.py) translate the same list, so every gateway serves the same
thing. Endpoints are the lab's backends; `endpoints(lab, names, **fields)` builds their entries.
"""
from . import servers

WEB_VIP, ECHO_VIP, SINK_VIP, EMPTY_VIP, OTHER_VIP = (
    "198.18.100.10", "198.18.100.53", "198.18.100.60", "198.18.100.20", "198.18.100.30")


def endpoints(lab, names=None, **fields):
    return [{"address": lab.backends[name], **fields} for name in (names or lab.backends)]


def standard(lab):
    """web (HTTP), echo (UDP request/response), sink (UDP flood), empty (no endpoints), other (an
    unrelated HTTP service on the first two backends)."""
    return [
        {"name": "web", "cluster_ip": WEB_VIP,
         "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": servers.HTTP_PORT}],
         "endpoints": endpoints(lab)},
        {"name": "echo", "cluster_ip": ECHO_VIP,
         "ports": [{"name": "echo", "protocol": "UDP", "port": 53, "target_port": servers.UDP_ECHO_PORT}],
         "endpoints": endpoints(lab)},
        {"name": "sink", "cluster_ip": SINK_VIP,
         "ports": [{"name": "sink", "protocol": "UDP", "port": 9000, "target_port": servers.UDP_SINK_PORT}],
         "endpoints": endpoints(lab)},
        {"name": "empty", "cluster_ip": EMPTY_VIP,
         "ports": [{"name": "http", "protocol": "TCP", "port": 80}, {"name": "dns", "protocol": "UDP", "port": 53}]},
        {"name": "other", "cluster_ip": OTHER_VIP,
         "ports": [{"name": "http", "protocol": "TCP", "port": 80, "target_port": servers.HTTP_PORT}],
         "endpoints": endpoints(lab, list(lab.backends)[:2])},
    ]


def find(services, name):
    return next(s for s in services if s["name"] == name)
