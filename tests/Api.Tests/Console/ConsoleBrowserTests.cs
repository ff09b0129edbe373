using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Trellis.Api.Tests.Infrastructure;
using Trellis.Hosting.Messaging;

namespace Trellis.Api.Tests.Console;

/// <summary>The console in a real browser: Debian's chromium driven by playwright-core (tests/Interop/node/console-check.mjs)
/// loads every page without console errors and without serious or critical axe-core violations, keeps a screenshot of
/// each, and sees the live figures move while this test drives traffic (app pokes, requests through a Python node, a
/// request nobody serves). Screenshots go to $TRELLIS_TEST_ARTIFACTS/console, else tests/Api.Tests/TestResults/console.</summary>
public sealed class ConsoleBrowserTests
{
    private const string Hint = "run scripts/deps.sh (apt-get install -y chromium nodejs npm; npm ci in tests/Interop/node)";

    [Fact]
    public async Task Every_page_loads_is_accessible_and_shows_live_figures()
    {
        var root = RepoRoot();
        var dir = Path.Combine(root, "tests", "Interop", "node");
        Assert.True(File.Exists("/usr/bin/chromium"), $"chromium is missing: {Hint}");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "playwright-core")), $"playwright-core is not installed in {dir}: {Hint}");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "axe-core")), $"axe-core is not installed in {dir}: {Hint}");
        var shots = Environment.GetEnvironmentVariable("TRELLIS_TEST_ARTIFACTS") is { Length: > 0 } artifacts
            ? Path.Combine(artifacts, "console")
            : Path.Combine(root, "tests", "Api.Tests", "TestResults", "console");

        await using var gateway = await TestGateway.StartAsync();
        await using var python = await PythonNode.StartAsync("console-browser");
        var node = await gateway.RegisterAsync(new
        {
            port = python.Port,
            services = new object[] { new { topic = "console.echo", group = "_default", path = "/echo" } },
        });
        var app = $"console-{Guid.NewGuid():N}"[..24];
        Assert.Equal(201, (await gateway.PostAsync("/apps", new { app, agent = "counter" }, TestGateway.AdminToken)).Status);
        Assert.Equal(200, (await gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, TestGateway.AdminToken)).Status);

        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = dir };
        foreach (var argument in new[] { Path.Combine(dir, "console-check.mjs"), gateway.Address.ToString().TrimEnd('/'), shots, app })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["no_proxy"] = "127.0.0.1,localhost";
        info.Environment["NO_PROXY"] = "127.0.0.1,localhost";
        info.Environment.Remove("http_proxy");
        info.Environment.Remove("https_proxy");
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start node");
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stdout = new StringBuilder();
        using var traffic = new CancellationTokenSource();
        Task? driving = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(4));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                stdout.AppendLine(line);
                if (line == "TRAFFIC" && driving is null)
                {
                    driving = DriveAsync(gateway, node, app, traffic.Token);
                }
            }

            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the browser check did not finish in time.\nstdout:\n{stdout}\nstderr:\n{await stderr}");
        }
        finally
        {
            await traffic.CancelAsync();
            if (driving is not null)
            {
                await driving;
            }
        }

        var context = $"exit {process.ExitCode}\nstdout:\n{stdout}\nstderr:\n{await stderr}";
        var resultLine = stdout.ToString().Split('\n').LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        Assert.True(resultLine is not null, $"the browser check printed no result: {context}");
        var result = JsonNode.Parse(resultLine["RESULT ".Length..])!;
        Assert.True((bool)result["ok"]! && process.ExitCode == 0, $"the browser check found problems: {context}");
        Assert.Equal(8, result["checked"]!.AsArray().Count(c => c!["page"] is not null));
        foreach (var page in new[] { "cluster", "nodes", "apps", "flows", "activities", "devices", "errors", "topics", "apps-live", "errors-live", "topics-live" })
        {
            Assert.True(File.Exists(Path.Combine(shots, $"console-{page}.png")), $"no screenshot of {page} in {shots}");
        }
    }

    /// <summary>Pokes the app, calls the Python node's service through the gateway, and asks for a topic nobody serves (a
    /// 404 on the error channel), every 200 ms until stopped.</summary>
    private static async Task DriveAsync(TestGateway gateway, RegisteredNode node, string app, CancellationToken stop)
    {
        var bus = await gateway.Services.GetRequiredService<BusHost>().Started;
        while (!stop.IsCancellationRequested)
        {
            await gateway.PostAsync($"/apps/{app}:poke", new { mark = "add", data = new { by = 1 } }, TestGateway.AdminToken);
            await gateway.PostAsync($"/request/{node.Id}", new { topic = "console.echo", message = new { hello = "console" } }, node.Token);
            await bus.RequestAsync($"console.nobody.{Guid.NewGuid():N}"[..30], Core.Messaging.JsonPayload.Parse("{}"), cancellationToken: CancellationToken.None);
            try
            {
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cluster.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Cluster.sln above {AppContext.BaseDirectory}");
    }
}
