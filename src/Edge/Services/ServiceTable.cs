using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Trellis.Edge.Local;

namespace Trellis.Edge.Services;

/// <summary>The services published on this device, kept in <c>WorkDir/services.json</c> so they survive a restart of
/// the agent (written to a temporary file and renamed, so a crash never leaves half a file).</summary>
public sealed partial class ServiceTable : IServiceTable
{
    public const string FileName = "services.json";

    /// <summary>URLs travel in LAN datagrams, so they are kept short.</summary>
    public const int MaxUrlLength = 1024;

    private readonly Lock _lock = new();
    private readonly List<LocalService> _services = [];
    private readonly string _path;
    private readonly ILogger _logger;

    public ServiceTable(string workDir, ILogger logger)
    {
        _path = Path.Combine(workDir, FileName);
        _logger = logger;
        Load();
    }

    public IReadOnlyList<LocalService> Published
    {
        get
        {
            lock (_lock)
            {
                return [.. _services];
            }
        }
    }

    public event Action? Changed;

    public LocalService? Find(string publisher, string service)
    {
        lock (_lock)
        {
            return _services.Find(s => s.Publisher == publisher && s.Service == service);
        }
    }

    /// <summary>What is wrong with <paramref name="service"/> for publishing (names, an absolute <c>http://</c> URL,
    /// scopes); null when it is fine.</summary>
    public static string? Problem(LocalService service)
    {
        var problem = ServiceNames.Problem(service.Publisher, "publisher") ?? ServiceNames.Problem(service.Service, "service");
        if (problem is not null)
        {
            return problem;
        }

        if (service.Url is null || service.Url.Length > MaxUrlLength)
        {
            return $"url is missing or longer than {MaxUrlLength} characters";
        }

        if (!Uri.TryCreate(service.Url, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttp || url.Host.Length == 0)
        {
            return $"url '{service.Url}' is not an absolute http:// URL";
        }

        if ((service.Scopes & (Scope.OS | Scope.Lan | Scope.Wan)) == 0 || (service.Scopes & ~Scope.All) != 0)
        {
            return "scopes must name at least one of os, lan, wan";
        }

        return null;
    }

    /// <summary>Publishes <paramref name="service"/>; a 400 <see cref="LocalApiException"/> naming the problem, 409 when
    /// {publisher, service} is already published.</summary>
    public LocalService Publish(LocalService service)
    {
        if (service.Scopes == Scope.None)
        {
            service = service with { Scopes = Scope.OS | Scope.Lan | Scope.Wan };
        }

        service = service with { Scopes = service.Scopes & ~Scope.Process };
        if (Problem(service) is { } problem)
        {
            throw new LocalApiException(400, problem);
        }

        lock (_lock)
        {
            if (_services.Exists(s => s.Publisher == service.Publisher && s.Service == service.Service))
            {
                throw new LocalApiException(409, $"{service.Publisher}/{service.Service} is already published on this device");
            }

            _services.Add(service);
            Save();
        }

        Changed?.Invoke();
        return service;
    }

    /// <summary>Unpublishes {<paramref name="publisher"/>, <paramref name="service"/>}; false when it was not published.</summary>
    public bool Unpublish(string publisher, string service)
    {
        lock (_lock)
        {
            if (_services.RemoveAll(s => s.Publisher == publisher && s.Service == service) == 0)
            {
                return false;
            }

            Save();
        }

        Changed?.Invoke();
        return true;
    }

    public static JsonObject ToJson(LocalService service) => new()
    {
        ["publisher"] = service.Publisher,
        ["service"] = service.Service,
        ["url"] = service.Url,
        ["scopes"] = new JsonArray([.. ScopeNames.Names(service.Scopes).Select(static n => (JsonNode)n)]),
    };

    private void Save()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var temp = _path + "." + Environment.ProcessId + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
        using (var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("version", 1);
            json.WriteStartArray("services");
            foreach (var service in _services)
            {
                json.WriteStartObject();
                json.WriteString("publisher", service.Publisher);
                json.WriteString("service", service.Service);
                json.WriteString("url", service.Url);
                json.WriteStartArray("scopes");
                foreach (var scope in ScopeNames.Names(service.Scopes))
                {
                    json.WriteStringValue(scope);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        File.Move(temp, _path, overwrite: true);
    }

    private void Load()
    {
        if (!File.Exists(_path))
        {
            return;
        }

        try
        {
            var root = JsonNode.Parse(File.ReadAllText(_path)) as JsonObject;
            if (root?["services"] is not JsonArray items)
            {
                LogUnreadable(_logger, _path, "no services array");
                return;
            }

            foreach (var item in items)
            {
                if (item is not JsonObject o
                    || o["publisher"]?.GetValueKind() != JsonValueKind.String
                    || o["service"]?.GetValueKind() != JsonValueKind.String
                    || o["url"]?.GetValueKind() != JsonValueKind.String
                    || o["scopes"] is not JsonArray scopes
                    || !ScopeNames.TryParse(scopes.Select(static s => s?.GetValueKind() == JsonValueKind.String ? s.GetValue<string>() : "?"), "scopes", out var scope, out _))
                {
                    LogSkipped(_logger, _path, item?.ToJsonString() ?? "null", "not a {publisher, service, url, scopes} entry");
                    continue;
                }

                var service = new LocalService(o["publisher"]!.GetValue<string>(), o["service"]!.GetValue<string>(), o["url"]!.GetValue<string>(), scope);
                if (Problem(service) is { } problem)
                {
                    LogSkipped(_logger, _path, item.ToJsonString(), problem);
                }
                else if (!_services.Exists(s => s.Publisher == service.Publisher && s.Service == service.Service))
                {
                    _services.Add(service);
                }
            }
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            LogUnreadable(_logger, _path, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The published services in {Path} cannot be read ({Problem}); starting with none")]
    private static partial void LogUnreadable(ILogger logger, string path, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped a published service in {Path}: {Entry} ({Problem})")]
    private static partial void LogSkipped(ILogger logger, string path, string entry, string problem);
}
