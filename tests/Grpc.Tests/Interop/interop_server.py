"""A grpcio server implementing trellis.test.v1.Tester for our client to call.

Prints its port on the first line of stdout, then serves until stdin is closed.
Usage: interop_server.py GENERATED_DIR
"""
import sys
import threading
from concurrent import futures

import grpc

sys.path.insert(0, sys.argv[1])
import tester_pb2 as pb  # noqa: E402


def status_code(number):
    return next(code for code in grpc.StatusCode if code.value[0] == number)


def behave(request, context):
    metadata = dict(context.invocation_metadata())
    if request.echo_header:
        context.set_trailing_metadata([(request.echo_header, metadata.get(request.echo_header, ""))])
    if request.wait_for_cancel:
        done = threading.Event()
        context.add_callback(done.set)
        done.wait(30)
    if request.fail_code:
        context.set_trailing_metadata([("error-detail", "from-python")])
        context.abort(status_code(request.fail_code), request.fail_message)


def reply(request, index=0):
    return pb.TestReply(message=request.message, index=index, payload=request.payload, peer="python")


def unary(request, context):
    behave(request, context)
    return reply(request)


def server_stream(request, context):
    for i in range(request.count):
        yield reply(request, i)
    behave(request, context)


def client_stream(requests, context):
    parts = [r.message for r in requests]
    return pb.TestReply(message=",".join(parts), index=len(parts))


def duplex(requests, context):
    for i, request in enumerate(requests):
        behave(request, context)
        yield reply(request, i)


def main():
    ser, de = pb.TestReply.SerializeToString, pb.TestRequest.FromString
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, request_deserializer=de, response_serializer=ser),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, request_deserializer=de, response_serializer=ser),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, request_deserializer=de, response_serializer=ser),
        "Duplex": grpc.stream_stream_rpc_method_handler(duplex, request_deserializer=de, response_serializer=ser),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("trellis.test.v1.Tester", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
