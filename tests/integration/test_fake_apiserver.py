"""The test API server against the real client: kubectl gets, lists and watches from it.

If kubectl can `get services`, `get endpointslices` and `get --watch` the documentation's
objects through a kubeconfig with a client certificate, the server speaks the protocol the
Kubernetes source of vipgate is tested against. A client without a certificate is refused.
Run: python3 test_fake_apiserver.py (exit 77: no kubectl or openssl).
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubernetes_harness import MY_SERVICE, FakeCluster, my_service_slice  # noqa: E402

SKIP = 77


def check(condition, message):
    if not condition:
        print("FAIL: " + message)
        sys.exit(1)


def kubectl(cluster, *args, config=None):
    return subprocess.run(["kubectl", "--kubeconfig", config or cluster.kubeconfig, "--request-timeout", "10s", *args],
                          capture_output=True, text=True, timeout=60)


def main():
    for tool in ("kubectl", "openssl"):
        if shutil.which(tool) is None:
            print("SKIP: %s is not installed (tools/setup.sh installs it)" % tool)
            return SKIP
    directory = tempfile.mkdtemp(prefix="vipgate-fake-apiserver-")
    cluster = None
    watcher = None
    try:
        cluster = FakeCluster(directory)
        cluster.apply("services", MY_SERVICE)
        cluster.apply("endpointslices", my_service_slice(["198.18.10.1", "198.18.10.2"]))

        services = kubectl(cluster, "get", "services", "-o", "json")
        check(services.returncode == 0, "kubectl get services failed: " + services.stderr)
        items = json.loads(services.stdout)["items"]
        check([item["metadata"]["name"] for item in items] == ["my-service"], "services: " + services.stdout)
        check(items[0]["spec"]["clusterIP"].startswith("198.18."), "no ClusterIP assigned: %s" % items[0]["spec"])
        print("kubectl get services: my-service, ClusterIP %s" % items[0]["spec"]["clusterIP"])

        table = kubectl(cluster, "get", "endpointslices")
        check(table.returncode == 0 and "my-service-abc" in table.stdout, "kubectl get endpointslices: %s %s" %
              (table.stdout, table.stderr))
        slices = json.loads(kubectl(cluster, "get", "endpointslices", "-o", "json").stdout)["items"]
        check(slices[0]["endpoints"][1]["addresses"] == ["198.18.10.2"], "slice: %s" % slices)
        print("kubectl get endpointslices:\n" + table.stdout.rstrip())

        selected = kubectl(cluster, "get", "services", "-l", "app=none", "-o", "name")
        check(selected.returncode == 0 and selected.stdout.strip() == "", "label selector ignored: " + selected.stdout)

        watcher = subprocess.Popen(["kubectl", "--kubeconfig", cluster.kubeconfig, "get", "services", "--watch",
                                    "-o", "name"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line.strip()) for line in watcher.stdout], daemon=True).start()

        def expect_line(text, timeout=15.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    if lines.get(timeout=0.2) == text:
                        return
                except queue.Empty:
                    pass
            check(False, "kubectl get --watch never printed %r (stderr: %s)" % (text, watcher.stderr.read1()
                                                                               if watcher.poll() is not None else ""))

        expect_line("service/my-service")
        check(cluster.wait_watches(1), "kubectl did not watch")
        second = dict(MY_SERVICE, metadata={"name": "second"})
        cluster.apply("services", second)
        expect_line("service/second")
        cluster.delete("services", "second")
        expect_line("service/second")  # the DELETED event is printed too
        requests = [r for r in cluster.state()["requests"] if "watch" in r]
        check(any("resourceVersion=" in r for r in requests), "kubectl did not watch from a version: %s" % requests)
        print("kubectl get --watch: saw service/second added and deleted (%s)" % requests[-1])

        anonymous = os.path.join(directory, "anonymous")
        with open(cluster.kubeconfig) as original, open(anonymous, "w") as out:
            out.write(original.read().replace("client-certificate: client.pem\n", "")
                      .replace("client-key: client-key.pem\n", "token: nothing\n"))
        refused = kubectl(cluster, "get", "services", config=anonymous)
        check(refused.returncode != 0, "a client without a certificate was served")
        print("PASS: kubectl gets, lists and watches; a client without a certificate is refused")
        return 0
    finally:
        if watcher is not None:
            watcher.kill()
            watcher.wait()
        if cluster is not None:
            cluster.kill()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
