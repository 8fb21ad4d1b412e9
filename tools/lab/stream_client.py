#!/usr/bin/python3
"""Failover clients of the ECMP lab (tests/realhost/test_bgp_ecmp.py), run in a client namespace.

  streams HOST PORT K INTERVAL_MS   K keep-alive HTTP connections, each making a request every
                                    INTERVAL_MS in its own thread
  probe HOST PORT INTERVAL_MS       a new connection (one request) every INTERVAL_MS, each in a
                                    thread of its own (a slow one does not hold the next back)
  downloads HOST PORT K             K connections to a streaming server (tools/lab/ecmp.py), each
                                    only reading: the server's name, then 1 KB every 10 ms
Both print {"started": time, "ports": [client ports]} once running, then run until a line (or
EOF) arrives on stdin, then print one JSON list and exit.

streams: per connection, the requests made, the backends that answered, the first error and
the longest request. A connection is broken when a request fails (reset, closed, no answer in
TIMEOUT s) or another backend answers (its flow moved endpoint): a broken connection is never
reopened. downloads: per connection the server's name, the bytes read, the longest wait for
data and the error that ended it (a reset, the end of the stream, or TIMEOUT s of silence).
probe: per attempt its start (time.monotonic(), the same clock as the test's) and its
latency in ms, or an error, so the test can tell when new connections work again.
"""
import http.client
import json
import socket
import sys
import threading
import time

TIMEOUT = 10.0  # a failover costs a few TCP retransmissions (200 ms, 400 ms, 800 ms, ...)
PROBE_TIMEOUT = 3.0


def error_kind(error):
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(error, (http.client.RemoteDisconnected, http.client.BadStatusLine)):
        return "closed"
    return type(error).__name__


def get(connection):
    connection.request("GET", "/")
    response = connection.getresponse()
    return response.read().decode().split()[0]


def stream(connection, interval, stop, result):
    while not stop.is_set():
        started = time.monotonic()
        try:
            backend = get(connection)
        except (OSError, http.client.HTTPException) as error:
            result["error"] = error_kind(error)
            result["error_at"] = started
            connection.close()
            return
        took = time.monotonic() - started
        result["requests"] += 1
        result["max_ms"] = max(result["max_ms"], took * 1000)
        if result["backends"] and backend != result["backends"][-1]:
            result["error"] = f"moved from {result['backends'][-1]} to {backend}"
            result["error_at"] = started
        if backend not in result["backends"]:
            result["backends"].append(backend)
        if "error" in result:
            return
        stop.wait(max(0.0, interval - took))
    connection.close()


def download(connection, stop, result):
    buffer = b""
    last = time.monotonic()
    while not stop.is_set():
        try:
            data = connection.recv(65536)
        except OSError as error:
            result["error"] = error_kind(error)
            break
        now = time.monotonic()
        if not data:
            result["error"] = "closed"
            break
        result["max_gap_ms"] = max(result["max_gap_ms"], (now - last) * 1000)
        last = now
        result["bytes"] += len(data)
        if not result["backend"]:
            buffer += data
            if b"\n" in buffer:
                result["backend"] = buffer.split(b"\n")[0].decode()
    connection.close()


def attempt(host, port, attempts):
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT)
    try:
        get(connection)
        attempts.append([started, (time.monotonic() - started) * 1000, None])
    except (OSError, http.client.HTTPException) as error:
        attempts.append([started, None, error_kind(error)])
    finally:
        connection.close()


def probe(host, port, interval, stop, attempts):
    threads = []
    while not stop.is_set():
        thread = threading.Thread(target=attempt, args=(host, port, attempts))
        thread.start()
        threads.append(thread)
        stop.wait(interval)
    for thread in threads:
        thread.join()
    attempts.sort()


def main():
    command, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stop = threading.Event()
    if command == "streams":
        count, interval = int(sys.argv[4]), int(sys.argv[5]) / 1000
        connections = [http.client.HTTPConnection(host, port, timeout=TIMEOUT) for _ in range(count)]
        for connection in connections:
            connection.connect()
        ports = [connection.sock.getsockname()[1] for connection in connections]
        results = [{"requests": 0, "backends": [], "max_ms": 0.0, "port": port} for port in ports]
        threads = [threading.Thread(target=stream, args=(c, interval, stop, r)) for c, r in zip(connections, results)]
    elif command == "downloads":
        count = int(sys.argv[4])
        connections = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(count)]
        ports = [connection.getsockname()[1] for connection in connections]
        results = [{"bytes": 0, "backend": "", "max_gap_ms": 0.0, "port": port} for port in ports]
        threads = [threading.Thread(target=download, args=(c, stop, r)) for c, r in zip(connections, results)]
    elif command == "probe":
        interval = int(sys.argv[4]) / 1000
        results, ports = [], []
        threads = [threading.Thread(target=probe, args=(host, port, interval, stop, results))]
    else:
        sys.exit(f"unknown command {command}")
    for thread in threads:
        thread.start()
    print(json.dumps({"started": time.monotonic(), "ports": ports}), flush=True)
    sys.stdin.readline()
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
