using System.Text.Json;
using System.Text.Json.Nodes;
using Trellis.Api.Edge.Link.Internal;
using Trellis.Api.Grpc.Internal;
using Trellis.Contracts.V1;
using Trellis.Core.Bus;
using Trellis.Core.Diagnostics;
using Trellis.Core.Errors;
using Trellis.Core.Messaging;
using Request = Trellis.Core.Messaging.Request;

namespace Trellis.Api.Edge.Link;

/// <summary>The cluster's requests and commands for a device, and the bus subscriptions of its WAN services.</summary>
public sealed partial class EdgeLinks
{
    private async ValueTask<Message> ServeAsync(DeviceLink link, string publisher, string service, Request request, CancellationToken cancellationToken)
    {
        var wait = request.Timeout > TimeSpan.Zero && request.Timeout < _options.RequestTimeout ? request.Timeout : _options.RequestTimeout;
        if (request.Data.Length > _options.MaxMessageBytes)
        {
            return Message.Error(413, $"the request's data ({request.Data.Length} bytes) is larger than the link's limit of {_options.MaxMessageBytes} bytes (Trellis:Edge:MaxMessageBytes)");
        }

        var edgeRequest = new EdgeRequest
        {
            Publisher = publisher,
            Service = service,
            Topic = request.Topic,
            Sender = request.Sender,
            Data = ProtoJson.ToValue(request.Data),
            Priority = Contracts.V1.Priority.Normal,
            Traceparent = MessagingTracing.CurrentTraceParent ?? "",
        };
        return await link.RequestAsync(edgeRequest, wait, cancellationToken);
    }

    private async ValueTask<Message> ControlAsync(DeviceLink link, Request request, CancellationToken cancellationToken)
    {
        DeviceCommand command;
        TimeSpan wait;
        try
        {
            (command, wait) = ParseControl(request.Data);
        }
        catch (Exception e) when (e is JsonException or TrellisException or InvalidOperationException or FormatException)
        {
            return Message.Error(Codes.BadRequest, e is TrellisException ? e.Message : $"the control request is not {{\"method\", \"path\", \"body\"?, \"priority\"?, \"timeout\"?}}: {e.Message}");
        }

        var result = await link.CommandAsync(command, wait, cancellationToken);
        if (result is null)
        {
            return Message.Error(Codes.HandlerTimeout, $"device {link.Provider} did not answer the command within {wait.TotalMilliseconds:0} ms");
        }

        var reply = new JsonObject
        {
            ["status"] = result.Status,
            ["body"] = JsonNode.Parse(ProtoJson.ToPayload(result.Body, "the command's body").ToString()),
        };
        return Message.Ok(JsonPayload.Parse(reply.ToJsonString()));
    }

    private static (DeviceCommand Command, TimeSpan Wait) ParseControl(JsonPayload data)
    {
        var json = JsonNode.Parse(data.ToString()) as JsonObject ?? throw TrellisException.Invalid("the control request must be a JSON object {\"method\", \"path\", ...}");
        var method = (string?)json["method"];
        var path = (string?)json["path"];
        if (string.IsNullOrEmpty(method) || string.IsNullOrEmpty(path) || path[0] != '/')
        {
            throw TrellisException.Invalid("the control request needs \"method\" and \"path\" (starting with '/')");
        }

        var command = new DeviceCommand
        {
            Method = method,
            Path = path,
            Priority = (string?)json["priority"] switch
            {
                null or "normal" => Contracts.V1.Priority.Normal,
                "high" => Contracts.V1.Priority.High,
                "low" => Contracts.V1.Priority.Low,
                var other => throw TrellisException.Invalid($"the control request's priority '{other}' is not high, normal or low"),
            },
        };
        if (json["body"] is { } body)
        {
            command.Body = ProtoJson.ToValue(JsonPayload.Parse(body.ToJsonString()));
        }

        var seconds = json["timeout"] is { } t ? (double)t : 0;
        var wait = seconds > 0 && double.IsFinite(seconds) ? TimeSpan.FromSeconds(Math.Min(seconds, 3600)) : ControlTimeout;
        return (command, wait);
    }


    private List<(string Publisher, string Service)> AcceptedServices(string provider, IEnumerable<ServiceName> names)
    {
        var accepted = new List<(string, string)>();
        foreach (var name in names)
        {
            if (NameProblem(name.Publisher) is { } p)
            {
                LogServiceRefused(_logger, provider, name.Publisher, name.Service, $"publisher {p}");
            }
            else if (NameProblem(name.Service) is { } s)
            {
                LogServiceRefused(_logger, provider, name.Publisher, name.Service, $"service {s}");
            }
            else if (!accepted.Contains((name.Publisher, name.Service)))
            {
                accepted.Add((name.Publisher, name.Service));
            }
        }

        return accepted;
    }

    /// <summary>Subscribes what is new in <paramref name="services"/> and unsubscribes what is gone.</summary>
    private async Task SetServicesAsync(MessageBus bus, DeviceLink link, IReadOnlyCollection<(string Publisher, string Service)> services)
    {
        foreach (var gone in link.Services.Where(s => !services.Contains(s)).ToArray())
        {
            link.Services.Remove(gone);
            await _topics.RemoveAsync(EdgeTopics.Service(gone.Publisher, gone.Service), link);
            await _topics.RemoveAsync(EdgeTopics.Instance(gone.Publisher, gone.Service, link.Provider), link);
        }

        foreach (var added in services.Where(s => !link.Services.Contains(s)).ToArray())
        {
            try
            {
                var (publisher, service) = added;
                await _topics.AddAsync(bus, EdgeTopics.Service(publisher, service), link, (l, r, ct) => ServeAsync(l, publisher, service, r, ct), _handlerOptions);
                await _topics.AddAsync(bus, EdgeTopics.Instance(publisher, service, link.Provider), link, (l, r, ct) => ServeAsync(l, publisher, service, r, ct), _handlerOptions);
                link.Services.Add(added);
            }
            catch (TrellisException e)
            {
                LogServiceRefused(_logger, link.Provider, added.Publisher, added.Service, e.Message);
                await _topics.RemoveAsync(EdgeTopics.Service(added.Publisher, added.Service), link);
            }
        }
    }

    /// <summary>Why a publisher or service name is refused, or null: 1-64 characters without '_', '/', '*', whitespace or
    /// control characters (the agent's own rules; '*' is a wildcard of discovery, never part of a name).</summary>
    internal static string? NameProblem(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return $"'{Printable(name)}' must be 1-64 characters long (is {name.Length})";
        }

        foreach (var c in name)
        {
            if (c is '_' or '/' or '*' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return $"'{Printable(name)}' contains '{Printable(c.ToString())}': names may not contain '_', '/', '*' or whitespace";
            }
        }

        return null;
    }

    /// <summary>Why a provider id is refused, or null: 1-64 letters, digits, '-' or '_'.</summary>
    internal static string? ProviderProblem(string provider)
    {
        if (provider.Length is 0 or > 64)
        {
            return $"'{Printable(provider)}' must be 1-64 characters long (is {provider.Length})";
        }

        foreach (var c in provider)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return $"'{Printable(provider)}' contains '{Printable(c.ToString())}': a provider id has only letters, digits, '-' and '_'";
            }
        }

        return null;
    }
}
