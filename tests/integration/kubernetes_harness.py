"""The test API server (tests/support/fake_apiserver.py) with its certificates and a kubeconfig.

`FakeCluster(directory)` makes a CA, a server certificate for 127.0.0.1 and a client
certificate with openssl, starts the server, and writes a kubeconfig (CA inline as
certificate-authority-data, the client certificate and key as files: both forms a kubeconfig
may use). Its methods drive the cluster through the server's control endpoint. The objects
below are the Kubernetes documentation's, unmodified except for their addresses (198.18.x.x).
"""
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "support", "fake_apiserver.py")

# https://kubernetes.io/docs/concepts/services-networking/service/#defining-a-service
MY_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "my-service"},
    "spec": {
        "selector": {"app.kubernetes.io/name": "MyApp"},
        "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
    },
}

# https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/ (the example slice),
# named and labelled for my-service as the EndpointSlice controller does, port unnamed like the
# Service's, address in 198.18.0.0/15.
def my_service_slice(addresses, name="my-service-abc"):
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "my-service"}},
        "addressType": "IPv4",
        "ports": [{"name": "", "protocol": "TCP", "port": 9376}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}, "hostname": "pod-%d" % i,
                       "nodeName": "node-1", "zone": "us-west2-a"} for i, address in enumerate(addresses, 1)],
    }


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def make_certificates(directory):
    def key_and_csr(name, subject):
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", os.path.join(directory, name + "-key.pem"), "-out", os.path.join(directory, name + ".csr"),
            "-subj", subject)

    def sign(name, extensions):
        ext = os.path.join(directory, name + ".ext")
        with open(ext, "w") as out:
            out.write(extensions + "\n")
        run("openssl", "x509", "-req", "-in", os.path.join(directory, name + ".csr"),
            "-CA", os.path.join(directory, "ca.pem"), "-CAkey", os.path.join(directory, "ca-key.pem"),
            "-CAcreateserial", "-days", "2", "-out", os.path.join(directory, name + ".pem"), "-extfile", ext)

    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", os.path.join(directory, "ca-key.pem"), "-out", os.path.join(directory, "ca.pem"),
        "-days", "2", "-subj", "/CN=vipgate-test-ca")
    key_and_csr("server", "/CN=127.0.0.1")
    sign("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    key_and_csr("client", "/O=system:masters/CN=vipgate")
    sign("client", "extendedKeyUsage=clientAuth")


class FakeCluster:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        make_certificates(directory)
        self.process = None
        self.api_port = 0
        self.control_port = 0
        self.start()
        self.kubeconfig = os.path.join(directory, "kubeconfig")
        with open(os.path.join(directory, "ca.pem"), "rb") as ca:
            ca_data = base64.b64encode(ca.read()).decode()
        with open(self.kubeconfig, "w") as out:
            out.write("""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority-data: %s
users:
- name: vipgate
  user:
    client-certificate: client.pem
    client-key: client-key.pem
contexts:
- name: other
  context: {cluster: nowhere, user: vipgate}
- name: fake
  context: {cluster: fake, user: vipgate, namespace: default}
current-context: fake
""" % (self.api_port, ca_data))

    def start(self):
        """(Re)starts the server on the same ports (empty cluster when restarted)."""
        args = [sys.executable, SERVER, "--cert-dir", self.directory]
        if self.api_port:
            args += ["--port", str(self.api_port), "--control-port", str(self.control_port)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError("fake API server did not start: " + self.process.stderr.read())
        self.api_port, self.control_port = int(line[1]), int(line[2])

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def control(self, path, body=None):
        """GET /state; POST anything else (with `body`, default {})."""
        data = None if path == "/state" else json.dumps(body or {}).encode()
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control_port, path), data=data,
                                         method="GET" if data is None else "POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def apply(self, resource, obj):
        return self.control("/apply", {"resource": resource, "object": obj})

    def delete(self, resource, name, namespace="default"):
        return self.control("/delete", {"resource": resource, "name": name, "namespace": namespace})

    def state(self):
        return self.control("/state")

    def wait_watches(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state()["watches"] >= count:
                return True
            time.sleep(0.05)
        return False
