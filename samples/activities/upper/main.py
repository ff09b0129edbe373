#!/usr/bin/python3
"""A Trellis activity: upper-cases every string in the messages it gets on port in and sends them on port out.

Protocol (one JSON object per line): stdin {"id", "port", "data"}; stdout {"id", "port": "out", "data"} to send,
{"id", "ack": true} when done with a message or {"id", "error": "..."} to reject it; stderr is logged by the host.
A message {"crash": N} makes it exit with code N (to try the host's restarts); {"garbage": true} makes it write a line
that is not JSON first.
"""
import json
import sys


def upper(value):
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [upper(v) for v in value]
    if isinstance(value, dict):
        return {k: upper(v) for k, v in value.items()}
    return value


def send(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


print("upper: ready", file=sys.stderr, flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    data = msg.get("data")
    if isinstance(data, dict) and "crash" in data:
        print("upper: crashing as asked", file=sys.stderr, flush=True)
        sys.exit(int(data["crash"]))
    if isinstance(data, dict) and data.get("garbage"):
        sys.stdout.write("this is not a protocol line\n")
        sys.stdout.flush()
    if isinstance(data, dict) and "reject" in data:
        send({"id": msg["id"], "error": str(data["reject"])})
        continue
    send({"id": msg["id"], "port": "out", "data": upper(data)})
    send({"id": msg["id"], "ack": True})
