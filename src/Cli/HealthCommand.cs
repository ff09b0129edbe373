using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis health</c>: asks a silo or gateway whether it is alive and ready. Exit 0 when both answer 2xx,
/// 1 when one does not, 3 when the process cannot be reached.</summary>
internal static class HealthCommand
{
    public static Command Create()
    {
        var command = new Command("health", "Show /healthz and /readyz of a silo or gateway (--url)");
        command.SetAction((parse, ct) => ClusterClient.RunAsync(parse, async (output, error) =>
        {
            using var http = new HttpClient { BaseAddress = ConnectionOptions.ResolveUrl(parse), Timeout = TimeSpan.FromSeconds(15) };
            var failed = false;
            var unreachable = false;
            foreach (var path in new[] { "/healthz", "/readyz" })
            {
                try
                {
                    using var response = await http.GetAsync(path, ct);
                    var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
                    await output.WriteLineAsync($"{path,-9} {(int)response.StatusCode} {body}");
                    failed |= !response.IsSuccessStatusCode;
                }
                catch (HttpRequestException e) when (e.StatusCode is null)
                {
                    await error.WriteLineAsync($"{path,-9} unreachable: cannot reach {http.BaseAddress}: {e.Message}");
                    unreachable = true;
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                    await error.WriteLineAsync($"{path,-9} unreachable: {http.BaseAddress} did not answer within {http.Timeout.TotalSeconds}s");
                    unreachable = true;
                }
                catch (Exception e) when (e is HttpRequestException or JsonException)
                {
                    await error.WriteLineAsync($"{path,-9} bad answer: {e.Message}");
                    failed = true;
                }
            }

            return unreachable ? CliApp.Unreachable : failed ? CliApp.Failed : CliApp.Ok;
        }));
        return command;
    }
}
