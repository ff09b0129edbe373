using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Trellis.Flows.Activities;

namespace Trellis.Cli;

/// <summary>Reports a CLI host's activity states to the cluster: <c>PUT /activities/{id}/hosts/{host}</c> with the
/// state and the manifest, so <c>GET /activities</c> shows where each runs.</summary>
internal sealed class ActivityStateReporter : IActivityStateSink, IDisposable
{
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly Func<Guid, ActivityManifest?> _manifests;

    public ActivityStateReporter(Uri gateway, string? token, ILoggerFactory loggers, Func<Guid, ActivityManifest?> manifests)
    {
        _http = new HttpClient { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(10) };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        _logger = loggers.CreateLogger("Trellis.Cli.Host");
        _manifests = manifests;
    }

    public async ValueTask ReportAsync(ActivityRunState state, CancellationToken cancellationToken)
    {
        var body = ActivityStateJson.ToJson(state);
        if (_manifests(state.ActivityId) is { } manifest)
        {
            body["manifest"] = manifest.ToJson();
        }

        try
        {
            using var response = await _http.PutAsync($"/activities/{state.ActivityId}/hosts/{Uri.EscapeDataString(state.Host)}", JsonContent.Create(body), cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                _logger.LogWarning("Reporting {Role} {Status} to {Gateway} failed: HTTP {Code}", state.Role, state.Status, _http.BaseAddress, (int)response.StatusCode);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            _logger.LogWarning("Reporting {Role} {Status} to {Gateway} failed: {Error}", state.Role, state.Status, _http.BaseAddress, e.Message);
        }
    }

    public void Dispose() => _http.Dispose();
}
