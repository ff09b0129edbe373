using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Trellis.Api.Hosting;

namespace Trellis.Api.Tests;

/// <summary>/readyz: a gateway is ready with its bus; a silo also needs to have joined and to reach its state store.</summary>
public sealed class ReadinessTests
{
    private static async Task<(WebApplication App, HttpClient Http)> StartAsync(string role, string dataDir)
    {
        var app = TrellisApp.Build([], role, new Dictionary<string, string?>
        {
            ["Trellis:Http:Url"] = "http://127.0.0.1:0",
            ["Trellis:Grpc:Url"] = "http://127.0.0.1:0",
            ["Trellis:Transport:Provider"] = "InMemory",
            ["Trellis:Nodes:Store"] = "InMemory",
            ["Trellis:Storage:Provider"] = "Sqlite",
            ["Trellis:Storage:Sqlite:Path"] = Path.Combine(dataDir, "trellis.db"),
            ["Trellis:Grains:Shards"] = "8",
        }, builder => builder.Logging.ClearProviders());
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new HttpClient { BaseAddress = new Uri(address) });
    }

    private static async Task<(int Status, JsonObject Body)> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/readyz", TestContext.Current.CancellationToken);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!.AsObject();
        return ((int)response.StatusCode, body);
    }

    [Fact]
    public async Task A_silo_is_ready_once_it_has_joined_and_holds_its_shards()
    {
        var dir = Directory.CreateTempSubdirectory("trellis-ready-");
        try
        {
            var (app, http) = await StartAsync("silo", dir.FullName);
            await using (app)
            using (http)
            {
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
                (int Status, JsonObject Body) ready;
                do
                {
                    ready = await ReadyAsync(http);
                    if (ready.Status == 200 && (int)ready.Body["silo"]!["shards"]! == 8)
                    {
                        break;
                    }

                    await Task.Delay(100, TestContext.Current.CancellationToken);
                }
                while (DateTime.UtcNow < deadline);

                Assert.Equal(200, ready.Status);
                Assert.Equal("ready", (string)ready.Body["status"]!);
                Assert.Equal("silo", (string)ready.Body["role"]!);
                var silo = ready.Body["silo"]!;
                Assert.Equal("ok", (string)silo["store"]!);
                Assert.Equal(8, (int)silo["shards"]!);
                Assert.False(string.IsNullOrEmpty((string?)silo["id"]));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_gateway_reports_no_silo_part()
    {
        var dir = Directory.CreateTempSubdirectory("trellis-ready-");
        try
        {
            var (app, http) = await StartAsync("gateway", dir.FullName);
            await using (app)
            using (http)
            {
                var (status, body) = await ReadyAsync(http);
                Assert.Equal(200, status);
                Assert.Equal("ok", (string)body["transport"]!);
                Assert.Null(body["silo"]);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
