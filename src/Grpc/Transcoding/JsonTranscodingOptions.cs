using Google.Protobuf.Reflection;

namespace Trellis.Grpc.Transcoding;

/// <summary>Settings for JSON transcoding of google.api.http rules.</summary>
public sealed class JsonTranscodingOptions
{
    /// <summary>Message types that google.protobuf.Any values (e.g. google.rpc.Status details) may hold.</summary>
    public TypeRegistry TypeRegistry { get; set; } = TypeRegistry.Empty;

    /// <summary>Write fields that hold their default value (0, "", false, []) instead of leaving them out.</summary>
    public bool FormatDefaultValues { get; set; } = true;

    /// <summary>Accept JSON fields the request message does not have; off by default so typos are reported.</summary>
    public bool IgnoreUnknownFields { get; set; }

    /// <summary>Largest JSON request body read, in bytes.</summary>
    public int MaxRequestBodySize { get; set; } = 4 * 1024 * 1024;
}
