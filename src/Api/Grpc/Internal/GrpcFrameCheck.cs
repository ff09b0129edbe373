using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Trellis.Api.Grpc.Internal;

/// <summary>Middleware for the gRPC listener: a request that is not gRPC gets 415, and the length-prefixed frames of a gRPC
/// request are checked as grpc-dotnet reads them, so that a client's malformed framing (a cut-off frame, a compressed-flag
/// byte other than 0 or 1, a compressed message without grpc-encoding, a second message in a unary call) is answered
/// INVALID_ARGUMENT naming the problem, where grpc-dotnet would answer INTERNAL or UNKNOWN as for its own faults.</summary>
internal sealed class GrpcFrameCheck(RequestDelegate next, TrellisListeners listeners)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (listeners.GrpcAddress is not { } grpc || context.Connection.LocalPort != grpc.Port)
        {
            return next(context);
        }

        var contentType = context.Request.ContentType;
        if (contentType is null || !(contentType.Equals("application/grpc", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/grpc+", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/grpc;", StringComparison.OrdinalIgnoreCase)))
        {
            var response = context.Response;
            response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            response.Headers["grpc-status"] = "3";
            response.Headers["grpc-message"] = Uri.EscapeDataString(contentType is null
                ? "Content-Type is missing: this port serves gRPC (application/grpc)"
                : $"Content-Type '{contentType}' is not supported: this port serves gRPC (application/grpc)");
            return Task.CompletedTask;
        }

        var method = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method;
        var single = method?.Type is MethodType.Unary or MethodType.ServerStreaming;
        var encoding = context.Request.Headers["grpc-encoding"].ToString();
        var body = context.Features.Get<IRequestBodyPipeFeature>();
        if (body is not null)
        {
            context.Features.Set<IRequestBodyPipeFeature>(new CheckedBody(new FrameReader(body.Reader, single, encoding)));
        }

        return next(context);
    }

    private sealed class CheckedBody(PipeReader reader) : IRequestBodyPipeFeature
    {
        public PipeReader Reader { get; } = reader;
    }

    /// <summary>Passes the body through unchanged, parsing each frame header once as it comes into view.</summary>
    private sealed class FrameReader(PipeReader inner, bool single, string encoding) : PipeReader
    {
        private const int HeaderSize = 5;

        private ReadOnlySequence<byte> _last;
        private long _start;      // offset in the body of _last's first byte
        private long _nextHeader; // offset in the body of the next frame header
        private int _frames;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await inner.ReadAsync(cancellationToken);
            Check(result);
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }

            Check(result);
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _start += _last.Slice(0, consumed).Length;
            _last = default;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        private void Check(ReadResult result)
        {
            _last = result.Buffer;
            var end = _start + result.Buffer.Length;
            Span<byte> header = stackalloc byte[HeaderSize];
            while (_nextHeader + HeaderSize <= end)
            {
                result.Buffer.Slice(_nextHeader - _start, HeaderSize).CopyTo(header);
                _frames++;
                if (single && _frames > 1)
                {
                    throw Invalid("a unary request carries exactly one message, and this one has more");
                }

                var flag = header[0];
                if (flag > 1)
                {
                    throw Invalid($"the compressed-flag byte of a message frame must be 0 or 1, not {flag}");
                }

                if (flag == 1 && encoding is "" or "identity")
                {
                    throw Invalid("a compressed message needs a grpc-encoding header naming its compression (gzip)");
                }

                _nextHeader += HeaderSize + BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
            }

            if (result.IsCompleted && single && _frames == 0)
            {
                throw Invalid("a unary request carries exactly one message, and this one has none");
            }

            if (result.IsCompleted && _nextHeader != end)
            {
                throw Invalid(_nextHeader > end
                    ? "the request ended inside a message: the frame's length prefix promises more bytes than were sent"
                    : "the request ended inside a frame header (a message frame starts with 5 bytes: flag and length)");
            }
        }

        private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
    }
}
