using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;

namespace Trellis.Api.Grpc.Internal;

/// <summary>One of grpc-dotnet's compression providers, whose decompression answers INVALID_ARGUMENT for a request message
/// that is not what its <c>grpc-encoding</c> says (grpc-dotnet decompresses before the message's marshaller runs, and
/// would answer UNKNOWN, as for a handler's own failure).</summary>
internal sealed class CheckedCompressionProvider(ICompressionProvider inner) : ICompressionProvider
{
    /// <summary>grpc-dotnet's own providers, gzip and deflate, checked.</summary>
    public static IList<ICompressionProvider> Defaults() =>
    [
        new CheckedCompressionProvider(new GzipCompressionProvider(CompressionLevel.Fastest)),
        new CheckedCompressionProvider(new DeflateCompressionProvider(CompressionLevel.Fastest)),
    ];

    public string EncodingName => inner.EncodingName;

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
        inner.CreateCompressionStream(stream, compressionLevel);

    public Stream CreateDecompressionStream(Stream stream) =>
        new CheckedStream(inner.CreateDecompressionStream(stream), EncodingName);

    /// <summary>A read-only stream that turns the decompressor's complaint about its input into the client's error.</summary>
    private sealed class CheckedStream(Stream inner, string encoding) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return inner.Read(buffer);
            }
            catch (InvalidDataException e)
            {
                throw Invalid(e);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                throw Invalid(e);
            }
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private RpcException Invalid(InvalidDataException e) =>
            new(new Status(StatusCode.InvalidArgument, $"The request message is flagged compressed but is not {encoding} data: {e.Message}"));
    }
}
