"""The API storm: single-object changes through vipgate's control socket, the way an operator or
a controller changes a cluster (one object at a time), at a fixed rate while established traffic
runs. The SIGHUP storm (storm.py) reloads a whole file instead.

The changes rotate through six kinds, each undone by the next, so the state after every sixth
change is the one the traffic started with: an 11th endpoint added to service s and removed
again, an endpoint of s drained and undrained, a service created and deleted. None of them may
disturb an established flow: the added endpoint and the new service get no traffic (vipgen opens
its flows before the storm), and a drained endpoint keeps its connections.

Each change is one request on a connection of its own (the API's transport); its answer comes
once the change is published and in use by every worker, so the request-to-answer time is the
change's latency as an operator sees it, and the answer's own timing splits it."""
import json
import socket
import threading
import time

from .results import ApiStormSummary, Distribution
from .topology import endpoint_address

ACTIONS = ("add endpoint", "remove endpoint", "drain", "undrain", "create service", "delete service")
# The soak's changes: none of them may reset a connection, and its lifecycle traffic opens new
# connections all the time (an added endpoint would get some, and its removal reset them).
SOAK_ACTIONS = ("drain", "undrain", "create service", "delete service")
RATES_HZ = (10, 100, 1000)
GOAL_RATE_HZ = 100         # the goal: 0 drops, 0 misdirected, 0 moved at this rate
# Created services' ClusterIPs: 198.18.240.1-198.18.255.250, in the VIP /17 but above every VIP the
# suite sends traffic to (10k services end at 198.18.167.x); reused only after 4,000 creations.
NEW_SERVICE_BASE, NEW_SERVICE_COUNT = 240, 16 * 250
ANSWER_TIMEOUT_S = 30


def api_request(path, request, timeout=ANSWER_TIMEOUT_S):
    """One request on a connection of its own; the daemon's answer as a dict."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        # A blocking connect, as vipctl's: with a timeout Python connects non-blocking, and a Unix
        # socket refuses that with EAGAIN whenever the daemon's backlog is full for a moment.
        connection.connect(path)
        connection.settimeout(timeout)
        connection.sendall(json.dumps(request).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return json.loads(answer)


class ChangePlan:
    """The changes of one lane of a storm over `config` (a topology.VipgateConfig): lane `lane` of
    `lanes` works on its own services (s = lane, lane + lanes, ...) and its own new-service names,
    so lanes running at once never touch the same object (a drained address may back services of
    several lanes: drain and undrain are idempotent, so the state still ends as it started)."""

    def __init__(self, config, lane=0, lanes=1, actions=ACTIONS):
        self.config, self.lane, self.lanes, self.actions = config, lane, lanes, actions

    def change(self, k):
        """The lane's k-th change: (action, request)."""
        cycle, step = divmod(k, len(self.actions))
        per_lane = max(1, self.config.scale.vips // self.lanes)
        service = self.lane + self.lanes * (cycle % per_lane)
        action = self.actions[step]
        if action in ("add endpoint", "remove endpoint"):
            text = self.config.service_text(service, extra=action == "add endpoint")
            return action, {"op": "apply", "documents": [{"source": f"storm-{self.lane}-{k}.toml", "text": text}]}
        if action in ("drain", "undrain"):
            address = self.config.endpoints(service, False)[0]
            return action, {"op": action, "address": address}
        name = f"storm-new-{self.lane:02d}-{cycle:06d}"
        if action == "create service":
            number = (cycle * self.lanes + self.lane) % NEW_SERVICE_COUNT
            endpoints = ", ".join('{ address = "%s" }' % endpoint_address(cycle + j) for j in range(2))
            text = (f"[[services]]\nname = \"{name}\"\n"
                    f"cluster_ip = \"198.18.{NEW_SERVICE_BASE + number // 250}.{number % 250 + 1}\"\n"
                    "ports = [{ name = \"http\", protocol = \"TCP\", port = 80, target_port = 8080 }]\n"
                    f"endpoints = [{endpoints}]\n")
            return action, {"op": "apply", "documents": [{"source": f"storm-{self.lane}-{k}.toml", "text": text}]}
        return action, {"op": "delete", "kind": "service", "namespace": "default", "name": name}


def lanes_for(rate_hz):
    """Concurrent senders: a change is answered only once every worker uses it (milliseconds,
    tens of them when the workers share their CPU), so one sender waiting for each answer
    cannot send 1,000 a second; a controller would not wait either. Up to 100/s: 1 (answers
    take a few ms); 1,000/s: 48 (the API serves 64 connections at once)."""
    return 1 if rate_hz <= 100 else int(min(48, rate_hz // 20))


def summarize(rate_hz, outcomes, seconds):
    """`outcomes`: (action, answer dict or None, seconds to the answer, error text or None)."""
    summary = ApiStormSummary(rate_hz=rate_hz, sent=len(outcomes), seconds=seconds)
    answers, timings = [], {"validate": [], "build": [], "publish": []}
    for action, answer, elapsed, error in outcomes:
        summary.by_action[action] = summary.by_action.get(action, 0) + 1
        if error is not None or not (answer or {}).get("ok"):
            summary.failed += 1
            if len(summary.errors) < ApiStormSummary.KEPT_ERRORS:
                summary.errors.append(f"{action}: {error or (answer or {}).get('error')}")
            continue
        answers.append(elapsed * 1000)
        timing = answer.get("timing_us") or {}
        for key in timings:
            if key in timing:
                timings[key].append(timing[key] / 1000)
    summary.answer_ms = Distribution.of(answers)
    summary.validate_ms = Distribution.of(timings["validate"])
    summary.build_ms = Distribution.of(timings["build"])
    summary.publish_ms = Distribution.of(timings["publish"])
    return summary


def run_api_storm(socket_path, config, rate_hz, seconds, keep_going=lambda: True, request=api_request,
                  actions=ACTIONS):
    """Sends changes at `rate_hz` for `seconds` (whole cycles of every lane, so the state ends as
    it started): change k at start + k / rate_hz, by lane k mod lanes, each lane one change at a
    time (a late change is sent as soon as its lane is free, never skipped)."""
    lanes = lanes_for(rate_hz)
    per_lane = max(1, int(rate_hz * seconds) // (len(actions) * lanes)) * len(actions)
    outcomes = []   # list.append is atomic: the lanes share it
    started = time.monotonic()

    def lane(index):
        plan = ChangePlan(config, index, lanes, actions)
        for j in range(per_lane):
            if not keep_going():
                return
            delay = started + (j * lanes + index) / rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            action, body = plan.change(j)
            sent = time.monotonic()
            try:
                answer, error = request(socket_path, body), None
            except (OSError, ValueError) as failure:
                answer, error = None, f"{type(failure).__name__}: {failure}"
            outcomes.append((action, answer, time.monotonic() - sent, error))

    threads = [threading.Thread(target=lane, args=(index,), daemon=True) for index in range(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarize(rate_hz, outcomes, time.monotonic() - started)
