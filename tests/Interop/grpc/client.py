#!/usr/bin/env python3
"""A real grpcio peer of the Trellis gRPC API (trellis.v1.Nodes and trellis.v1.Messaging).

Usage: client.py --address 127.0.0.1:PORT --descriptors FILE
FILE is a serialized FileDescriptorSet of protos/trellis/v1/*.proto and their imports (the test writes it from the
descriptors compiled into Trellis.Contracts), so the messages here are built at run time from the repo's protos.

It becomes a node on a Connect stream, calls the unary methods as that node and prints one JSON line per check:
  {"check": NAME, "ok": true|false, ...}   and finally {"done": true}
"""
import argparse
import json
import queue
import sys
import threading

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf import struct_pb2  # noqa: F401  (puts google/protobuf/struct.proto into the default pool)


def load_messages(path):
    with open(path, "rb") as f:
        files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.Default()
    for file in files.file:
        try:
            pool.FindFileByName(file.name)
        except KeyError:
            pool.Add(file)
    factory = message_factory.MessageFactory(pool)
    return lambda name: factory.GetPrototype(pool.FindMessageTypeByName("trellis.v1." + name))


def emit(check, ok, **fields):
    fields.update(check=check, ok=bool(ok))
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--descriptors", required=True)
    args = parser.parse_args()
    M = load_messages(args.descriptors)

    channel = grpc.insecure_channel(args.address)

    def unary(service, method, response):
        return channel.unary_unary(
            "/trellis.v1.%s/%s" % (service, method),
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=M(response).FromString,
        )

    connect = channel.stream_stream(
        "/trellis.v1.Nodes/Connect",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=M("GatewayMessage").FromString,
    )

    # --- streaming: become a node on a Connect stream
    outgoing = queue.Queue()
    register = M("NodeMessage")()
    register.register.services.add(topic="py.echo", group="py")
    register.register.services.add(topic="py.slow", group="py", timeout=30)
    register.register.slots.add(topic="py.events.*")
    outgoing.put(register)

    def requests():
        while True:
            item = outgoing.get()
            if item is None:
                return
            yield item

    stream = connect(requests())
    first = next(stream)
    node_id, token = first.connected.id, first.connected.token
    emit("connect", first.WhichOneof("kind") == "connected" and len(node_id) == 32 and first.connected.status == "ok",
         id=node_id, status=first.connected.status)
    signals = queue.Queue()

    def serve():
        try:
            for message in stream:
                kind = message.WhichOneof("kind")
                if kind == "signal":
                    signals.put(json_format.MessageToDict(message.signal))
                elif kind == "request" and message.request.topic == "py.echo":
                    reply = M("NodeMessage")()
                    reply.reply.correlation_id = message.request.correlation_id
                    reply.reply.code = 200
                    reply.reply.data.struct_value.update({"from": "python", "topic": message.request.topic})
                    reply.reply.data.struct_value["data"] = json_format.MessageToDict(message.request.data)
                    outgoing.put(reply)
                # py.slow: never answered, so the requester's deadline passes.
        except grpc.RpcError:
            pass

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    auth = (("authorization", "Bearer " + token),)

    # --- unary, answered by this very node through its stream
    request = M("PublishRequest")(id=node_id, topic="py.echo")
    request.message.struct_value.update({"n": 42})
    response = unary("Messaging", "Request", "PublishResponse")(request, metadata=auth, timeout=10)
    data = json_format.MessageToDict(response.messages[0].data)
    emit("unary", response.code == 200 and data.get("from") == "python" and data.get("data") == {"n": 42}, reply=data)

    node = unary("Nodes", "GetNode", "Node")(M("NodeRef")(id=node_id), metadata=auth, timeout=10)
    emit("get_node", node.stream and node.status == "ok" and [s.topic for s in node.slots] == ["py.events.*"], status=node.status)

    signal = M("SignalRequest")(id=node_id, topic="py.events.one")
    signal.message.string_value = "hello"
    unary("Messaging", "Signal", "SignalResponse")(signal, metadata=auth, timeout=10)
    try:
        got = signals.get(timeout=10)
        emit("signal", got.get("topic") == "py.events.one" and got.get("data") == "hello", signal=got)
    except queue.Empty:
        emit("signal", False, error="no signal arrived on the stream")

    # --- an error status with its message
    try:
        unary("Messaging", "Request", "PublishResponse")(M("PublishRequest")(id=node_id, topic="py.nobody"), metadata=auth, timeout=10)
        emit("error_status", False, error="no error")
    except grpc.RpcError as e:
        trailers = dict(e.trailing_metadata() or ())
        emit("error_status", e.code() == grpc.StatusCode.NOT_FOUND and "No active listeners for: py.nobody" in e.details()
             and trailers.get("trellis-code") == "404", code=str(e.code()), details=e.details())

    try:
        unary("Nodes", "GetNode", "Node")(M("NodeRef")(id=node_id), metadata=(("authorization", "Bearer nope"),), timeout=10)
        emit("unauthenticated", False, error="no error")
    except grpc.RpcError as e:
        emit("unauthenticated", e.code() == grpc.StatusCode.UNAUTHENTICATED and "bearer token is not valid" in e.details(),
             code=str(e.code()), details=e.details())

    # --- a deadline
    try:
        unary("Messaging", "Request", "PublishResponse")(M("PublishRequest")(id=node_id, topic="py.slow"), metadata=auth, timeout=0.5)
        emit("deadline", False, error="no error")
    except grpc.RpcError as e:
        emit("deadline", e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, code=str(e.code()), details=e.details())

    # --- end the stream cleanly: the node registered on it is deleted
    outgoing.put(None)
    server.join(timeout=10)
    try:
        unary("Nodes", "GetNode", "Node")(M("NodeRef")(id=node_id), metadata=auth, timeout=10)
        emit("stream_end", False, error="the node still exists")
    except grpc.RpcError as e:
        emit("stream_end", e.code() == grpc.StatusCode.UNAUTHENTICATED, code=str(e.code()), details=e.details())

    channel.close()
    sys.stdout.write(json.dumps({"done": True}) + "\n")


if __name__ == "__main__":
    main()
