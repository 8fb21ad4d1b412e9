"""Network namespaces, veth pairs and the processes started in them, with guaranteed teardown.

Every namespace is named `vgl<pid>-<role>`: <pid> is the process that owns the lab, so a lab
left behind by a crashed run (its owner gone) is found and removed by `clean_stale()`. Veth
ends are created directly inside their namespaces, so no interface name ever exists in the
root namespace and parallel labs cannot collide.
"""
import os
import re
import signal
import subprocess
import time

PREFIX = "vgl"


def sh(*command, check=True, capture=False, timeout=30):
    result = subprocess.run([str(c) for c in command], check=False, timeout=timeout,
                            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout if capture else result.returncode


def namespaces():
    out = sh("ip", "netns", "list", capture=True)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def delete_namespace(name):
    """Kills what still runs in the namespace (only lab namespaces are ever passed), deletes it."""
    pids = sh("ip", "netns", "pids", name, check=False, capture=True) or ""
    for pid in pids.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    sh("ip", "netns", "delete", name, check=False)


def terminate(process, grace=20.0, name="process"):
    """SIGTERM, then SIGKILL after `grace` seconds. Never raises: a process that outlives SIGKILL
    for 30 s (seen under CPU starvation) is reported and left to the namespace's deletion, so
    the caller's clean-up goes on."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
        return
    except subprocess.TimeoutExpired:
        process.kill()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {process.pid}) survived SIGKILL for 30 s", flush=True)


def clean_stale():
    """Removes lab namespaces whose owner process is gone; returns their names."""
    removed = []
    for name in namespaces():
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+", name)
        if match and not _alive(int(match.group(1))):
            delete_namespace(name)
            removed.append(name)
    return removed


class Namespaces:
    """Owns the namespaces and processes of one lab; `close()` releases all of it."""

    def __init__(self, tag=""):
        self.base = f"{PREFIX}{os.getpid()}{tag}"
        self.created = []
        self.processes = []

    def name(self, role):
        return f"{self.base}-{role}"

    def add(self, role):
        name = self.name(role)
        delete_namespace(name)
        sh("ip", "netns", "add", name)
        self.created.append(name)
        self.run(role, "ip", "link", "set", "lo", "up")
        return name

    def run(self, role, *command, **kwargs):
        return sh("ip", "netns", "exec", self.name(role), *command, **kwargs)

    def veth(self, role_a, name_a, role_b, name_b):
        """A veth pair with one queue each way (AF_XDP binds queue 0: every frame must land there)."""
        sh("ip", "link", "add", name_a, "numtxqueues", 1, "numrxqueues", 1, "netns", self.name(role_a),
           "type", "veth", "peer", "name", name_b, "numtxqueues", 1, "numrxqueues", 1,
           "netns", self.name(role_b))

    def spawn(self, role, command, log_path=None, cpu=None, stdin=subprocess.DEVNULL, stdout=None):
        """Starts `command` in the namespace (ip netns exec execs it: the pid is the program's).
        Output goes to `log_path`, else to `stdout` (e.g. a pipe), else nowhere."""
        prefix = ["ip", "netns", "exec", self.name(role)]
        if cpu is not None:
            prefix += ["taskset", "-c", str(cpu)]
        out = open(log_path, "wb") if log_path else stdout or subprocess.DEVNULL
        process = subprocess.Popen(prefix + [str(c) for c in command], stdout=out,
                                   stderr=subprocess.STDOUT if log_path else None, stdin=stdin,
                                   start_new_session=True)
        if log_path:
            out.close()
        self.processes.append(process)
        return process

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for process in self.processes:
            terminate(process, grace=max(0.1, deadline - time.monotonic()), name=" ".join(process.args[4:6]))
        self.processes.clear()
        for name in reversed(self.created):
            delete_namespace(name)
        self.created.clear()
