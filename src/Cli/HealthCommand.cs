using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;

namespace Trellis.Cli;

/// <summary><c>trellis health</c>: asks a silo or gateway whether it is alive and ready.</summary>
internal static class HealthCommand
{
    public static Command Create()
    {
        var url = UrlOption.Create("--url", "HTTP address of a silo or gateway", "http://127.0.0.1:5080");
        var command = new Command("health", "Show /healthz and /readyz of a silo or gateway") { url };
        command.SetAction(async (parse, ct) =>
        {
            using var http = new HttpClient { BaseAddress = parse.GetValue(url), Timeout = TimeSpan.FromSeconds(5) };
            var failed = false;
            foreach (var path in new[] { "/healthz", "/readyz" })
            {
                try
                {
                    using var response = await http.GetAsync(path, ct);
                    var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
                    Console.WriteLine($"{path,-9} {(int)response.StatusCode} {body}");
                    failed |= !response.IsSuccessStatusCode;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
                {
                    Console.Error.WriteLine($"{path,-9} unreachable: {e.Message}");
                    failed = true;
                }
            }

            return failed ? 1 : 0;
        });
        return command;
    }
}
