#!/usr/bin/env python3
"""A Trellis HTTP node for tests: serves handler paths for the gateway and reports what happens as JSON lines on stdout.

Usage: node.py --name NAME [--port PORT]   (port 0, the default, picks a free one; the first line printed says which)

Handlers (POST, body {topic, sender, data, timeout} from the gateway):
  /echo            200 {"node", "topic", "sender", "data", "timeout"}
  /tag/KEY         200: the data object with KEY set to the node's name (for pipes)
  /fail            500 {"error": "..."}
  /status/CODE     CODE {"status": CODE}
  /text            200 text/plain (not JSON)
  /slow            waits until the gateway closes the connection, reports "closed", then tries to answer late
  anything else    200 {}
Health: GET of any other path answers by the health mode: ok → 200, fail → 500, hang → waits for the caller to go away.
Control: POST /_control/health?mode=ok|fail|hang
         POST /_control/send {"url", "body", "headers"?}: the node itself POSTs body (JSON) to url as a traced caller would,
              with a traceparent header of a new trace and span of its own, and answers
              {"traceparent", "status", "body"} (the answer's body parsed as JSON when it is)
         POST /_control/mark?id=ID: reports {"event": "mark", "id"} and answers; reports are written in order, so a
              caller that has read the mark has read every call the node answered before it
Every request is reported as {"event": "call", "method", "path", "body", "traceparent"} before it is answered
(traceparent: the W3C header the caller sent, or null).
"""
import argparse
import json
import os
import select
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

_print_lock = threading.Lock()
_state = {"health": "ok"}
NAME = "node"


def emit(event, **fields):
    fields["event"] = event
    fields["node"] = NAME
    line = json.dumps(fields)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def wait_for_close(sock, limit=60.0):
    """Blocks until the peer closes the connection (or limit seconds pass); True when it closed."""
    readable, _, _ = select.select([sock], [], [], limit)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _reply(self, code, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def do_GET(self):
        path = urlsplit(self.path).path
        emit("call", method="GET", path=path, body=None, traceparent=self.headers.get("traceparent"))
        mode = _state["health"]
        if mode == "ok":
            self._reply(200, {"status": "ok", "node": NAME})
        elif mode == "hang":
            wait_for_close(self.connection)
            self.close_connection = True
        else:
            self._reply(500, {"status": "failing", "node": NAME})

    def do_POST(self):
        parts = urlsplit(self.path)
        path = parts.path
        body = self._body()
        if path == "/_control/health":
            mode = parse_qs(parts.query).get("mode", ["ok"])[0]
            _state["health"] = mode
            emit("health-mode", mode=mode)
            self._reply(200, {"health": mode})
            return

        if path == "/_control/mark":
            # Reports come out in order: once this one is read, so is every call answered before it.
            mark = parse_qs(parts.query).get("id", [""])[0]
            emit("mark", id=mark)
            self._reply(200, {"mark": mark})
            return

        if path == "/_control/send":
            self._reply(200, send_traced(body if isinstance(body, dict) else {}))
            return

        emit("call", method="POST", path=path, body=body, traceparent=self.headers.get("traceparent"))
        envelope = body if isinstance(body, dict) else {}
        data = envelope.get("data")
        if path == "/echo":
            self._reply(200, {"node": NAME, "topic": envelope.get("topic"), "sender": envelope.get("sender"),
                              "data": data, "timeout": envelope.get("timeout")})
        elif path.startswith("/tag/"):
            tagged = dict(data) if isinstance(data, dict) else {"input": data}
            tagged[path[len("/tag/"):]] = NAME
            self._reply(200, tagged)
        elif path == "/fail":
            self._reply(500, {"error": "boom from " + NAME})
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            self._reply(code, {"status": code})
        elif path == "/text":
            self._reply(200, ("plain text from " + NAME).encode("utf-8"), "text/plain")
        elif path == "/slow":
            closed = wait_for_close(self.connection)
            emit("closed" if closed else "not-closed", path=path, sender=envelope.get("sender"))
            try:
                self._reply(200, {"late": True})
                self._reply(200, {"late": True})
                emit("late-write-succeeded", path=path)
            except OSError as e:
                emit("late-write-failed", path=path, error=type(e).__name__)
            self.close_connection = True
        else:
            self._reply(200, {})


def send_traced(order):
    """POSTs order["body"] to order["url"] under a new W3C trace context of this node's own."""
    traceparent = "00-%s-%s-01" % (os.urandom(16).hex(), os.urandom(8).hex())
    headers = {"Content-Type": "application/json", "traceparent": traceparent}
    headers.update(order.get("headers") or {})
    request = Request(order["url"], data=json.dumps(order.get("body")).encode("utf-8"), headers=headers, method="POST")
    try:
        with urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except HTTPError as e:
        status, raw = e.code, e.read()
    except OSError as e:
        emit("send-failed", url=order["url"], traceparent=traceparent, error=repr(e))
        return {"traceparent": traceparent, "status": 0, "body": None, "error": repr(e)}
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = raw.decode("utf-8", "replace")
    emit("sent", url=order["url"], traceparent=traceparent, status=status)
    return {"traceparent": traceparent, "status": status, "body": answer}


def main():
    global NAME
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="node")
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
