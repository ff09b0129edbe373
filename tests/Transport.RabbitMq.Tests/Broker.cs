using Microsoft.Extensions.Logging;
using Trellis.Core.Transport;
using Xunit;

namespace Trellis.Transport.RabbitMq.Tests;

/// <summary>The broker under test, named by <c>TRELLIS_TEST_RABBITMQ</c> (the test script starts one).</summary>
internal static class Broker
{
    public const string Variable = "TRELLIS_TEST_RABBITMQ";

    /// <summary>The broker's URI; skips the calling test when none is configured.</summary>
    public static Uri Uri
    {
        get
        {
            var uri = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrWhiteSpace(uri))
            {
                Assert.Skip($"{Variable} not set; ./test.sh starts a broker");
            }

            return new Uri(uri);
        }
    }

    /// <summary>A topology prefix no other test class or run shares.</summary>
    public static string NewPrefix(string what) => $"t.{what}.{Guid.NewGuid():N}"[..(what.Length + 15)];

    public static RabbitMqTransport Transport(string prefix, Action<RabbitMqOptions>? configure = null, Uri? uri = null, ILoggerFactory? loggers = null)
    {
        var options = new RabbitMqOptions { Uri = uri ?? Uri, Prefix = prefix, ConnectionName = $"test {prefix}" };
        configure?.Invoke(options);
        return new RabbitMqTransport(options, loggers);
    }

    public static Task<ITransport> ConnectAsync(string prefix) => Task.FromResult<ITransport>(Transport(prefix));
}
