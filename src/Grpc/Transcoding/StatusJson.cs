using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Trellis.Grpc.Internal;

namespace Trellis.Grpc.Transcoding;

/// <summary>Writes an error as a google.rpc.Status JSON body ({code, message, details}) with the HTTP status of <see cref="StatusMapping"/>.</summary>
public static class StatusJson
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    /// <summary>The JSON of a status; details come from a grpc-status-details-bin trailer when one is present.</summary>
    public static string Format(Status status, Metadata? trailers = null, JsonFormatter? formatter = null)
    {
        var body = FromTrailers(trailers) ?? new Google.Rpc.Status();
        body.Code = (int)status.StatusCode;
        body.Message = status.Detail;
        try
        {
            return (formatter ?? Formatter).Format(body);
        }
        catch (InvalidOperationException)
        {
            // A detail whose type is not in the registry cannot be rendered; the code and message still can.
            body.Details.Clear();
            return Formatter.Format(body);
        }
    }

    public static async Task WriteAsync(HttpResponse response, Status status, Metadata? trailers = null, JsonFormatter? formatter = null)
    {
        ArgumentNullException.ThrowIfNull(response);
        var json = Format(status, trailers, formatter);
        response.StatusCode = StatusMapping.ToHttpStatus(status.StatusCode);
        response.ContentType = "application/json; charset=utf-8";
        await response.WriteAsync(json, response.HttpContext.RequestAborted).ConfigureAwait(false);
    }

    private static Google.Rpc.Status? FromTrailers(Metadata? trailers)
    {
        if (trailers?.GetValueBytes(MetadataHeaders.StatusDetailsHeader) is not { } bytes)
        {
            return null;
        }

        try
        {
            return Google.Rpc.Status.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }
}
