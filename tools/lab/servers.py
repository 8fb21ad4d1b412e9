"""Real servers on every backend host: nginx (HTTP, keep-alive), a socat UDP echo, a UDP sink.

Each answers with the backend's name, so a client sees which backend it reached:
  HTTP  GET /   -> "<name> <remote address>\n" (the remote address shows full-NAT vs DNAT-only)
  UDP   :5353   -> "<name>\n" for every datagram (socat, one child per datagram; the child reads
                   the datagram before answering: a child that exits first makes socat's write
                   of the datagram fail with EPIPE and the answer is never sent)
  UDP   :9000   -> nothing: a socket that never reads, so a flood is counted at the interface
                   and the kernel does not answer it with ICMP port unreachable.
"""
import os
import time

HTTP_PORT, UDP_ECHO_PORT, UDP_SINK_PORT = 8080, 5353, 9000

NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {{
        listen {port} backlog=4096;
        location / {{ default_type text/plain; return 200 "{name} $remote_addr\\n"; }}
    }}
}}
"""

SINK = ("import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.bind(('0.0.0.0', {UDP_SINK_PORT})); time.sleep(1e9)")


def start(lab, workdir, cpu=None):
    """Starts the three servers on every backend; returns when nginx listens everywhere."""
    for name in lab.backends:
        directory = os.path.join(workdir, name)
        os.makedirs(directory, exist_ok=True)
        conf = os.path.join(directory, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=directory, port=HTTP_PORT, name=name))
        lab.ns.spawn(name, ["nginx", "-e", os.path.join(directory, "error.log"), "-p", directory, "-c", conf],
                     log_path=os.path.join(directory, "nginx.out"), cpu=cpu)
        lab.ns.spawn(name, ["socat", f"UDP4-RECVFROM:{UDP_ECHO_PORT},fork,reuseaddr",
                            f"SYSTEM:head -c1 >/dev/null; echo {name}"], cpu=cpu)
        lab.ns.spawn(name, ["/usr/bin/python3", "-c", SINK], cpu=cpu)
    deadline = time.monotonic() + 10
    for name in lab.backends:
        while f":{HTTP_PORT} " not in lab.ns.run(name, "ss", "-Hltn", capture=True):
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx on {name} is not listening on {HTTP_PORT}: see {workdir}/{name}")
            time.sleep(0.05)
