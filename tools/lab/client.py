#!/usr/bin/python3
"""Client programs the lab runs inside a client namespace (`ip netns exec ... client.py CMD`).

  connections HOST PORT N     N HTTP requests, each on a new connection; one line per request
  keepalive HOST PORT N       N requests on one keep-alive connection; one line per request
  udp HOST PORT N             N datagrams, each from a new socket (new source port); one line each
  hold HOST PORT K            opens K keep-alive connections, then per stdin line "probe" makes one
                              request on each and prints a JSON list; "exit" ends
Each result is the server's answer ("b2 198.18.2.1"), or "error:<kind>" (refused, reset, timeout,
closed). Requests time out after 2 s.
"""
import http.client
import json
import socket
import sys

TIMEOUT = 2.0


def error_kind(error):
    if isinstance(error, ConnectionRefusedError):
        return "error:refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "error:reset"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "error:timeout"
    if isinstance(error, (http.client.RemoteDisconnected, http.client.BadStatusLine)):
        return "error:closed"
    return f"error:{type(error).__name__}"


def request(connection):
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.read().decode().strip()
    except (OSError, http.client.HTTPException) as error:
        connection.close()
        return error_kind(error)


def udp_once(host, port, payload=b"hello"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect((host, port))
        s.send(payload)
        return s.recv(2048).decode().strip()
    except OSError as error:
        return error_kind(error)
    finally:
        s.close()


def main():
    command, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if command == "connections":
        for _ in range(count):
            print(request(http.client.HTTPConnection(host, port, timeout=TIMEOUT)), flush=True)
    elif command == "keepalive":
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        for _ in range(count):
            print(request(connection), flush=True)
    elif command == "udp":
        for _ in range(count):
            print(udp_once(host, port), flush=True)
    elif command == "hold":
        connections = [http.client.HTTPConnection(host, port, timeout=TIMEOUT) for _ in range(count)]
        print(json.dumps([request(c) for c in connections]), flush=True)
        for line in sys.stdin:
            if line.strip() == "exit":
                break
            # A closed connection must not silently reconnect: report it as it is.
            print(json.dumps([request(c) if c.sock else "error:closed" for c in connections]), flush=True)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
