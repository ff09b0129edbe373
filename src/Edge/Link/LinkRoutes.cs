using System.Globalization;
using System.Text.Json;
using Trellis.Edge.Local;

namespace Trellis.Edge.Link;

/// <summary>The local API's calls into the cluster through the link: <c>POST /v1/call/{topic}?timeout=S</c> (the body is
/// the data; the answer is the cluster's data with its code as the HTTP status) and <c>POST /v1/signal/{topic}</c>. Both
/// answer 503 while the link is not up. Only programs on the device may use them, never the cluster itself.</summary>
public static class LinkRoutes
{
    public static void Map(LocalRouter router, EdgeLink link)
    {
        router.Map("POST", "/v1/call/{topic}", (request, route, ct) => CallAsync(link, request, route["topic"], signal: false, ct));
        router.Map("POST", "/v1/signal/{topic}", (request, route, ct) => CallAsync(link, request, route["topic"], signal: true, ct));
    }

    private static async Task<LocalResponse> CallAsync(EdgeLink link, LocalRequest request, string topic, bool signal, CancellationToken cancellationToken)
    {
        if (link.State != LinkState.Up)
        {
            return LocalResponse.Error(503, EdgeLink.NoLink);
        }

        TimeSpan? timeout = null;
        if (request.QueryValue("timeout") is { } text)
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !(seconds > 0) || seconds > 3600)
            {
                return LocalResponse.Error(400, $"timeout '{text}' is not a number of seconds between 0 and 3600");
            }

            timeout = TimeSpan.FromSeconds(seconds);
        }

        Google.Protobuf.WellKnownTypes.Value data;
        try
        {
            data = ValueJson.FromUtf8(request.Body);
        }
        catch (JsonException e)
        {
            return LocalResponse.Error(400, $"the body is not JSON: {e.Message}");
        }

        var result = await link.CallAsync(topic, data, timeout, signal, request.TraceParent, cancellationToken).ConfigureAwait(false);
        var status = result.Code == 0 ? 200 : result.Code;
        return new LocalResponse(status is >= 100 and <= 599 ? status : 502, ValueJson.ToUtf8(result.Data));
    }
}
