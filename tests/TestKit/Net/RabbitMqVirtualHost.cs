using System.Diagnostics;
using Xunit;

namespace Trellis.TestKit.Net;

/// <summary>A virtual host of its own on the test broker, for tests that need what is one per broker in msgflo's
/// topology (the <c>fbp</c> discovery queue, consumed exclusively by one coordinator): made with rabbitmqctl on the
/// node the test script started (<c>TRELLIS_TEST_RABBITMQ_NODE</c>) and deleted on dispose.</summary>
public sealed class RabbitMqVirtualHost : IAsyncDisposable
{
    private const string BrokerVariable = "TRELLIS_TEST_RABBITMQ";
    private const string NodeVariable = "TRELLIS_TEST_RABBITMQ_NODE";
    private const string Ctl = "/usr/lib/rabbitmq/bin/rabbitmqctl";
    private readonly string? _node;

    private RabbitMqVirtualHost(string uri, string name, string? node)
    {
        Uri = uri;
        Name = name;
        _node = node;
    }

    /// <summary>The AMQP URI of the virtual host (what participants get as MSGFLO_BROKER).</summary>
    public string Uri { get; }

    public string Name { get; }

    /// <summary>Makes a virtual host named after <paramref name="what"/> with a unique suffix; skips the calling test when
    /// no broker is configured (the test script turns a skip into a failure). Without the node's directory (a broker
    /// started by hand), the broker's default virtual host is used as it is.</summary>
    public static async Task<RabbitMqVirtualHost> CreateAsync(string what)
    {
        var broker = Environment.GetEnvironmentVariable(BrokerVariable);
        if (string.IsNullOrWhiteSpace(broker))
        {
            Assert.Skip($"{BrokerVariable} not set; ./test.sh starts a broker");
        }

        var node = Environment.GetEnvironmentVariable(NodeVariable);
        if (string.IsNullOrWhiteSpace(node) || !File.Exists(Path.Combine(node, "node.env")))
        {
            return new RabbitMqVirtualHost(broker, "/", null);
        }

        var name = $"{what}-{Guid.NewGuid():N}"[..(what.Length + 9)];
        await CtlAsync(node, "add_vhost", name);
        await CtlAsync(node, "set_permissions", "-p", name, "guest", ".*", ".*", ".*");
        return new RabbitMqVirtualHost($"{broker.TrimEnd('/')}/{System.Uri.EscapeDataString(name)}", name, node);
    }

    public async ValueTask DisposeAsync()
    {
        if (_node is not null)
        {
            await CtlAsync(_node, "delete_vhost", Name);
        }
    }

    private static async Task CtlAsync(string node, params string[] args)
    {
        // rabbitmqctl must run with the node's environment (its HOME holds the Erlang cookie): load node.env in a shell.
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"set -a; . \"$0/node.env\"; set +a; exec {Ctl} -n \"$RABBITMQ_NODENAME\" -q \"$@\"");
        info.ArgumentList.Add(node);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start rabbitmqctl");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"rabbitmqctl {string.Join(' ', args)} did not finish within 60 s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }
}
