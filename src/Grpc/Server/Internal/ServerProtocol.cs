using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Trellis.Grpc.Framing;
using Trellis.Grpc.Internal;

namespace Trellis.Grpc.Server.Internal;

/// <summary>Entry checks and status writing common to every gRPC endpoint.</summary>
internal static class ServerProtocol
{
    public const string GrpcContentType = "application/grpc";

    private static readonly string[] StatusStrings = CreateStatusStrings();

    /// <summary>application/grpc and application/grpc+proto, with or without parameters.</summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(GrpcContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = contentType.AsSpan(GrpcContentType.Length);
        var semicolon = rest.IndexOf(';');
        if (semicolon >= 0)
        {
            rest = rest[..semicolon];
        }

        rest = rest.Trim();
        return rest.IsEmpty || rest.Equals("+proto", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Content type (415) and HTTP version (426) checks; false when an error response was written.</summary>
    public static bool TryAccept(HttpContext context)
    {
        var request = context.Request;
        if (!IsGrpcContentType(request.ContentType))
        {
            WriteHttpError(
                context.Response,
                StatusCodes.Status415UnsupportedMediaType,
                $"Content-Type '{request.ContentType}' is not supported.");
            return false;
        }

        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            context.Response.Headers.Upgrade = "HTTP/2";
            WriteHttpError(
                context.Response,
                StatusCodes.Status426UpgradeRequired,
                $"Request protocol '{request.Protocol}' is not supported.");
            return false;
        }

        // Streams may be long-lived and quiet; per-message limits replace the body-size limit.
        var rate = context.Features.Get<IHttpMinRequestBodyDataRateFeature>();
        if (rate is not null)
        {
            rate.MinDataRate = null;
        }

        var size = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (size is { IsReadOnly: false })
        {
            size.MaxRequestBodySize = null;
        }

        context.Response.ContentType = GrpcContentType;
        return true;
    }

    /// <summary>A response made only of headers that carry the status (PROTOCOL-HTTP2.md "Trailers-Only").</summary>
    public static void WriteTrailersOnly(HttpResponse response, in Status status)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcContentType;
        SetStatus(response.Headers, status);
    }

    public static void SetStatus(IHeaderDictionary destination, in Status status)
    {
        destination[MetadataHeaders.StatusHeader] = StatusString(status.StatusCode);
        if (!string.IsNullOrEmpty(status.Detail))
        {
            destination[MetadataHeaders.MessageHeader] = PercentEncoding.Encode(status.Detail);
        }
    }

    public static string StatusString(StatusCode code)
    {
        var index = (int)code;
        return (uint)index < (uint)StatusStrings.Length ? StatusStrings[index] : index.ToString(CultureInfo.InvariantCulture);
    }

    public static string FormatPeer(HttpContext context)
    {
        var connection = context.Connection;
        var address = connection.RemoteIpAddress;
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"ipv6:[{address}]:{connection.RemotePort}"
            : $"ipv4:{address}:{connection.RemotePort}";
    }

    private static void WriteHttpError(HttpResponse response, int httpStatus, string detail)
    {
        response.StatusCode = httpStatus;
        SetStatus(response.Headers, new Status(StatusCode.Internal, detail));
    }

    private static string[] CreateStatusStrings()
    {
        var values = new string[17];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        return values;
    }
}
