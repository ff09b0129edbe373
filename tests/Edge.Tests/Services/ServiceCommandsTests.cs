using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Trellis.Edge.Cli;
using Trellis.Edge.Daemon;
using Trellis.Edge.Local;
using Trellis.Edge.Services;
using Trellis.TestKit;

namespace Trellis.Edge.Tests.Services;

/// <summary>The console is one per process: CLI tests run alone.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class ConsoleCollection;

[Collection(typeof(ConsoleCollection))]
public sealed class ServiceCommandsTests : IAsyncLifetime
{
    private readonly TempFolder _home = new();
    private readonly LocalRouter _router = new();
    private EdgeServices _services = null!;
    private LocalHttpServer _server = null!;

    private string Socket => _home.File("agent.sock");

    public async ValueTask InitializeAsync()
    {
        _services = EdgeServices.Start(new EdgeOptions { WorkDir = _home.Path, LanPort = 0 }, "self-id", _router, null, NullLogger.Instance);
        _server = await LocalHttpServer.StartAsync(_router, Socket, -1, NullLogger.Instance, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _services.DisposeAsync();
        _home.Dispose();
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var root = new RootCommand();
        root.Options.Add(EdgeCli.Home);
        root.Options.Add(EdgeCli.Socket);
        ServiceCommands.Add(root);
        var (stdout, stderr) = (Console.Out, Console.Error);
        using var output = new StringWriter();
        using var error = new StringWriter();
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            var code = await root.Parse(args).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken).Within("trellis-edge " + string.Join(' ', args));
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    [Fact]
    public async Task Publish_list_discover_unpublish()
    {
        var published = await RunAsync("--socket", Socket, "publish", "acme", "echo", "http://127.0.0.1:8080/", "--scope", "os,lan");
        Assert.Equal((0, "published acme/echo at http://127.0.0.1:8080/ (os,lan)"), (published.Code, published.Out.Trim()));

        var taken = await RunAsync("--socket", Socket, "publish", "acme", "echo", "http://127.0.0.1:8081/");
        Assert.Equal(EdgeCli.Refused, taken.Code);
        Assert.Contains("already published", taken.Err);

        var list = await RunAsync("--socket", Socket, "list");
        var lines = list.Out.TrimEnd().Split(Environment.NewLine);
        Assert.Equal(["PUBLISHER", "SERVICE", "PROVIDER", "SCOPE", "ADDRESS"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["acme", "echo", "self-id", "os", "http://127.0.0.1:8080/"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(2, lines.Length);

        var discovered = await RunAsync("--socket", Socket, "discover", "ac*", "echo", "-o", "json");
        Assert.Equal(0, discovered.Code);
        Assert.Equal("self-id", (string)JsonNode.Parse(discovered.Out)!.AsArray().Single()!["provider"]!);

        Assert.Equal(0, (await RunAsync("--socket", Socket, "unpublish", "acme", "echo")).Code);
        var none = await RunAsync("--socket", Socket, "discover", "acme", "echo");
        Assert.Equal(EdgeCli.Refused, none.Code);
        Assert.Contains("no provider of acme/echo", none.Err);
    }

    [Fact]
    public async Task Usage_errors_and_a_missing_agent_have_their_exit_codes()
    {
        var badScope = await RunAsync("--socket", Socket, "publish", "a", "b", "http://h/", "--scope", "moon");
        Assert.Equal(EdgeCli.Usage, badScope.Code);
        Assert.Contains("unknown scope 'moon'", badScope.Err);

        var badName = await RunAsync("--socket", Socket, "publish", "a_b", "c", "http://h/");
        Assert.Equal(EdgeCli.Refused, badName.Code);
        Assert.Contains("publisher 'a_b'", badName.Err);

        var noAgent = await RunAsync("--socket", _home.File("nobody.sock"), "list");
        Assert.Equal(EdgeCli.Unreachable, noAgent.Code);
    }
}
