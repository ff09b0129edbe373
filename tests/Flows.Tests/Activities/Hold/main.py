#!/usr/bin/python3
"""A test activity: holds every message it gets until its stdin closes (the host stopping it), then answers each one
(the data upper-cased on port out, then an ack), except messages {"keep": true}, which it never answers: it then
sleeps so the host has to kill it."""
import json
import sys
import time

held = []
for line in sys.stdin:
    held.append(json.loads(line))
    print(f"hold: holding {len(held)}", file=sys.stderr, flush=True)

print(f"hold: input closed, answering {len(held)}", file=sys.stderr, flush=True)
keep = False
for msg in held:
    data = msg.get("data")
    if isinstance(data, dict) and data.get("keep"):
        keep = True
        continue
    out = data.upper() if isinstance(data, str) else data
    sys.stdout.write(json.dumps({"id": msg["id"], "port": "out", "data": out}) + "\n")
    sys.stdout.write(json.dumps({"id": msg["id"], "ack": True}) + "\n")
    sys.stdout.flush()

if keep:
    time.sleep(600)
