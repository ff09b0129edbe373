using System.Net.Http.Headers;
using Trellis.Contracts.V1;
using Trellis.Edge.Local;
using Trellis.Edge.Services;

namespace Trellis.Edge.Link;

/// <summary>What the cluster asks of the device: requests for its local services and commands of its local API.</summary>
public sealed partial class EdgeLink
{
    /// <summary>A cluster request for a local service: POST its data to the service's URL.</summary>
    internal async Task<EdgeReply> ServeAsync(EdgeRequest request, CancellationToken cancellationToken)
    {
        var reply = new EdgeReply { CorrelationId = request.CorrelationId };
        var service = _services.Find(request.Publisher, request.Service);
        if (service is null || !service.Scopes.HasFlag(Scope.Wan))
        {
            reply.Code = 404;
            reply.Data = Google.Protobuf.WellKnownTypes.Value.ForString($"device {Provider} publishes no WAN service {request.Publisher}/{request.Service}");
            return reply;
        }

        var timeout = request.Timeout > 0 && double.IsFinite(request.Timeout) ? TimeSpan.FromSeconds(request.Timeout) : DefaultTimeout;
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        try
        {
            using var content = new ByteArrayContent(ValueJson.ToUtf8(request.Data));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var post = new HttpRequestMessage(HttpMethod.Post, service.Url) { Content = content };
            if (request.Traceparent.Length > 0)
            {
                // The cluster's trace goes on in the service: it sees the gateway's span as its parent.
                post.Headers.TryAddWithoutValidation("traceparent", request.Traceparent);
            }

            using var response = await _http.SendAsync(post, linked.Token);
            var body = await response.Content.ReadAsByteArrayAsync(linked.Token);
            var status = (int)response.StatusCode;
            reply.Code = status is >= 200 and < 300 ? 200 : status;
            reply.Data = ValueJson.FromBody(body);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            reply.Code = 504;
            reply.Data = Google.Protobuf.WellKnownTypes.Value.ForString($"{request.Publisher}/{request.Service} on device {Provider} did not answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (HttpRequestException e)
        {
            reply.Code = 503;
            reply.Data = Google.Protobuf.WellKnownTypes.Value.ForString($"{request.Publisher}/{request.Service} on device {Provider} is unreachable at {service.Url}: {e.Message}");
        }

        return reply;
    }

    /// <summary>A command of the local API from the cluster.</summary>
    internal async Task<CommandResult> RunCommandAsync(DeviceCommand command, CancellationToken cancellationToken)
    {
        var result = new CommandResult { CorrelationId = command.CorrelationId };
        var timeout = command.Timeout > 0 && double.IsFinite(command.Timeout) ? TimeSpan.FromSeconds(command.Timeout) : DefaultTimeout;
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        try
        {
            var (path, query) = SplitQuery(command.Path);
            var body = command.Body is null || command.Body.KindCase == Google.Protobuf.WellKnownTypes.Value.KindOneofCase.None ? [] : ValueJson.ToUtf8(command.Body);
            var response = await _router.DispatchAsync(new LocalRequest(command.Method, path, query, body, FromCluster: true), linked.Token);
            result.Status = response.Status;
            result.Body = ValueJson.FromBody(response.Body);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            result.Status = 504;
            result.Body = Google.Protobuf.WellKnownTypes.Value.ForString($"{command.Method} {command.Path} did not finish within {timeout.TotalMilliseconds:0} ms");
        }

        return result;
    }


    internal static (string Path, Dictionary<string, string> Query) SplitQuery(string pathAndQuery)
    {
        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        var mark = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        if (mark < 0)
        {
            return (pathAndQuery, query);
        }

        foreach (var pair in pathAndQuery[(mark + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString((eq < 0 ? pair : pair[..eq]).Replace('+', ' '));
            query[name] = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
        }

        return (pathAndQuery[..mark], query);
    }
}
