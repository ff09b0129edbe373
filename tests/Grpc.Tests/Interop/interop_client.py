"""A grpcio client that exercises a Trellis gRPC server and prints one JSON object with what it saw.

Usage: interop_client.py TARGET GENERATED_DIR
"""
import json
import sys

import grpc

sys.path.insert(0, sys.argv[2])
import health_pb2  # noqa: E402
import tester_pb2 as pb  # noqa: E402

TARGET = sys.argv[1]
SERVICE = "/trellis.test.v1.Tester/"


def methods(channel):
    ser, de = pb.TestRequest.SerializeToString, pb.TestReply.FromString
    return {
        "unary": channel.unary_unary(SERVICE + "Unary", request_serializer=ser, response_deserializer=de),
        "server": channel.unary_stream(SERVICE + "ServerStream", request_serializer=ser, response_deserializer=de),
        "client": channel.stream_unary(SERVICE + "ClientStream", request_serializer=ser, response_deserializer=de),
        "duplex": channel.stream_stream(SERVICE + "Duplex", request_serializer=ser, response_deserializer=de),
        "missing": channel.unary_unary(SERVICE + "Missing", request_serializer=ser, response_deserializer=de),
    }


def error_of(call):
    try:
        call()
    except grpc.RpcError as error:
        return {
            "code": error.code().value[0],
            "details": error.details(),
            "trailers": {k: v for k, v in (error.trailing_metadata() or ())},
        }
    return {"code": 0}


def main():
    results = {}
    with grpc.insecure_channel(TARGET) as channel:
        m = methods(channel)

        reply, call = m["unary"].with_call(
            pb.TestRequest(message="from python", echo_header="x-echo"),
            metadata=[("x-echo", "py-value")],
            timeout=10,
        )
        results["unary"] = {
            "message": reply.message,
            "peer": reply.peer,
            "initial": {k: v for k, v in call.initial_metadata()},
            "trailing": {k: v for k, v in call.trailing_metadata()},
            "deadline_ms": reply.deadline_ms,
        }

        results["server_stream"] = [r.index for r in m["server"](pb.TestRequest(message="s", count=5), timeout=10)]

        results["client_stream"] = m["client"](iter([pb.TestRequest(message=str(i)) for i in range(4)]), timeout=10).message

        replies = m["duplex"](iter([pb.TestRequest(message="d" + str(i)) for i in range(3)]), timeout=10)
        results["duplex"] = [r.message for r in replies]

        results["error"] = error_of(lambda: m["unary"](
            pb.TestRequest(fail_code=5, fail_message="café ☕ 100% über"), timeout=10))

        results["stream_error"] = error_of(lambda: list(m["server"](
            pb.TestRequest(count=2, fail_code=9, fail_message="stopped"), timeout=10)))

        results["deadline"] = error_of(lambda: m["unary"](pb.TestRequest(wait_for_cancel=True), timeout=0.3))

        results["unimplemented"] = error_of(lambda: m["missing"](pb.TestRequest(), timeout=10))

        big = b"\x07" * (1024 * 1024)
        results["big_payload"] = len(m["unary"](pb.TestRequest(payload=big), timeout=10).payload)

        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        results["health"] = check(health_pb2.HealthCheckRequest(service=""), timeout=10).status

    with grpc.insecure_channel(TARGET, compression=grpc.Compression.Gzip) as gzip_channel:
        results["gzip"] = methods(gzip_channel)["unary"](pb.TestRequest(message="zipped" * 100), timeout=10).message == "zipped" * 100

    print(json.dumps(results))


if __name__ == "__main__":
    main()
