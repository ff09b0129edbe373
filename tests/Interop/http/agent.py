#!/usr/bin/env python3
"""An app agent implemented by an HTTP node (the RemoteAgent protocol, src/Core/Apps/RemoteAgent.cs): a counter.

Usage: agent.py --name NAME [--port PORT]   (the first line printed says the port)

Register it through the proxy API with the service {"topic": "trellis.agents.<agent>", "group": "_default",
"path": "/agent"}. The cluster keeps the state, the subscriptions and the acks; this node only computes steps:
  describe           {"version": "1"}
  init               state {"count": init.count or 0}
  poke add {by}      count += by, fact /count {"count"}; other marks → 400 (a nack)
  poke hold {seconds} answers only after that many seconds, unchanged (for tests that kill the node mid-step)
  watch /count       give {"count"}; other paths → 400
  peek /count        {"count"}
  leave, load, sign  no change
Health: GET of any path answers 200. Every step is reported as {"event": "step", "step": EVENT, "mark"} on stdout.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_print_lock = threading.Lock()
NAME = "agent"


def emit(event, **fields):
    fields["event"] = event
    fields["node"] = NAME
    with _print_lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def step(e):
    kind = e.get("event")
    state = e.get("state") or {"count": 0}
    count = state.get("count", 0) if isinstance(state, dict) else 0
    if kind == "describe":
        return 200, {"version": "1"}
    if kind == "init":
        init = e.get("data")
        start = init.get("count", 0) if isinstance(init, dict) else 0
        return 200, {"state": {"count": start}}
    if kind == "poke":
        data = e.get("data")
        if e.get("mark") == "hold" and isinstance(data, dict) and isinstance(data.get("seconds"), (int, float)):
            time.sleep(data["seconds"])
            return 200, {}
        if e.get("mark") != "add" or not isinstance(data, dict) or not isinstance(data.get("by"), int):
            return 400, "the remote counter takes add {\"by\": <integer>}"
        count += data["by"]
        return 200, {"state": {"count": count}, "effects": [{"fact": {"path": "/count", "data": {"count": count}}}]}
    if kind == "watch":
        if e.get("path") != "/count":
            return 400, "the remote counter publishes /count, not " + str(e.get("path"))
        return 200, {"effects": [{"give": {"data": {"count": count}}}]}
    if kind == "peek":
        return 200, {"peek": {"count": count}} if e.get("path") == "/count" else {}
    return 200, {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        self._reply(200, {"status": "ok", "node": NAME})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            envelope = json.loads(raw) if raw else {}
        except ValueError:
            envelope = {}
        e = envelope.get("data") if isinstance(envelope, dict) else None
        e = e if isinstance(e, dict) else {}
        emit("step", step=e.get("event"), mark=e.get("mark"))
        code, body = step(e)
        self._reply(code, body)


def main():
    global NAME
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="agent")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    NAME = args.name
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    emit("listening", port=server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
